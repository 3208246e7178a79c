#!/usr/bin/env python3
"""Pipeline figures, measured in one run on this machine (run with .venv/bin/python).

1. Raw OpenVINO inference of the bundled FastDepth (its own 224x224 float input, synchronous).
2. The same with the camera-to-model preprocessing in the graph (640x480 rgb8 in), and with
   the host (OpenCV) preprocessing instead: what each path adds.
3. Depth decoding, point-cloud projection/packing and PointCloud2 publication for 640x480.
4. Each node end to end against the transport floor: the node in its own process and
   stand_in_node (same topics, QoS and message sizes, no work) in another, a 640x480 rgb8
   Image published from this process until all its results arrive here, one frame at a time,
   in interleaved blocks of 10 frames (with blocks of raw inference between them, so that all
   see the same machine load). Reported: end to end, the node's own inference_ms, the
   difference (overhead) for the node and for the stand-in, and CPU time per frame from
   /proc/<pid>/stat. depth_node with and without a subscriber on 'points'.
5. Throughput: each node fed at increasing rates until under 99 % of the frames come back,
   counted by the results received here and by the node's own frames_processed, with the
   node's CPU load in % of one core (the first rate, 30 Hz, is a camera's).
"""

import argparse
import os
from pathlib import Path
import platform
import statistics
import struct
import time

import numpy as np

from edge_perception.nodes.dds_profile import apply_large_message_profile, localhost_discovery

apply_large_message_profile()
for variable, value in localhost_discovery().items():
    os.environ.setdefault(variable, value)

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
from edge_perception.replay.graph import ProbeGraph, RELIABLE  # noqa: E402
from edge_perception.toolchain.benchmarking import call_times_ms as timed  # noqa: E402

WIDTH, HEIGHT = 640, 480


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


class NodeUnderTest:
    """A node process in a namespace of its own, fed and read by the benchmark's probe.

    :param command: installed node command (``depth_node``, ``classifier_node``,
        ``stand_in_node``).
    :param namespace: e.g. ``'/real'``; every topic of the node lives under it.
    :param result: ``(message type, relative topic)`` of the node's result.
    """

    def __init__(self, graph, command, namespace, parameters, result, with_points):
        self.graph = graph
        self.label = command
        self.process = graph.start_process(command, {'__ns': namespace}, **parameters)
        self.images = graph.publisher(Image, f'{namespace}/image')
        # As a camera driver does with every frame; not every node takes it.
        self.infos = graph.publisher(CameraInfo, f'{namespace}/camera_info', wait=False)
        self.results = {}
        self._result_type, self._result_topic = result
        graph.probe.create_subscription(self._result_type, f'{namespace}/{self._result_topic}',
                                        self._on_result, RELIABLE, raw=True)
        self.timings = graph.collect_by_stamp(InferenceTiming, f'{namespace}/inference_timing')
        self.points = None
        if with_points:
            self.points = {}
            graph.probe.create_subscription(PointCloud2, f'{namespace}/points',
                                            self._on_points, RELIABLE, raw=True)
        self.image = image_msg(camera_frame(), 'rgb8')
        self.camera_info = camera_info_msg(PinholeIntrinsics(525.0, 525.0, 319.5, 239.5,
                                                             WIDTH, HEIGHT))

    def _on_result(self, serialized):
        # Serialised (raw) messages: the probe does not turn a 1.2 MB image into Python
        # objects, so it takes less of the CPU the node needs. The header stamp comes first.
        self.results[cdr_stamp_ns(serialized)] = time.perf_counter()

    def _on_points(self, serialized):
        self.points[cdr_stamp_ns(serialized)] = time.perf_counter()

    def publish(self, stamp):
        """Publish the frame stamped ``stamp`` (ns); return when it was sent."""
        self.image.header = self.camera_info.header = header_msg(stamp)
        self.infos.publish(self.camera_info)
        sent = time.perf_counter()
        self.images.publish(self.image)
        return sent

    def done(self, stamp):
        """Whether every output of the frame ``stamp`` has arrived (the timing comes last)."""
        return stamp in self.timings and stamp in self.results and \
            (self.points is None or stamp in self.points)

    def cpu_seconds(self):
        """User + system CPU time the node process has used so far."""
        fields = Path(f'/proc/{self.process.process.pid}/stat').read_text().rsplit(')', 1)[1]
        utime, stime = (int(value) for value in fields.split()[11:13])
        return (utime + stime) / os.sysconf('SC_CLK_TCK')


