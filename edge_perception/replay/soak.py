"""Overload soak: a node in its own process fed camera frames faster than it can serve them.

For a bounded time a synthetic camera publishes at a fixed rate; the soak records, per
result, the latency from publishing the frame to receiving the output, the node's own
counters (received, processed, dropped because a newer frame won, rejected), and the node
process's resident memory once a second. Under overload the node keeps only the newest frame,
so latency should stay bounded and memory flat; :class:`SoakReport` says whether they did.

The counters are differences between two quiet moments: after the warm-up the camera pauses
until one frame's result has come back (nothing is in flight), and after the soak it pauses
until the last frame's result is back. Frames the node never took are the frames sent minus
the node's own ``frames_received``.
"""

from dataclasses import dataclass, field
import statistics
import time

import numpy as np
from sensor_msgs.msg import CameraInfo, Image

from edge_perception.core.depth_geometry import PinholeIntrinsics
from edge_perception.core.image_codec import array_to_image_fields
from edge_perception.messages import (
    camera_info_msg,
    header_msg,
    image_msg_from_fields,
    message_class,
    stamp_ns,
)
from edge_perception.msg import InferenceTiming
from edge_perception.replay.graph import ProbeGraph
from edge_perception.replay.node_config import TIMING_TOPIC, write_params_file

# The first results include compilation for the camera resolution; memory is compared from
# the end of this warm-up on.
WARM_UP_S = 3.0
# Seconds to wait for the result of one frame when the camera pauses (after the warm-up and at
# the end); the first frame of the warm-up also waits for compilation.
SETTLE_TIMEOUT_S = 10.0
COUNTERS = ('frames_received', 'frames_processed', 'frames_dropped', 'frames_rejected')


@dataclass(frozen=True)
class SoakOptions:
    """What to soak and how hard.

    :param config: :class:`~edge_perception.replay.node_config.NodeConfig` of the node.
    :param rate_hz: camera frame rate.
    :param duration_s: how long to publish, after the warm-up.
    """

    config: object
    rate_hz: float = 60.0
    duration_s: float = 30.0
    width: int = 640
    height: int = 480
    scratch: str = '.'


@dataclass
class SoakReport:
    """What a soak measured; times in milliseconds, memory in MiB, ``t`` in seconds."""

    sent: int = 0
    latencies: list = field(default_factory=list)   # (t, latency_ms) per result
    memory: list = field(default_factory=list)      # (t, rss_mib) once a second
    timing: object = None                           # last InferenceTiming of the soak
    timing_at_start: object = None                  # the one that closed the warm-up
    inference_ms: list = field(default_factory=list)
    duration_s: float = 0.0
    node_output: str = ''
    exit_code: int = None

    @property
    def results(self):
        return len(self.latencies)

    def latency_percentile(self, percent, since_s=0.0):
        values = [latency for t, latency in self.latencies if t >= since_s]
        return float(np.percentile(values, percent)) if values else float('nan')

    def memory_growth_mib(self):
        """Resident memory at the end minus just after the warm-up."""
        if len(self.memory) < 2:
            return float('nan')
        return self.memory[-1][1] - self.memory[0][1]

    def node_counts(self):
        """Return the node's own counters (:data:`COUNTERS`) over the soak."""
        if self.timing is None:
            return dict.fromkeys(COUNTERS, 0)
        return {name: getattr(self.timing, name) - (getattr(self.timing_at_start, name)
                                                    if self.timing_at_start else 0)
                for name in COUNTERS}

    def lost_before_the_node(self):
        """Frames sent that the node never took (replaced in its DDS queue, or lost)."""
        return self.sent - self.node_counts()['frames_received']

    def unaccounted(self):
        """Frames the node took but neither processed, dropped nor rejected (0 when healthy)."""
        counts = self.node_counts()
        return counts['frames_received'] - counts['frames_processed'] - \
            counts['frames_dropped'] - counts['frames_rejected']

    def figures(self):
        """Return the headline figures as a JSON-ready dictionary."""
        return {
            'sent': self.sent, 'results': self.results, 'duration_s': self.duration_s,
            **self.node_counts(), 'lost_before_the_node': self.lost_before_the_node(),
            'unaccounted_in_the_node': self.unaccounted(),
            'inference_median_ms': _median(self.inference_ms),
            **{f'latency_p{percent}_ms': self.latency_percentile(percent)
               for percent in (50, 90, 99, 100)},
            'latency_p99_second_half_ms': self.latency_percentile(99, self.duration_s / 2),
            'memory_start_mib': self.memory[0][1] if self.memory else float('nan'),
            'memory_growth_mib': self.memory_growth_mib(),
        }

    def summary(self, options):
        counts = self.node_counts()
        half = self.duration_s / 2
        lines = [
            f'{options.config.kind.name} soaked {self.duration_s:.0f} s at '
            f'{options.rate_hz:g} Hz ({options.width}x{options.height}): {self.sent} frames '
            f'sent, {self.results} results ({self.results / max(self.duration_s, 1e-9):.1f}/s)',
            f"node: {counts['frames_received']} received, {counts['frames_processed']} "
            f"processed, {counts['frames_dropped']} dropped (a newer frame won), "
            f"{counts['frames_rejected']} rejected; {self.lost_before_the_node()} sent but never "
            'taken by the node (replaced in its DDS queue or lost)',
            f'inference median {_median(self.inference_ms):.1f} ms',
            'latency published -> result: median '
            f'{self.latency_percentile(50):.1f} ms, p90 {self.latency_percentile(90):.1f}, '
            f'p99 {self.latency_percentile(99):.1f}, max {self.latency_percentile(100):.1f}; '
            f'second half p99 {self.latency_percentile(99, half):.1f} ms',
            f'node memory (RSS): {self.memory[0][1]:.1f} MiB after warm-up, '
            f'{self.memory[-1][1]:.1f} MiB at the end (growth '
            f'{self.memory_growth_mib():+.1f} MiB), max {max(m for _, m in self.memory):.1f}'
            if self.memory else 'node memory: not sampled',
        ]
        return '\n'.join(lines)


