"""``edge-perception demo``: a bundled model on a bundled camera recording.

``demo`` (or ``demo depth``) runs FastDepth on the synthetic camera recording; ``demo
classifier`` runs the digit classifier on frames of digits on paper. The node runs in its own
process (as ``ros2 run`` would), the recording is replayed into it at its recorded rate, and
the demo prints frame rate, latency and accuracy against the recording's ground truth; the
depth demo also writes colour-mapped depth images as PNG.

With a camera (:func:`run_camera`: a V4L2 device, a video file or an image folder) the frames
come from ``camera_node`` in a process of its own instead, and the demo prints the same
figures, without accuracy (there is no ground truth).
"""

from dataclasses import dataclass
import itertools
from pathlib import Path
import statistics
import time

import cv2
import numpy as np
from rclpy.qos import qos_profile_sensor_data
from sensor_msgs.msg import Image, PointCloud2

from edge_perception.bags.player import FramePublisher, read_frames
from edge_perception.core.depth_geometry import depth_in_metres
from edge_perception.core.image_codec import as_rgb8, message_to_array
from edge_perception.core.metrics import compute_depth_metrics
from edge_perception.core.visualisation import colorize_depth, labelled
from edge_perception.messages import stamp_ns
from edge_perception.msg import Classification, InferenceTiming
from edge_perception.package_paths import shared_file
from edge_perception.replay.graph import GraphError, ProbeGraph

IMAGE_TOPIC = '/camera/image_raw'
# Results of a camera demo printed one by one (the classifier's), and camera frames kept for
# the PNGs of the depth demo, at most.
SHOWN_RESULTS = 10
CAMERA_INFO_TOPIC = '/camera/camera_info'
# Seconds for the node to start and answer its first frame (which compiles the model).
STARTUP_TIMEOUT_S = 60.0


@dataclass(frozen=True)
class DemoHead:
    """What differs between the depth and the classifier demo."""

    command: str
    bag: tuple
    truth_topic: str
    output_type: type
    output_topic: str
    # Subscribing to these makes the node do the work a robot would ask of it.
    extra_outputs: tuple = ()


HEADS = {
    'depth': DemoHead('depth_node', ('data', 'demo_depth_bag'), '/camera/depth/ground_truth',
                      Image, 'depth', ((PointCloud2, 'points'),)),
    'classifier': DemoHead('classifier_node', ('data', 'demo_digits_bag'), '/camera/digit_label',
                           Classification, 'classification'),
}


@dataclass(frozen=True)
class DemoOptions:
    """What the demo plays through which node, and where its pictures go.

    :param head: a key of :data:`HEADS`.
    :param bag: rosbag2 directory; '' for the head's bundled recording.
    :param model: model file; '' for the bundled model.
    :param loops: times to play the recording.
    :param rate: playback speed relative to the recording.
    :param pngs: depth PNG images to write into ``output_dir``.
    :param monitor_port: port of a ``monitor_node`` started beside the node (loopback only);
        None: no monitor.
    """

    head: str = 'depth'
    bag: str = ''
    model: str = ''
    device: str = 'CPU'
    preprocessing: str = 'auto'
    loops: int = 3
    rate: float = 1.0
    output_dir: str = 'depth_demo'
    pngs: int = 4
    monitor_port: int | None = None


def run(args):
    """Run the demo of :class:`DemoOptions` ``args``; return the process exit code."""
    head = HEADS[args.head]
    bag = args.bag or str(shared_file(*head.bag))
    frames, types = read_frames(bag, {IMAGE_TOPIC, CAMERA_INFO_TOPIC, head.truth_topic})
    frames = [frame for frame in frames if IMAGE_TOPIC in frame.messages]
    if not frames:
        print(f'no {IMAGE_TOPIC} messages in {bag}')
        return 1
    print(f'{len(frames)} frames from {bag}')
    with ProbeGraph('edge_perception_demo') as graph:
        try:
            results = _replay_through_node(args, head, graph, frames, types)
        except GraphError as error:
            print(error)
            return 1
    sent, received, timings = results
    _report_speed(sent, received, timings)
    if args.head == 'depth':
        _report_depth(args, frames, sent, received)
    else:
        _report_classes(frames, sent, received, head.truth_topic)
    return 0 if received else 1


