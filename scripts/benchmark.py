#!/usr/bin/env python3
"""Pipeline figures, measured in one run on this machine (run with .venv/bin/python).

1. Raw OpenVINO inference of the bundled FastDepth (its own 224x224 float input, synchronous).
2. The same with the camera-to-model preprocessing in the graph (640x480 rgb8 in), and with
   the host (OpenCV) preprocessing instead: what each path adds.
3. Depth decoding, point-cloud projection/packing and PointCloud2 publication for 640x480.
4. Each node end to end: the node in its own process, a 640x480 rgb8 Image published from
   this process until its result arrives here, one frame at a time (depth_node with a
   subscriber on 'points', so it builds and publishes the cloud too), interleaved with blocks
   of raw inference of the same model so that both see the same machine load; their ratio.
"""

import argparse
import os
import platform
import statistics
import time

import numpy as np

from edge_perception.nodes.dds_profile import apply_large_message_profile

apply_large_message_profile()
os.environ.setdefault('ROS_AUTOMATIC_DISCOVERY_RANGE', 'LOCALHOST')

import rclpy  # noqa: E402
from sensor_msgs.msg import CameraInfo, Image, PointCloud2  # noqa: E402

from edge_perception.core.depth_geometry import PinholeIntrinsics  # noqa: E402
from edge_perception.core.engine import compile_model, create_core, load_model  # noqa: E402
from edge_perception.core.heads import DepthHead  # noqa: E402
from edge_perception.core.model_info import read_model_info  # noqa: E402
from edge_perception.core.openvino_compat import openvino_version  # noqa: E402
from edge_perception.core.preprocessing import (  # noqa: E402
    embed_preprocessing,
    HostPreprocessor,
    resolve_normalisation,
)
from edge_perception.messages import camera_info_msg, cloud_msg, header_msg, image_msg  # noqa: E402
from edge_perception.msg import Classification, InferenceTiming  # noqa: E402
from edge_perception.nodes import classifier_node, depth_node  # noqa: E402
from edge_perception.package_paths import shared_file  # noqa: E402
from edge_perception.replay.graph import ProbeGraph  # noqa: E402

WIDTH, HEIGHT = 640, 480


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
    normalisation = model_normalisation(core, model_path)
    host = HostPreprocessor(load_model(core, model_path), 'rgb8', normalisation)
    model_input = host(frame)
    graph = compile_model(core, embed_preprocessing(load_model(core, model_path), 'rgb8', HEIGHT,
                                                    WIDTH, normalisation), device)
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
    head = DepthHead()
    intrinsics = PinholeIntrinsics(525.0, 525.0, 319.5, 239.5, WIDTH, HEIGHT)
    outputs = [np.random.default_rng(1).uniform(0.5, 8.0, (1, 1, 224, 224)).astype(np.float32)]
    depth = head.depth(outputs, WIDTH, HEIGHT)
    publisher = node.create_publisher(PointCloud2, 'benchmark_points', 1)

    def build_and_publish():
        publisher.publish(cloud_msg(head.cloud(depth, intrinsics), header_msg(0)))

    return {
        'decode': timed(lambda: head.depth(outputs, WIDTH, HEIGHT), repeats)[0],
        'project_pack': timed(lambda: head.cloud(depth, intrinsics), repeats)[0],
        'build_publish': timed(build_and_publish, repeats)[0],
    }