def soak(options):
    """Run the node in its own process under overload; return a :class:`SoakReport`."""
    config = options.config
    params_file = f'{options.scratch}/{config.kind.name}_soak.yaml'
    write_params_file(config, params_file)
    report = SoakReport()
    with ProbeGraph('edge_perception_soak') as graph:
        process = graph.start_process(config.kind.name, params_file=params_file)
        try:
            _run(options, graph, process, report)
        finally:
            report.exit_code = process.stop()
            report.node_output = process.output
    return report


def _run(options, graph, process, report):
    kind = options.config.kind
    sent_at = {}
    timings = {}
    clock = {'start': None}

    def on_result(msg):
        published = sent_at.pop(stamp_ns(msg), None)
        if published is not None and clock['start'] is not None:
            now = time.perf_counter()
            report.latencies.append((now - clock['start'], (now - published) * 1e3))

    def on_timing(msg):
        report.timing = msg
        timings[stamp_ns(msg)] = msg
        if clock['start'] is not None:
            report.inference_ms.append(msg.inference_ms)

    images = graph.publisher(Image, 'image')
    # Not every node takes camera info.
    infos = graph.publisher(CameraInfo, 'camera_info', wait=False)
    graph.subscribe(message_class(kind.outputs[kind.result_topic]), kind.result_topic,
                    on_result)
    graph.subscribe(InferenceTiming, TIMING_TOPIC, on_timing)
    for topic, type_name in kind.outputs.items():  # outputs are computed only when subscribed
        if topic not in (kind.result_topic, TIMING_TOPIC):
            graph.subscribe(message_class(type_name), topic, lambda msg: None, wait=False)
    camera = _Camera(graph.probe, images, infos, options.width, options.height)

    def settle():
        """Send single frames until one's timing comes back; return that timing."""
        stamp = graph.warm_up(lambda attempt: camera.publish(), lambda stamp: stamp in timings,
                              SETTLE_TIMEOUT_S)
        return timings[stamp]

    settle()  # compiles the model for the camera's resolution
    _publish_at_rate(options, camera, graph, WARM_UP_S)
    report.timing_at_start = settle()
    report.timing = report.timing_at_start
    clock['start'] = time.perf_counter()
    sent_at.clear()
    camera.sent_at = sent_at
    report.sent = _publish_at_rate(options, camera, graph, options.duration_s, process, report)
    last = camera.last_stamp
    # The node always finishes its newest frame: once that frame's timing is back, the counters
    # are final (a frame lost on the way ends the wait at the timeout instead).
    graph.wait_for(lambda: last in timings, SETTLE_TIMEOUT_S)
    graph.spin_for(0.2)  # outputs that trail the timing message
    report.duration_s = options.duration_s


class _Camera:
    """Publishes the test pattern with its CameraInfo, stamped with the probe's clock."""

    def __init__(self, probe, images, infos, width, height):
        self._probe = probe
        self._images = images
        self._infos = infos
        self._frame = array_to_image_fields(_test_pattern(height, width), 'rgb8')
        self._intrinsics = PinholeIntrinsics.from_horizontal_fov(width, height, 60.0)
        self.last_stamp = None
        self.sent_at = {}

    def publish(self):
        stamp = max(self._probe.get_clock().now().nanoseconds, (self.last_stamp or 0) + 1)
        header = header_msg(stamp)
        self._infos.publish(camera_info_msg(self._intrinsics, header=header))
        self.sent_at[stamp] = time.perf_counter()
        self._images.publish(image_msg_from_fields(header, self._frame))
        self.last_stamp = stamp
        return stamp


def _publish_at_rate(options, camera, graph, duration_s, process=None, report=None):
    """Publish frames at ``options.rate_hz`` for ``duration_s``; return how many went out.

    With a ``report``, the memory of the node ``process`` is sampled once a second.
    """
    period_s = 1.0 / options.rate_hz
    started = time.perf_counter()
    frame = 0
    while True:
        elapsed = time.perf_counter() - started
        if elapsed >= duration_s:
            return frame
        graph.ensure_running('during the soak')
        if report is not None and len(report.memory) <= elapsed:
            report.memory.append((elapsed, rss_mib(process.process.pid)))
        camera.publish()
        frame += 1
        graph.spin_for(started + frame * period_s - time.perf_counter())


def _test_pattern(height, width):
    """Return a colour gradient: a camera-like image that no model sees as empty."""
    rows = np.linspace(0, 255, height, dtype=np.float32)[:, None]
    columns = np.linspace(0, 255, width, dtype=np.float32)[None, :]
    return np.stack([np.broadcast_to(rows, (height, width)),
                     np.broadcast_to(columns, (height, width)),
                     np.full((height, width), 128.0, np.float32)], axis=-1).astype(np.uint8)


def rss_mib(pid):
    """Return a process's resident memory (VmRSS) in MiB."""
    with open(f'/proc/{pid}/status', encoding='ascii') as status:
        for line in status:
            if line.startswith('VmRSS:'):
                return int(line.split()[1]) / 1024.0
    return float('nan')


def _median(values):
    return statistics.median(values) if values else float('nan')
