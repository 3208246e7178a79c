"""``edge-perception demo``: the bundled FastDepth on the bundled camera recording.

Starts ``depth_node`` in its own process (as ``ros2 run`` would), replays the recording into
it at its recorded rate, prints frame rate and latency, scores the depth against the
recording's ground truth and writes a few colour-mapped depth images as PNG.
"""

import itertools
from pathlib import Path
import statistics
import time

import cv2
import numpy as np
import rclpy
from rclpy.qos import QoSProfile, QoSReliabilityPolicy
from sensor_msgs.msg import Image, PointCloud2

from edge_perception.msg import InferenceTiming
from .bag_player import FramePublisher, read_frames
from .dds_profile import apply_large_message_profile
from .depth_geometry import depth_in_metres
from .image_codec import as_rgb8, image_to_array
from .metrics import compute_depth_metrics
from .node_process import NodeProcess
from .package_paths import shared_file
from .visualisation import colorize_depth, labelled

DEMO_BAG = ('data', 'demo_depth_bag')
IMAGE_TOPIC = '/camera/image_raw'
CAMERA_INFO_TOPIC = '/camera/camera_info'
GROUND_TRUTH_TOPIC = '/camera/depth/ground_truth'
DISCOVERY_TIMEOUT_S = 30.0


def add_arguments(parser):
    """Add the demo's options to an argparse parser."""
    parser.add_argument('--bag', default=str(shared_file(*DEMO_BAG)),
                        help='rosbag2 directory with %(default)s-like topics '
                             f'{IMAGE_TOPIC}, {CAMERA_INFO_TOPIC}, {GROUND_TRUTH_TOPIC}')
    parser.add_argument('--model', default='', help='model file; default: bundled FastDepth')
    parser.add_argument('--device', default='CPU', help='OpenVINO device (default: %(default)s)')
    parser.add_argument('--preprocessing', default='auto', choices=('graph', 'host', 'auto'))
    parser.add_argument('--loops', type=int, default=3, help='times to play the recording')
    parser.add_argument('--rate', type=float, default=1.0,
                        help='playback speed relative to the recording (default: %(default)s)')
    parser.add_argument('--output-dir', default='depth_demo',
                        help='where the PNGs go (default: %(default)s)')
    parser.add_argument('--pngs', type=int, default=4, help='PNG images to write')


def run(args):
    """Run the demo; return the process exit code."""
    apply_large_message_profile()
    frames, types = read_frames(args.bag, {IMAGE_TOPIC, CAMERA_INFO_TOPIC, GROUND_TRUTH_TOPIC})
    frames = [frame for frame in frames if IMAGE_TOPIC in frame.messages]
    if not frames:
        print(f'no {IMAGE_TOPIC} messages in {args.bag}')
        return 1
    print(f'{len(frames)} frames from {args.bag}')
    context = rclpy.Context()
    rclpy.init(context=context)
    node = rclpy.create_node('edge_perception_demo', context=context)
    try:
        return _run_with_node(args, node, frames, types)
    finally:
        node.destroy_node()
        rclpy.shutdown(context=context)


def _run_with_node(args, node, frames, types):
    executor = rclpy.executors.SingleThreadedExecutor(context=node.context)
    executor.add_node(node)
    camera_types = {topic: types[topic] for topic in (IMAGE_TOPIC, CAMERA_INFO_TOPIC)
                    if topic in types}
    publisher = FramePublisher(node, camera_types, {IMAGE_TOPIC: 'image',
                                                    CAMERA_INFO_TOPIC: 'camera_info'})
    received = {}
    timings = {}
    reliable = QoSProfile(depth=10, reliability=QoSReliabilityPolicy.RELIABLE)
    node.create_subscription(Image, 'depth', lambda msg: received.setdefault(
        _stamp_ns(msg.header), (time.perf_counter(), msg)), reliable)
    node.create_subscription(InferenceTiming, 'inference_timing',
                             lambda msg: timings.setdefault(_stamp_ns(msg.header), msg), reliable)
    # Subscribing to the cloud makes the node build and publish it, as on a robot.
    node.create_subscription(PointCloud2, 'points', lambda msg: None, reliable)
    parameters = {'device': args.device, 'preprocessing': args.preprocessing}
    if args.model:
        parameters['model'] = args.model
    with NodeProcess('depth_node', parameters) as depth_node:
        if not _spin_until(executor, lambda: publisher.subscriber_count(IMAGE_TOPIC) > 0
                           and node.count_publishers('depth') > 0 or not depth_node.running(),
                           DISCOVERY_TIMEOUT_S) or not depth_node.running():
            depth_node.stop()
            print(f'depth_node did not come up:\n{depth_node.output}')
            return 1
        # The first frame compiles the model for the camera resolution.
        while not received and depth_node.running():
            publisher.publish(frames[0], node.get_clock().now().to_msg())
            _spin_until(executor, lambda: bool(received), 1.0)
        received.clear()
        timings.clear()
        sent = _play(args, executor, node, publisher, frames, received)
        depth_node.stop()
        print(depth_node.output.strip())
    return _report(args, frames, sent, received, timings)


