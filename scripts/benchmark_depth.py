#!/usr/bin/env python3
"""Depth pipeline figures, measured in one run on this machine (run with .venv/bin/python).

1. Raw OpenVINO inference of the model (its own 224x224 float input, synchronous).
2. The same with the camera-to-model preprocessing in the graph (640x480 rgb8 in), and with
   the host (OpenCV) preprocessing instead: what each path adds.
3. Depth decoding, point-cloud projection/packing and PointCloud2 publication for 640x480.
4. The node end to end: depth_node in its own process, an Image published from this process,
   until the depth image arrives here, one frame at a time, with a subscriber on 'points' so
   the node builds and publishes the cloud too; and its ratio to (1).
"""

import argparse
import os
import platform
import statistics
import time

import numpy as np

from edge_perception.dds_profile import apply_large_message_profile

apply_large_message_profile()
os.environ.setdefault('ROS_AUTOMATIC_DISCOVERY_RANGE', 'LOCALHOST')

import rclpy  # noqa: E402
from rclpy.qos import QoSProfile, QoSReliabilityPolicy, qos_profile_sensor_data  # noqa: E402
from sensor_msgs.msg import CameraInfo, Image, PointCloud2, PointField  # noqa: E402

from edge_perception.depth_geometry import (DepthDecoder, PinholeIntrinsics,  # noqa: E402
                                            PointProjector)
from edge_perception.depth_node import BUNDLED_MODEL, IMAGENET_MEAN, IMAGENET_SCALE  # noqa: E402
from edge_perception.engine import compile_model, create_core, load_model  # noqa: E402
from edge_perception.image_codec import array_to_image_fields  # noqa: E402
from edge_perception.node_process import NodeProcess  # noqa: E402
from edge_perception.openvino_compat import openvino_version  # noqa: E402
from edge_perception.package_paths import shared_file  # noqa: E402
from edge_perception.pointcloud_layout import CloudPacker  # noqa: E402
from edge_perception.preprocessing import (embed_preprocessing, HostPreprocessor,  # noqa: E402
                                           Normalisation)

WIDTH, HEIGHT = 640, 480
NORMALISATION = Normalisation(IMAGENET_MEAN, IMAGENET_SCALE, 'RGB')


def timed(function, repeats, warmup=10):
    """Return the median and 90th percentile of ``function()`` wall time, in milliseconds."""
    for _ in range(warmup):
        function()
    samples = []
    for _ in range(repeats):
        started = time.perf_counter()
        function()
        samples.append((time.perf_counter() - started) * 1e3)
    return statistics.median(samples), float(np.percentile(samples, 90))


def camera_frame():
    rng = np.random.default_rng(0)
    return rng.integers(0, 255, (HEIGHT, WIDTH, 3), dtype=np.uint8)


