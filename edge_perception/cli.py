"""``edge-perception``: the package's command-line tools, one subcommand each."""

import argparse
import sys

from . import benchmark_command, convert_command, demo, profile_command, quantize_command, \
    regress_command, replay_command, soak_command
from .engine import DeviceUnavailableError, ModelLoadError
from .labelled_frames import DataError
from .node_config import ConfigError
from .quantization import QuantizationError
from .regression import RegressionError
from .replay import ReplayError

SUBCOMMANDS = {
    'benchmark': (benchmark_command, 'latency and throughput of a model, beside other engines'),
    'convert': (convert_command, 'ONNX, PyTorch or TensorFlow model -> OpenVINO IR, validated'),
    'demo': (demo, 'run a bundled model (depth or classifier) on its bundled recording'),
    'profile': (profile_command, 'per-layer time, precision and MFLOPs of a model on a device'),
    'quantize': (quantize_command, 'INT8 post-training quantisation (NNCF) and its accuracy'),
    'replay': (replay_command, 'play a camera bag through a configured node, record its outputs'),
    'regress': (regress_command, 'replay a bag in lockstep, score against ground truth and '
                                 'golden outputs'),
    'soak': (soak_command, 'overload a node for a bounded time: latency, drops, memory'),
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
            RegressionError, ReplayError) as error:
        print(f'edge-perception {args.subcommand}: {error}', file=sys.stderr)
        return 1