def _play(args, executor, node, publisher, frames, received):
    """Publish every frame ``args.loops`` times at the recorded pace; return sends by stamp."""
    sent = {}
    period_ns = [later.timestamp_ns - earlier.timestamp_ns
                 for earlier, later in itertools.pairwise(frames)] or [100_000_000]
    interval_s = statistics.median(period_ns) / 1e9 / args.rate
    for loop in range(args.loops):
        loop_started = time.perf_counter()
        for index, frame in enumerate(frames):
            stamp = node.get_clock().now().to_msg()
            sent[_stamp_ns(stamp)] = (time.perf_counter(), index)
            publisher.publish(frame, stamp)
            next_frame = loop_started + (index + 1) * interval_s
            _spin_until(executor, lambda: False, next_frame - time.perf_counter())
        _spin_until(executor, lambda: len(received) >= len(sent), 1.0)
        print(f'loop {loop + 1}/{args.loops}: {len(received)}/{len(sent)} depth images '
              f'received so far, latency median {_median(_latencies(sent, received)):.1f} ms')
    return sent


def _report(args, frames, sent, received, timings):
    latencies = _latencies(sent, received)
    inference = [msg.inference_ms for msg in timings.values()]
    totals = [msg.total_ms for msg in timings.values()]
    fps = [msg.fps for msg in timings.values()]
    print(f'frames: {len(sent)} sent, {len(received)} depth images back, '
          f'{max((msg.frames_dropped for msg in timings.values()), default=0)} dropped')
    print(f'latency (image published -> depth received): median {_median(latencies):.1f} ms, '
          f'p90 {_percentile(latencies, 90):.1f} ms')
    print(f'node: inference median {_median(inference):.1f} ms, total in node median '
          f'{_median(totals):.1f} ms, output rate {_median(fps):.1f} fps')
    scores = []
    output_dir = _output_dir(args.output_dir)
    written = 0
    for stamp, (_, depth_msg) in sorted(received.items()):
        frame = frames[sent[stamp][1]]
        depth = image_to_array(depth_msg.height, depth_msg.width, depth_msg.encoding,
                               bool(depth_msg.is_bigendian), depth_msg.step, depth_msg.data)
        truth_msg = frame.messages.get(GROUND_TRUTH_TOPIC)
        truth = None
        if truth_msg is not None:
            truth = depth_in_metres(image_to_array(
                truth_msg.height, truth_msg.width, truth_msg.encoding,
                bool(truth_msg.is_bigendian), truth_msg.step, truth_msg.data),
                truth_msg.encoding)
            scores.append(compute_depth_metrics(depth, truth))
        if written < args.pngs:
            image_msg = frame.messages[IMAGE_TOPIC]
            camera = as_rgb8(image_to_array(image_msg.height, image_msg.width,
                                            image_msg.encoding, bool(image_msg.is_bigendian),
                                            image_msg.step, image_msg.data),
                             image_msg.encoding)[:, :, ::-1]
            panels = [labelled(camera, 'camera'), labelled(colorize_depth(depth, 0.0, 10.0),
                                                           'FastDepth (0-10 m)')]
            if truth is not None:
                panels.append(labelled(colorize_depth(truth, 0.0, 10.0), 'ground truth'))
            path = output_dir / f'depth_{written:02d}.png'
            cv2.imwrite(str(path), np.hstack(panels))
            written += 1
    if scores:
        print('depth vs ground truth (mean over frames): ' + ', '.join(
            f'{name} {statistics.fmean(getattr(score, name) for score in scores):.3f}'
            for name in ('delta1', 'abs_rel', 'rmse')))
    print(f'{written} PNG images in {output_dir}/')
    return 0 if received else 1


def _latencies(sent, received):
    return [(received[stamp][0] - sent[stamp][0]) * 1e3 for stamp in sent if stamp in received]


def _output_dir(path):
    directory = Path(path)
    directory.mkdir(parents=True, exist_ok=True)
    return directory


def _stamp_ns(stamp_or_header):
    stamp = getattr(stamp_or_header, 'stamp', stamp_or_header)
    return stamp.sec * 1_000_000_000 + stamp.nanosec


def _spin_until(executor, predicate, timeout_s):
    deadline = time.perf_counter() + timeout_s
    while not predicate():
        remaining = deadline - time.perf_counter()
        if remaining <= 0:
            return False
        executor.spin_once(timeout_sec=min(remaining, 0.005))
    return True


def _median(values):
    return statistics.median(values) if values else float('nan')


def _percentile(values, percent):
    return float(np.percentile(values, percent)) if values else float('nan')
