#!/usr/bin/env python3
"""Cross-process delivery of 640x480 frames with and without the bundled Fast DDS profile.

A depth_node process running a trivial model (depth = a constant) relays each 640x480 rgb8
image (0.9 MB) back as a 640x480 32FC1 depth image (1.2 MB). This process publishes at 30 Hz
and counts what returns, for each combination of: QoS (best effort / reliable) and which
processes use config/fastdds_large_messages.xml (both / neither). Run with .venv/bin/python.
"""

import os
from pathlib import Path
import statistics
import sys
import tempfile
import time

import numpy as np

FRAMES = 90
RATE_HZ = 30.0


def run_case(profile, reliable, model):
    """Publish FRAMES images through a depth_node process; return (received, median ms)."""
    from rclpy.qos import QoSProfile, QoSReliabilityPolicy
    from sensor_msgs.msg import Image

    from edge_perception.messages import header_msg, image_msg
    from edge_perception.replay.graph import GraphError, ProbeGraph

    policy = QoSReliabilityPolicy.RELIABLE if reliable else QoSReliabilityPolicy.BEST_EFFORT
    reliability = 'reliable' if reliable else 'best_effort'
    sent = {}
    with ProbeGraph('dds_transport_probe') as graph:
        graph.start_process('depth_node', model=model, publish_points=False, **{
            'qos_overrides./depth.publisher.reliability': reliability})
        images = graph.publisher(Image, 'image', QoSProfile(depth=1, reliability=policy))
        returned = graph.collect_by_stamp(Image, 'depth', QoSProfile(depth=10,
                                                                     reliability=policy))
        image = image_msg(np.zeros((480, 640, 3), np.uint8), 'rgb8')

        def publish(stamp):
            image.header = header_msg(stamp)
            sent[stamp] = time.perf_counter()
            images.publish(image)
            return stamp

        # Warm up: the first frame that arrives compiles the model. Without the profile,
        # best-effort images never arrive at all: then the count below says so.
        try:
            graph.warm_up(lambda attempt: publish(0), lambda stamp: stamp in returned, 20.0,
                          retry_s=0.2)
        except GraphError as error:
            print(error, file=sys.stderr)
        returned.clear()
        started = time.perf_counter()
        for index in range(1, FRAMES + 1):
            publish(index)
            graph.spin_for(started + index / RATE_HZ - time.perf_counter())
        graph.wait_for(lambda: all(index in returned for index in range(1, FRAMES + 1)), 1.0)
    received = [(returned[stamp].time_s - sent[stamp]) * 1e3 for stamp in returned if stamp > 0]
    return len(received), statistics.median(received) if received else float('nan')


def main():
    if len(sys.argv) == 5:  # one case, in a fresh process so the DDS profile applies
        received, median = run_case(sys.argv[1], sys.argv[2] == 'reliable', sys.argv[3])
        Path(sys.argv[4]).write_text(f'{received} {median}')
        return
    import subprocess

    from edge_perception.nodes.dds_profile import (
        localhost_discovery,
        PROFILE_FILE,
        PROFILE_VARIABLES,
    )
    from edge_perception.package_paths import shared_file
    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / 'test'))
    from tiny_models import constant_depth_model, write_model

    workdir = Path(tempfile.mkdtemp())
    model = write_model(constant_depth_model(224, 224, 2.0), workdir, 'constant')
    no_profile = workdir / 'fast_dds_defaults.xml'
    no_profile.write_text('<?xml version="1.0"?><dds xmlns="http://www.eprosima.com"/>\n')
    profiles = {'both processes': str(shared_file(*PROFILE_FILE)),
                'neither (Fast DDS defaults)': str(no_profile)}
    print(f'{FRAMES} frames of 640x480 rgb8 at {RATE_HZ:.0f} Hz, relayed as 640x480 32FC1')
    print(f'{"profile":<30}{"QoS":<14}{"delivered":>12}{"median ms":>12}')
    for label, profile in profiles.items():
        for reliability in ('best_effort', 'reliable'):
            result = workdir / 'result.txt'
            environment = dict(os.environ, **dict.fromkeys(PROFILE_VARIABLES, profile),
                               **localhost_discovery())
            subprocess.run([sys.executable, __file__, profile, reliability, str(model),
                            str(result)], env=environment, check=True,
                           stdout=subprocess.DEVNULL)
            received, median = result.read_text().split()
            print(f'{label:<30}{reliability:<14}{received + "/" + str(FRAMES):>12}'
                  f'{float(median):>12.1f}')


if __name__ == '__main__':
    main()