def _replay_through_node(args, head, graph, frames, types):
    """Start the node, replay the frames; return (sent, received, timings) by stamp."""
    parameters = {'device': args.device, 'preprocessing': args.preprocessing}
    if args.model:
        parameters['model'] = args.model
    perception_node = graph.start_process(head.command, **parameters)
    if args.monitor_port is not None:
        graph.start_process('monitor_node', port=args.monitor_port)
        print(f'monitor: http://127.0.0.1:{args.monitor_port}/')
    camera_types = {topic: types[topic] for topic in (IMAGE_TOPIC, CAMERA_INFO_TOPIC)
                    if topic in types}
    publisher = FramePublisher(graph.probe, camera_types, {IMAGE_TOPIC: 'image',
                                                           CAMERA_INFO_TOPIC: 'camera_info'})
    graph.wait_until_connected(publisher.publishers[IMAGE_TOPIC])
    received = graph.collect_by_stamp(head.output_type, head.output_topic)
    timings = graph.collect_by_stamp(InferenceTiming, 'inference_timing')
    for output_type, topic in head.extra_outputs:
        graph.subscribe(output_type, topic, lambda msg: None)

    def publish(attempt):
        stamp = graph.probe.get_clock().now().to_msg()
        publisher.publish(frames[attempt % len(frames)], stamp)
        return stamp_ns(stamp)

    # The first frame compiles the model for the camera resolution.
    graph.warm_up(publish, lambda stamp: stamp in received, STARTUP_TIMEOUT_S)
    received.clear()
    timings.clear()
    sent = _play(args, graph, publisher, frames, received)
    perception_node.stop()
    print(perception_node.output.strip())
    return sent, received, timings


def _play(args, graph, publisher, frames, received):
    """Publish every frame ``args.loops`` times at the recorded pace; return sends by stamp."""
    sent = {}
    period_ns = [later.timestamp_ns - earlier.timestamp_ns
                 for earlier, later in itertools.pairwise(frames)] or [100_000_000]
    interval_s = statistics.median(period_ns) / 1e9 / args.rate
    for loop in range(args.loops):
        loop_started = time.perf_counter()
        for index, frame in enumerate(frames):
            stamp = graph.probe.get_clock().now().to_msg()
            sent[stamp_ns(stamp)] = (time.perf_counter(), index)
            publisher.publish(frame, stamp)
            next_frame = loop_started + (index + 1) * interval_s
            graph.spin_for(next_frame - time.perf_counter())
        graph.wait_for(lambda: len(received) >= len(sent), 1.0)
        print(f'loop {loop + 1}/{args.loops}: {len(received)}/{len(sent)} results '
              f'received so far, latency median {_median(_latencies(sent, received)):.1f} ms')
    return sent


def _report_speed(sent, received, timings):
    latencies = _latencies(sent, received)
    timings = [arrival.message for arrival in timings.values()]
    inference = [msg.inference_ms for msg in timings]
    totals = [msg.total_ms for msg in timings]
    fps = [msg.fps for msg in timings]
    print(f'frames: {len(sent)} sent, {len(received)} results back, '
          f'{max((msg.frames_dropped for msg in timings), default=0)} dropped')
    print(f'latency (image published -> result received): median {_median(latencies):.1f} ms, '
          f'p90 {_percentile(latencies, 90):.1f} ms')
    print(f'node: inference median {_median(inference):.1f} ms, total in node median '
          f'{_median(totals):.1f} ms, output rate {_median(fps):.1f} fps')