def measure_inference(model_path, device, repeats):
    core = create_core()
    frame = camera_frame()
    raw = compile_model(core, load_model(core, model_path), device)
    raw_request = raw.create_infer_request()
    host = HostPreprocessor(load_model(core, model_path), 'rgb8', NORMALISATION)
    model_input = host(frame)
    graph = compile_model(core, embed_preprocessing(load_model(core, model_path), 'rgb8', HEIGHT,
                                                    WIDTH, NORMALISATION), device)
    graph_request = graph.create_infer_request()
    camera_input = frame.reshape(1, HEIGHT, WIDTH, 3)
    # Interleaved rounds, so that drift in machine load hits every variant alike.
    results = {'raw': [], 'graph': [], 'host_preprocess': [], 'host': []}
    for _ in range(repeats // 10):
        results['raw'].append(timed(lambda: raw_request.infer({0: model_input}), 10, 2)[0])
        results['graph'].append(timed(lambda: graph_request.infer({0: camera_input}), 10, 2)[0])
        results['host_preprocess'].append(timed(lambda: host(frame), 10, 2)[0])
        results['host'].append(timed(lambda: raw_request.infer({0: host(frame)}), 10, 2)[0])
    return {name: statistics.median(values) for name, values in results.items()}


def measure_cloud(node, repeats):
    decoder = DepthDecoder()
    projector = PointProjector()
    intrinsics = PinholeIntrinsics(525.0, 525.0, 319.5, 239.5, WIDTH, HEIGHT)
    output = np.random.default_rng(1).uniform(0.5, 8.0, (1, 1, 224, 224)).astype(np.float32)
    depth = decoder.decode(output, WIDTH, HEIGHT)
    publisher = node.create_publisher(PointCloud2, 'benchmark_points', 1)
    packer = CloudPacker()

    def project_and_pack():
        projector.project(depth, intrinsics, out=packer.xyz_buffer(HEIGHT, WIDTH))
        return packer.pack()

    def build_and_publish():
        cloud = project_and_pack()
        msg = PointCloud2()
        msg.height, msg.width = cloud.height, cloud.width
        msg.fields = [PointField(name=field.name, offset=field.offset, datatype=field.datatype,
                                 count=field.count) for field in cloud.fields]
        msg.point_step, msg.row_step, msg.data = cloud.point_step, cloud.row_step, cloud.data
        publisher.publish(msg)

    return {
        'decode': timed(lambda: decoder.decode(output, WIDTH, HEIGHT), repeats)[0],
        'project_pack': timed(project_and_pack, repeats)[0],
        'build_publish': timed(build_and_publish, repeats)[0],
    }


def measure_node(node, model_path, device, frames, raw_inference):
    """Node end to end, interleaved with blocks of ``raw_inference()`` so both see the same
    machine load; return the two medians (ms), the end-to-end p90 and the sample count.
    """
    executor = rclpy.executors.SingleThreadedExecutor(context=node.context)
    executor.add_node(node)
    publisher = node.create_publisher(Image, 'image', qos_profile_sensor_data)
    arrivals = {}
    reliable = QoSProfile(depth=5, reliability=QoSReliabilityPolicy.RELIABLE)
    node.create_subscription(Image, 'depth', lambda msg: arrivals.setdefault(
        msg.header.stamp.nanosec, time.perf_counter()), reliable)
    node.create_subscription(PointCloud2, 'points', lambda msg: None, reliable)
    info_publisher = node.create_publisher(CameraInfo, 'benchmark_camera_info', 1)
    image = Image()
    image.encoding = 'rgb8'
    image.height, image.width, image.step, image.is_bigendian, image.data = \
        array_to_image_fields(camera_frame(), 'rgb8')
    parameters = {'device': device}
    if model_path:
        parameters['model'] = model_path
    end_to_end, raw = [], []
    with NodeProcess('depth_node', parameters, {'camera_info': 'benchmark_camera_info'}) as proc:
        spin_until(executor, lambda: publisher.get_subscription_count() > 0
                   and info_publisher.get_subscription_count() > 0
                   and node.count_publishers('depth') > 0, 30.0)
        info_publisher.publish(CameraInfo(
            width=WIDTH, height=HEIGHT, k=[525.0, 0.0, 319.5, 0.0, 525.0, 239.5, 0.0, 0.0, 1.0]))
        stamp = 0
        while len(end_to_end) < frames:
            raw.append(timed(raw_inference, 10, 2)[0])
            for _ in range(10):
                stamp += 1
                image.header.stamp.nanosec = stamp
                sent = time.perf_counter()
                publisher.publish(image)
                arrived = spin_until(executor, lambda wanted=stamp: wanted in arrivals, 2.0)
                if arrived and stamp > 10:  # the first frames compile and warm up
                    end_to_end.append((arrivals[stamp] - sent) * 1e3)
                # Let the node finish the cloud before the next frame, as at a camera's pace.
                spin_until(executor, lambda: False, 0.02)
        proc.stop()
    return (statistics.median(end_to_end), float(np.percentile(end_to_end, 90)),
            statistics.median(raw), len(end_to_end))


def spin_until(executor, predicate, timeout_s):
    deadline = time.perf_counter() + timeout_s
    while not predicate():
        remaining = deadline - time.perf_counter()
        if remaining <= 0:
            return False
        executor.spin_once(timeout_sec=min(remaining, 0.002))
    return True


def main():
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('--model', default='', help='model file (default: bundled FastDepth)')
    parser.add_argument('--device', default='CPU')
    parser.add_argument('--repeats', type=int, default=200)
    parser.add_argument('--frames', type=int, default=100, help='frames through the node')
    args = parser.parse_args()
    model_path = args.model or str(shared_file(*BUNDLED_MODEL))
    print(f'machine: {platform.processor() or platform.machine()}, {os.cpu_count()} cores, '
          f'Python {platform.python_version()}, OpenVINO {openvino_version()}')
    print(f'model: {model_path} on {args.device}')
    inference = measure_inference(model_path, args.device, args.repeats)
    rclpy.init()
    node = rclpy.create_node('depth_benchmark')
    cloud = measure_cloud(node, args.repeats)
    core = create_core()
    request = compile_model(core, load_model(core, model_path), args.device).create_infer_request()
    model_input = HostPreprocessor(load_model(core, model_path), 'rgb8', NORMALISATION)(
        camera_frame())
    end_to_end, end_to_end_p90, raw, samples = measure_node(
        node, args.model, args.device, args.frames, lambda: request.infer({0: model_input}))
    node.destroy_node()
    rclpy.shutdown()
    rows = [
        ('raw inference, 1x3x224x224 f32', inference['raw']),
        ('inference + in-graph preprocessing, 640x480 rgb8', inference['graph']),
        ('  in-graph preprocessing adds', inference['graph'] - inference['raw']),
        ('inference + host (OpenCV) preprocessing', inference['host']),
        ('  host preprocessing alone', inference['host_preprocess']),
        ('depth decode (224->640x480, range mask)', cloud['decode']),
        ('cloud project + pack, 640x480', cloud['project_pack']),
        ('cloud project + pack + PointCloud2 publish', cloud['build_publish']),
        (f'node end to end, median of {samples} (p90 {end_to_end_p90:.2f})', end_to_end),
        ('raw inference, interleaved with the end-to-end frames', raw),
    ]
    for label, value in rows:
        print(f'{label:<58} {value:8.2f} ms')
    print(f'{"end to end / raw inference (interleaved)":<58} {end_to_end / raw:8.2f} x')


if __name__ == '__main__':
    main()
