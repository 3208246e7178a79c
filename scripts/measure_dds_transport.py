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
    import rclpy
    from rclpy.qos import QoSProfile, QoSReliabilityPolicy
    from sensor_msgs.msg import Image

    from edge_perception.core.image_codec import array_to_image_fields
    from edge_perception.replay.node_process import NodeProcess

    policy = QoSReliabilityPolicy.RELIABLE if reliable else QoSReliabilityPolicy.BEST_EFFORT
    qos = QoSProfile(depth=1, reliability=policy)
    rclpy.init()
    node = rclpy.create_node('dds_transport_probe')
    publisher = node.create_publisher(Image, 'image', qos)
    latencies = {}
    node.create_subscription(Image, 'depth', lambda msg: latencies.setdefault(
        msg.header.stamp.nanosec, (time.perf_counter() - sent[msg.header.stamp.nanosec]) * 1e3),
        QoSProfile(depth=10, reliability=policy))
    sent = {}
    image = Image(encoding='rgb8')
    image.height, image.width, image.step, image.is_bigendian, image.data = \
        array_to_image_fields(np.zeros((480, 640, 3), np.uint8), 'rgb8')
    reliability = 'reliable' if reliable else 'best_effort'
    with NodeProcess('depth_node', {
            'model': model, 'publish_points': False,
            'qos_overrides./depth.publisher.reliability': reliability}) as relay:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and not (publisher.get_subscription_count() and
                                                   node.count_publishers('depth')):
            rclpy.spin_once(node, timeout_sec=0.05)
        # Warm up: the first frame that arrives compiles the model (best effort may lose some).
        warm_up = time.monotonic() + 20
        while not latencies and time.monotonic() < warm_up:
            image.header.stamp.nanosec = 0
            sent[0] = time.perf_counter()
            publisher.publish(image)
            rclpy.spin_once(node, timeout_sec=0.2)
        latencies.clear()
        started = time.perf_counter()
        for index in range(1, FRAMES + 1):
            image.header.stamp.nanosec = index
            sent[index] = time.perf_counter()
            publisher.publish(image)
            while time.perf_counter() < started + index / RATE_HZ:
                rclpy.spin_once(node, timeout_sec=0.002)
        end = time.perf_counter() + 1.0
        while time.perf_counter() < end:
            rclpy.spin_once(node, timeout_sec=0.01)
        relay.stop()
    node.destroy_node()
    rclpy.shutdown()
    received = [value for stamp, value in latencies.items() if stamp > 0]
    return len(received), statistics.median(received) if received else float('nan')


def main():
    if len(sys.argv) == 5:  # one case, in a fresh process so the DDS profile applies
        received, median = run_case(sys.argv[1], sys.argv[2] == 'reliable', sys.argv[3])
        Path(sys.argv[4]).write_text(f'{received} {median}')
        return
    import subprocess

    from edge_perception.nodes.dds_profile import PROFILE_FILE
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
            environment = dict(os.environ, FASTDDS_DEFAULT_PROFILES_FILE=profile,
                               ROS_AUTOMATIC_DISCOVERY_RANGE='LOCALHOST')
            subprocess.run([sys.executable, __file__, profile, reliability, str(model),
                            str(result)], env=environment, check=True,
                           stdout=subprocess.DEVNULL)
            received, median = result.read_text().split()
            print(f'{label:<30}{reliability:<14}{received + "/" + str(FRAMES):>12}'
                  f'{float(median):>12.1f}')


if __name__ == '__main__':
    main()