def measure_node(command, parameters, output, frames, raw_inference, extra_outputs=()):
    """Node end to end, interleaved with blocks of ``raw_inference()``.

    :param output: ``(message type, topic)`` of the node's result.
    :return: end-to-end median and p90, raw inference median (ms), and the sample count.
    """
    end_to_end, raw = [], []
    with ProbeGraph('benchmark_probe') as graph:
        graph.start_process(command, **parameters)
        images = graph.publisher(Image, 'image')
        # As a camera driver does with every frame; not every node takes it.
        infos = graph.publisher(CameraInfo, 'camera_info', wait=False)
        results = graph.collect_by_stamp(*output)
        timings = graph.collect_by_stamp(InferenceTiming, 'inference_timing')
        for message_type, topic in extra_outputs:
            graph.subscribe(message_type, topic, lambda msg: None)
        image = image_msg(camera_frame(), 'rgb8')
        camera_info = camera_info_msg(PinholeIntrinsics(525.0, 525.0, 319.5, 239.5, WIDTH,
                                                        HEIGHT))

        def publish(stamp):
            """Publish the frame stamped ``stamp``; return when it was sent."""
            image.header = camera_info.header = header_msg(stamp)
            infos.publish(camera_info)
            sent = time.perf_counter()
            images.publish(image)
            return sent

        def warm_up_frame(attempt):
            publish(attempt + 1)
            return attempt + 1

        # The first frame compiles the model; the first few after it still run slower.
        stamp = graph.warm_up(warm_up_frame, lambda stamp: stamp in results, 60.0)
        first_measured = stamp + 10
        while len(end_to_end) < frames:
            raw.append(timed(raw_inference, 10, 2)[0])
            for _ in range(10):
                stamp += 1
                sent = publish(stamp)
                arrived = graph.wait_for(lambda wanted=stamp: wanted in results, 2.0)
                # The node publishes a frame's timing after all its outputs (the cloud too):
                # the next frame goes out once the node is done with this one.
                graph.wait_for(lambda wanted=stamp: wanted in timings, 2.0)
                if arrived and stamp > first_measured:
                    end_to_end.append((results[stamp].time_s - sent) * 1e3)
    return (statistics.median(end_to_end), float(np.percentile(end_to_end, 90)),
            statistics.median(raw), len(end_to_end))


def model_normalisation(core, model_path):
    """Return the normalisation the model's metadata states, as the nodes apply it."""
    return resolve_normalisation(read_model_info(load_model(core, model_path)))[0]


def raw_inference(model_path, device):
    """Return a function running one synchronous inference on the model's own input."""
    core = create_core()
    normalisation = model_normalisation(core, model_path)
    request = compile_model(core, load_model(core, model_path), device).create_infer_request()
    model_input = HostPreprocessor(load_model(core, model_path), 'rgb8', normalisation)(
        camera_frame())
    return lambda: request.infer({0: model_input})


def main():
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('--device', default='CPU')
    parser.add_argument('--repeats', type=int, default=200)
    parser.add_argument('--frames', type=int, default=100, help='frames through each node')
    args = parser.parse_args()
    depth_model = str(shared_file(*depth_node.BUNDLED_MODEL))
    digits_model = str(shared_file(*classifier_node.BUNDLED_MODEL))
    print(f'machine: {platform.processor() or platform.machine()}, {os.cpu_count()} cores, '
          f'Python {platform.python_version()}, OpenVINO {openvino_version()}, {args.device}')
    inference = measure_inference(depth_model, args.device, args.repeats)
    rclpy.init()
    node = rclpy.create_node('benchmark')
    cloud = measure_cloud(node, args.repeats)
    depth = measure_node('depth_node', {'device': args.device}, (Image, 'depth'),
                         args.frames, raw_inference(depth_model, args.device),
                         extra_outputs=((PointCloud2, 'points'),))
    digits = measure_node('classifier_node', {'device': args.device},
                          (Classification, 'classification'), args.frames,
                          raw_inference(digits_model, args.device))
    node.destroy_node()
    rclpy.shutdown()
    rows = [
        ('FastDepth raw inference, 1x3x224x224 f32', inference['raw']),
        ('  + in-graph preprocessing, 640x480 rgb8 in', inference['graph']),
        ('  in-graph preprocessing adds', inference['graph'] - inference['raw']),
        ('  + host (OpenCV) preprocessing', inference['host']),
        ('  host preprocessing alone', inference['host_preprocess']),
        ('depth decode (224x224 -> 640x480, range mask)', cloud['decode']),
        ('cloud project + pack, 640x480', cloud['project_pack']),
        ('cloud project + pack + PointCloud2 publish', cloud['build_publish']),
    ]
    for label, (end_to_end, p90, raw, samples) in (('depth_node', depth),
                                                   ('classifier_node', digits)):
        rows += [(f'{label} end to end, median of {samples} (p90 {p90:.2f})', end_to_end),
                 (f'{label} raw inference, interleaved', raw)]
    for label, value in rows:
        print(f'{label:<58} {value:8.2f} ms')
    for label, (end_to_end, _, raw, _) in (('depth_node', depth), ('classifier_node', digits)):
        print(f'{label + " end to end / raw inference":<58} {end_to_end / raw:8.2f} x')


if __name__ == '__main__':
    main()
