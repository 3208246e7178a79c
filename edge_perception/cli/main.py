"""``edge-perception``: the package's command-line tools, one subcommand each."""

import argparse
import sys

from edge_perception.cli import (
    benchmark,
    camera,
    convert,
    demo,
    monitor,
    profile,
    quantize,
    regress,
    replay,
    soak,
)
from edge_perception.core.engine import DeviceUnavailableError, ModelLoadError
from edge_perception.nodes.camera_node import CAMERA_START_ERRORS
from edge_perception.replay.node_config import ConfigError
from edge_perception.replay.scoring import RegressionError
from edge_perception.replay.session import ReplayError
from edge_perception.toolchain.labelled_frames import DataError
from edge_perception.toolchain.quantization import QuantizationError

SUBCOMMANDS = {
    'benchmark': (benchmark, 'latency and throughput of a model, beside other engines'),
    'camera': (camera, 'a webcam, video file or image folder as a ROS camera (image, '
                       'camera_info)'),
    'convert': (convert, 'ONNX, PyTorch or TensorFlow model -> OpenVINO IR, validated'),
    'demo': (demo, 'run a bundled model (depth or classifier) on its bundled recording'),
    'monitor': (monitor, 'web page of a running node: camera, depth, latency (aiohttp)'),
    'profile': (profile, 'per-layer time, precision and MFLOPs of a model on a device'),
    'quantize': (quantize, 'INT8 post-training quantisation (NNCF) and its accuracy'),
    'replay': (replay, 'play a camera bag through a configured node, record its outputs'),
    'regress': (regress, 'replay a bag in lockstep, score against ground truth and '
                                 'golden outputs'),
    'soak': (soak, 'overload a node for a bounded time: latency, drops, memory'),
}


def main(argv=None):
    """Parse the command line and run one subcommand; return its exit code."""
    parser = argparse.ArgumentParser(prog='edge-perception', description=__doc__)
    subcommands = parser.add_subparsers(dest='subcommand', required=True)
    for name, (module, summary) in SUBCOMMANDS.items():
        module.add_arguments(subcommands.add_parser(name, help=summary, description=summary))
    args = parser.parse_args(sys.argv[1:] if argv is None else argv)
    module, _ = SUBCOMMANDS[args.subcommand]
    try:
        return module.run(args)
    except (DeviceUnavailableError, ModelLoadError, DataError, QuantizationError, ConfigError,
            RegressionError, ReplayError, *CAMERA_START_ERRORS) as error:
        print(f'edge-perception {args.subcommand}: {error}', file=sys.stderr)
        return 1