def _report_depth(args, frames, sent, received):
    head = HEADS['depth']
    scores = []
    output_dir = Path(args.output_dir)
    output_dir.mkdir(parents=True, exist_ok=True)
    written = 0
    for stamp, (_, depth_msg) in sorted(received.items()):
        frame = frames[sent[stamp][1]]
        depth = message_to_array(depth_msg)
        truth_msg = frame.messages.get(head.truth_topic)
        truth = None
        if truth_msg is not None:
            truth = depth_in_metres(message_to_array(truth_msg), truth_msg.encoding)
            scores.append(compute_depth_metrics(depth, truth))
        if written < args.pngs:
            image_msg = frame.messages[IMAGE_TOPIC]
            camera = as_rgb8(message_to_array(image_msg), image_msg.encoding)[:, :, ::-1]
            panels = [labelled(camera, 'camera'),
                      labelled(colorize_depth(depth, 0.0, 10.0), 'FastDepth (0-10 m)')]
            if truth is not None:
                panels.append(labelled(colorize_depth(truth, 0.0, 10.0), 'ground truth'))
            cv2.imwrite(str(output_dir / f'depth_{written:02d}.png'), np.hstack(panels))
            written += 1
    if scores:
        print('depth vs ground truth (mean over frames): ' + ', '.join(
            f'{name} {statistics.fmean(getattr(score, name) for score in scores):.3f}'
            for name in ('delta1', 'abs_rel', 'rmse')))
    print(f'{written} PNG images in {output_dir}/')


def _report_classes(frames, sent, received, truth_topic):
    correct = labelled_frames = 0
    for stamp, (_, result) in sorted(received.items()):
        index = sent[stamp][1]
        truth_msg = frames[index].messages.get(truth_topic)
        best = f'{result.labels[0]} ({result.scores[0]:.2f})' if result.labels else 'nothing'
        truth = '' if truth_msg is None else f', truly {truth_msg.data}'
        if stamp in _first_loop(sent, len(frames)):
            print(f'frame {index:2d}: sees {best}{truth}')
        if truth_msg is not None and result.class_ids:
            labelled_frames += 1
            correct += int(result.class_ids[0] == truth_msg.data)
    if labelled_frames:
        print(f'top-1 accuracy: {correct}/{labelled_frames} = '
              f'{100.0 * correct / labelled_frames:.1f} %')


def _first_loop(sent, frame_count):
    return set(sorted(sent)[:frame_count])


def _latencies(sent, received):
    return [(received[stamp].time_s - sent[stamp][0]) * 1e3 for stamp in sent
            if stamp in received]


def _median(values):
    return statistics.median(values) if values else float('nan')


def _percentile(values, percent):
    return float(np.percentile(values, percent)) if values else float('nan')


@dataclass(frozen=True)
class CameraDemoOptions:
    """Which node a camera feeds, and for how long.

    :param camera: a V4L2 device (``/dev/videoN`` or ``N``), a video file or an image folder.
    :param seconds: longest time to run after the first result (a file, played at its own
        rate, may end sooner).
    :param monitor_port: port of a ``monitor_node`` started beside the node (loopback only);
        None: no monitor.
    """

    head: str = 'depth'
    camera: str = '0'
    model: str = ''
    device: str = 'CPU'
    preprocessing: str = 'auto'
    seconds: float = 20.0
    output_dir: str = 'depth_demo'
    pngs: int = 4
    monitor_port: int | None = None


def camera_parameters(camera, subscribers):
    """Return the ``camera_node`` parameters that play ``camera``: a device (path or index),
    an image folder, or else a video file, which starts once ``subscribers`` subscriptions to
    its images are matched.
    """
    if camera.isdigit() or camera.startswith('/dev/'):
        return {'device': camera}
    source = 'images' if Path(camera).is_dir() else 'video'
    return {source: camera, 'wait_for_subscribers': subscribers}


#: Said before the bundled depth model runs on a camera: it was judged on real frames (issue 25).
BUNDLED_DEPTH_ON_A_CAMERA = (
    'note: the bundled FastDepth was trained only on rendered scenes; on real frames its depth '
    "is no better than a constant at the frame's median (docs/fastdepth.md). For a real "
    "camera, run depth_node with a model and the parameters the README's 'What to run on a "
    "real camera' gives.")