def cdr_stamp_ns(serialized):
    """Return the header stamp of a serialised message that starts with a ``std_msgs/Header``."""
    sec, nanosec = struct.unpack_from('<iI', serialized, 4)  # after the CDR encapsulation
    return sec * 1_000_000_000 + nanosec


def measure_sequential(targets, frames, raw_inference):
    """One frame at a time through each target, in interleaved blocks of 10 frames, with a
    block of raw inference between rounds.

    :return: per target: end-to-end ms, the node's own inference_ms, their difference (the
        overhead), CPU ms per frame; and the raw inference ms.
    """
    stamp = 0
    for target in targets:  # the first frame compiles the model; the next few still run slower
        first = stamp + 1

        def warm_up_frame(attempt, target=target, first=first):
            target.publish(first + attempt)
            return first + attempt

        stamp = target.graph.warm_up(warm_up_frame, target.done, 60.0) + 10
        for _ in range(10):
            stamp += 1
            target.publish(stamp)
            target.graph.wait_for(lambda target=target, stamp=stamp: target.done(stamp), 2.0)
    samples = {target.label: {'end_to_end': [], 'inference': [], 'overhead': [], 'cpu': 0.0,
                              'frames': 0} for target in targets}
    raw = []
    while min(len(sample['end_to_end']) for sample in samples.values()) < frames:
        raw.append(timed(raw_inference, 10, 2)[0])
        for target in targets:
            sample = samples[target.label]
            cpu = target.cpu_seconds()
            for _ in range(10):
                stamp += 1
                sent = target.publish(stamp)
                if not target.graph.wait_for(
                        lambda target=target, stamp=stamp: target.done(stamp), 2.0):
                    continue
                end_to_end = (target.results[stamp] - sent) * 1e3
                inference = target.timings[stamp].message.inference_ms
                sample['end_to_end'].append(end_to_end)
                sample['inference'].append(inference)
                sample['overhead'].append(end_to_end - inference)
                sample['frames'] += 1
            sample['cpu'] += target.cpu_seconds() - cpu
    figures = {label: {'end_to_end': statistics.median(sample['end_to_end']),
                       'p90': float(np.percentile(sample['end_to_end'], 90)),
                       'inference': statistics.median(sample['inference']),
                       'overhead': statistics.median(sample['overhead']),
                       'cpu_ms': sample['cpu'] * 1e3 / sample['frames'],
                       'frames': sample['frames']}
               for label, sample in samples.items()}
    return figures, statistics.median(raw)


def measure_rate(target, rate_hz, seconds):
    """Publish at ``rate_hz`` for ``seconds``; return the share of frames whose result (and
    cloud, when subscribed) arrived, the node's own count of frames processed, the rate of
    results, and the node's CPU load in % of one core.
    """
    graph = target.graph
    first_processed = target.timings[max(target.timings)].message.frames_processed
    start_stamp = max(target.timings) + 1
    count = int(rate_hz * seconds)
    cpu = target.cpu_seconds()
    started = time.perf_counter()
    for index in range(count):
        target.publish(start_stamp + index)
        graph.spin_for(started + (index + 1) / rate_hz - time.perf_counter())
    wall_s = time.perf_counter() - started
    load = (target.cpu_seconds() - cpu) / wall_s * 100.0
    last = start_stamp + count - 1
    graph.wait_for(lambda: max(target.timings) >= last, 2.0)
    graph.spin_for(0.2)
    stamps = range(start_stamp, start_stamp + count)
    delivered = sum(1 for stamp in stamps if stamp in target.results and
                    (target.points is None or stamp in target.points))
    processed = target.timings[max(target.timings)].message.frames_processed - first_processed
    return delivered / count, processed / count, delivered / wall_s, load


def measure_throughput(target, rates, seconds):
    """Return :func:`measure_rate` at each rate in turn, until one delivers under 99 %."""
    rows = []
    for rate_hz in rates:
        rows.append((rate_hz, *measure_rate(target, rate_hz, seconds)))
        if rows[-1][1] < 0.99:
            break
    return rows


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
    parser.add_argument('--rates', type=float, nargs='+',
                        default=[30, 60, 100, 150, 200, 250, 300],
                        help='input rates (Hz) tried for throughput, until one loses frames')
    parser.add_argument('--seconds', type=float, default=3.0, help='seconds at each rate')
    parser.add_argument('--baseline', metavar='COMMAND',
                        help='path of another installed depth_node/classifier_node command (e.g. '
                             'from a checkout of an earlier commit, built with its own '
                             'scripts/setup.sh) measured in the same interleaved run: '
                             'before/after figures from one run')
    args = parser.parse_args()
    depth_model = str(shared_file(*depth_node.BUNDLED_MODEL))
    digits_model = str(shared_file(*classifier_node.BUNDLED_MODEL))
    print(f'machine: {platform.processor() or platform.machine()}, {os.cpu_count()} cores, '
          f'Python {platform.python_version()}, OpenVINO {openvino_version()}, {args.device}')
    inference = measure_inference(depth_model, args.device, args.repeats)
    rclpy.init()
    node = rclpy.create_node('benchmark')
    cloud = measure_cloud(node, args.repeats)
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
    for label, value in rows:
        print(f'{label:<58} {value:8.2f} ms')

    comparisons = (
        ('depth_node, depth + cloud', 'depth_node', (Image, 'depth'), True, depth_model),
        ('depth_node, depth only', 'depth_node', (Image, 'depth'), False, depth_model),
        ('classifier_node', 'classifier_node', (Classification, 'classification'), False,
         digits_model),
    )
    print('\nend to end = image published here -> result received here (640x480 rgb8, the '
          'node in its own process);\noverhead = end to end - the inference_ms the node '
          'reports; stand-in = stand_in_node (same topics and message sizes, no work)')
    header = (f"{'':<28}{'end to end':>11}{'p90':>8}{'inference':>10}{'overhead':>10}"
              f"{'CPU/frame':>10}")
    throughput_rows = []
    for label, command, result, with_points, model in comparisons:
        run_inference = raw_inference(model, args.device)
        work_ms = round(timed(run_inference, 50)[0], 1)
        with ProbeGraph('benchmark_probe') as graph:
            real = NodeUnderTest(graph, command, '/real', {'device': args.device}, result,
                                 with_points)
            stand_in = NodeUnderTest(graph, 'stand_in_node', '/floor',
                                     {'work_ms': work_ms, 'result': result[1]}, result,
                                     with_points)
            stand_in.label = 'stand-in'
            targets = [real, stand_in]
            if args.baseline:
                baseline = NodeUnderTest(graph, str(Path(args.baseline).parent / command),
                                         '/baseline', {'device': args.device}, result,
                                         with_points)
                baseline.label = 'baseline'
                targets.insert(1, baseline)
            figures, raw = measure_sequential(targets, args.frames, run_inference)
            for target in targets:
                throughput_rows += [(label, target.label, *row) for row in
                                    measure_throughput(target, args.rates, args.seconds)]
        print(f'\n{label} (raw inference interleaved: {raw:.2f} ms; stand-in waits '
              f'{work_ms} ms)\n{header}')
        for name, figure in figures.items():
            print(f"{name:<28}{figure['end_to_end']:>8.2f} ms{figure['p90']:>8.2f}"
                  f"{figure['inference']:>10.2f}{figure['overhead']:>10.2f}"
                  f"{figure['cpu_ms']:>7.2f} ms")
        excess = figures[command]['overhead'] - figures['stand-in']['overhead']
        print(f"{'node overhead - stand-in overhead':<46}{excess:>+10.2f} ms")

    print(f"\nthroughput ({args.seconds:g} s at each rate until one delivers < 99 %):\n"
          f"{'':<28}{'node':<16}{'rate Hz':>8}{'delivered':>10}{'processed':>10}"
          f"{'results/s':>10}{'CPU %':>7}")
    for label, name, rate_hz, delivered, processed, results_per_s, load in throughput_rows:
        print(f'{label:<28}{name:<16}{rate_hz:>8g}{delivered:>9.1%}{processed:>10.1%}'
              f'{results_per_s:>10.1f}{load:>7.0f}')


if __name__ == '__main__':
    main()