def run_camera(args):
    """Run the demo of :class:`CameraDemoOptions` ``args``; return the process exit code."""
    head = HEADS[args.head]
    if args.head == 'depth' and not args.model:
        print(BUNDLED_DEPTH_ON_A_CAMERA, flush=True)
    with ProbeGraph('edge_perception_demo') as graph:
        parameters = {'device': args.device, 'preprocessing': args.preprocessing}
        if args.model:
            parameters['model'] = args.model
        perception_node = graph.start_process(head.command, **parameters)
        try:
            received = graph.collect_by_stamp(head.output_type, head.output_topic)
            timings = graph.collect_by_stamp(InferenceTiming, 'inference_timing')
        except GraphError as error:
            print(error)
            return 1
        if args.monitor_port is not None:
            graph.start_process('monitor_node', port=args.monitor_port)
            print(f'monitor: http://127.0.0.1:{args.monitor_port}/')
        for output_type, topic in head.extra_outputs:
            graph.subscribe(output_type, topic, lambda msg: None, wait=False)
        frames = _CameraFrames(args.pngs, received)
        graph.subscribe(Image, 'image', frames.add, qos_profile_sensor_data, wait=False)
        # A clip starts when the node and the probe both listen.
        camera = graph.start_process('camera_node', **camera_parameters(args.camera, 2))
        # The first frame compiles the model while later ones are dropped; the node then takes
        # the newest, even when a short clip has ended meanwhile. A camera that failed to
        # start ends the wait.
        graph.wait_for(lambda: received or not perception_node.running() or
                       camera.process.poll() not in (None, 0), STARTUP_TIMEOUT_S)
        if not received:
            camera_code = camera.stop()
            perception_node.stop()
            print(camera.output.strip())
            print(perception_node.output.strip())
            print(f'no result from {head.command} '
                  f"({'camera exited with ' + str(camera_code) if camera_code else 'timed out'})")
            return 1
        graph.wait_for(lambda: not camera.running() or not perception_node.running(),
                       args.seconds)
        camera_code = camera.stop()
        graph.wait_for(lambda: len(received) >= len(frames.arrivals), 1.0)
        perception_node.stop()
    print(camera.output.strip())
    _report_speed(frames.arrivals, received, timings)
    if args.head == 'depth':
        _write_camera_depth_pngs(args, frames, received)
    else:
        _print_camera_classes(frames, received)
    return 0 if received and camera_code == 0 else 1


class _CameraFrames:
    """The frames the probe saw: arrival time by stamp, and the first ``kept`` images that got
    a result (from a short window of recent ones: frames dropped while the model compiles
    never do).

    :param received: the results by stamp, as they arrive.
    """

    WINDOW = 30

    def __init__(self, kept, received):
        self.kept = kept
        self.received = received
        self.arrivals = {}
        self.recent = {}
        self.images = {}

    def add(self, msg):
        stamp = stamp_ns(msg)
        self.arrivals[stamp] = (time.perf_counter(), len(self.arrivals))
        if len(self.images) >= self.kept:
            return
        self.recent[stamp] = msg
        for answered in [stamp for stamp in self.recent if stamp in self.received]:
            if len(self.images) < self.kept:
                self.images[answered] = self.recent[answered]
            del self.recent[answered]
        while len(self.recent) > self.WINDOW:
            del self.recent[next(iter(self.recent))]


def _write_camera_depth_pngs(args, frames, received):
    output_dir = Path(args.output_dir)
    output_dir.mkdir(parents=True, exist_ok=True)
    written = 0
    for stamp, image_msg in sorted(frames.images.items()):
        if stamp not in received:
            continue
        depth = message_to_array(received[stamp].message)
        camera = as_rgb8(message_to_array(image_msg), image_msg.encoding)[:, :, ::-1]
        cv2.imwrite(str(output_dir / f'depth_{written:02d}.png'), np.hstack([
            labelled(camera, 'camera'),
            labelled(colorize_depth(depth, 0.0, 10.0), 'FastDepth (0-10 m)')]))
        written += 1
    print(f'{written} PNG images in {output_dir}/')


def _print_camera_classes(frames, received):
    for stamp, (_, result) in sorted(received.items())[:SHOWN_RESULTS]:
        best = f'{result.labels[0]} ({result.scores[0]:.2f})' if result.labels else 'nothing'
        print(f'frame {frames.arrivals.get(stamp, (0, -1))[1]:3d}: sees {best}')
