"""Overload soak: a node in its own process fed camera frames faster than it can serve them.

For a bounded time a synthetic camera publishes at a fixed rate; the soak records, per
result, the latency from publishing the frame to receiving the output, the node's own
counters (processed, dropped because a newer frame won, rejected), and the node process's
resident memory once a second. Under overload the node keeps only the newest frame, so
latency should stay bounded and memory flat; :class:`SoakReport` says whether they did.
"""

from dataclasses import dataclass, field
import statistics
import time

import numpy as np
import rclpy
from rclpy.qos import qos_profile_sensor_data, QoSProfile, QoSReliabilityPolicy
from sensor_msgs.msg import CameraInfo, Image

from edge_perception.msg import InferenceTiming
from .bag_player import message_class
from .depth_geometry import PinholeIntrinsics
from .image_codec import array_to_image_fields
from .node_config import TIMING_TOPIC, write_params_file
from .node_process import NodeProcess
from .spinning import spin_until

DISCOVERY_TIMEOUT_S = 30.0
# The first results include compilation for the camera resolution; memory is compared from
# the end of this warm-up on.
WARM_UP_S = 3.0


@dataclass(frozen=True)
class SoakOptions:
    """What to soak and how hard.

    :param config: :class:`~edge_perception.node_config.NodeConfig` of the node.
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
    timing_at_start: object = None                  # last one before the soak
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
        """Return the node's processed, dropped and rejected frame counts during the soak."""
        names = ('frames_processed', 'frames_dropped', 'frames_rejected')
        if self.timing is None:
            return dict.fromkeys(names, 0)
        return {name: getattr(self.timing, name) - (getattr(self.timing_at_start, name)
                                                    if self.timing_at_start else 0)
                for name in names}

    def lost_before_the_node(self):
        """Frames the node never took: replaced in its DDS queue (depth 1) by newer ones."""
        return max(0, self.sent - sum(self.node_counts().values()))

    def figures(self):
        """Return the headline figures as a JSON-ready dictionary."""
        return {
            'sent': self.sent, 'results': self.results, 'duration_s': self.duration_s,
            **self.node_counts(), 'lost_before_the_node': self.lost_before_the_node(),
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
            f"node: {counts['frames_processed']} processed, {counts['frames_dropped']} dropped "
            f"(a newer frame won), {counts['frames_rejected']} rejected; "
            f'{self.lost_before_the_node()} replaced in the DDS queue before the node took them',
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
    context = rclpy.Context()
    rclpy.init(context=context)
    probe = rclpy.create_node('edge_perception_soak', context=context)
    executor = rclpy.executors.SingleThreadedExecutor(context=context)
    executor.add_node(probe)
    report = SoakReport()
    process = NodeProcess(config.kind.name, params_file=params_file)
    try:
        _run(options, probe, executor, process, report)
    finally:
        report.exit_code = process.stop()
        report.node_output = process.output
        executor.shutdown()
        probe.destroy_node()
        rclpy.shutdown(context=context)
    return report


def _run(options, probe, executor, process, report):
    kind = options.config.kind
    images = probe.create_publisher(Image, 'image', qos_profile_sensor_data)
    infos = probe.create_publisher(CameraInfo, 'camera_info', qos_profile_sensor_data)
    reliable = QoSProfile(depth=10, reliability=QoSReliabilityPolicy.RELIABLE)
    sent_at = {}
    clock = {'start': None}

    def on_result(msg):
        stamp = msg.header.stamp.sec * 1_000_000_000 + msg.header.stamp.nanosec
        published = sent_at.pop(stamp, None)
        if published is not None and clock['start'] is not None:
            now = time.perf_counter()
            report.latencies.append((now - clock['start'], (now - published) * 1e3))

    def on_timing(msg):
        report.timing = msg
        if clock['start'] is not None:
            report.inference_ms.append(msg.inference_ms)

    probe.create_subscription(message_class(kind.outputs[kind.result_topic]),
                              kind.result_topic, on_result, reliable)
    probe.create_subscription(InferenceTiming, TIMING_TOPIC, on_timing, reliable)
    for topic, type_name in kind.outputs.items():  # outputs are computed only when subscribed
        if topic not in (kind.result_topic, TIMING_TOPIC):
            probe.create_subscription(message_class(type_name), topic, lambda msg: None,
                                      reliable)
    if not spin_until(executor, lambda: not process.running() or (
            images.get_subscription_count() > 0 and probe.count_publishers(kind.result_topic)),
            DISCOVERY_TIMEOUT_S) or not process.running():
        raise RuntimeError(f'{kind.name} did not come up:\n{process.output}')
    height, width = options.height, options.width
    fields = array_to_image_fields(_test_pattern(height, width), 'rgb8')
    info = _camera_info(width, height)
    period_s = 1.0 / options.rate_hz
    warm_up_end = time.perf_counter() + WARM_UP_S
    next_memory = 0.0
    frame = 0
    started = time.perf_counter()
    while True:
        now = time.perf_counter()
        if clock['start'] is None and now >= warm_up_end:
            clock['start'] = now
            report.sent = 0
            report.timing_at_start = report.timing
            sent_at.clear()
        if clock['start'] is not None:
            elapsed = now - clock['start']
            if elapsed >= options.duration_s:
                break
            if elapsed >= next_memory:
                report.memory.append((elapsed, _rss_mib(process.process.pid)))
                next_memory += 1.0
        if not process.running():
            raise RuntimeError(f'{kind.name} exited during the soak:\n{process.output}')
        stamp_ns = probe.get_clock().now().nanoseconds
        msg = Image(encoding='rgb8')
        msg.header.stamp.sec, msg.header.stamp.nanosec = divmod(stamp_ns, 1_000_000_000)
        msg.header.frame_id = 'camera_optical_frame'
        msg.height, msg.width, msg.step, msg.is_bigendian, msg.data = fields
        info.header = msg.header
        infos.publish(info)
        sent_at[stamp_ns] = time.perf_counter()
        images.publish(msg)
        report.sent += 1
        frame += 1
        spin_until(executor, lambda: False, started + frame * period_s - time.perf_counter())
    spin_until(executor, lambda: False, 1.0)  # results still in flight
    report.duration_s = options.duration_s


def _test_pattern(height, width):
    """Return a colour gradient: a camera-like image that no model sees as empty."""
    rows = np.linspace(0, 255, height, dtype=np.float32)[:, None]
    columns = np.linspace(0, 255, width, dtype=np.float32)[None, :]
    return np.stack([np.broadcast_to(rows, (height, width)),
                     np.broadcast_to(columns, (height, width)),
                     np.full((height, width), 128.0, np.float32)], axis=-1).astype(np.uint8)


def _camera_info(width, height):
    intrinsics = PinholeIntrinsics.from_horizontal_fov(width, height, 60.0)
    msg = CameraInfo(width=width, height=height, distortion_model='plumb_bob')
    msg.k = intrinsics.matrix().reshape(-1).tolist()
    return msg


def _rss_mib(pid):
    with open(f'/proc/{pid}/status', encoding='ascii') as status:
        for line in status:
            if line.startswith('VmRSS:'):
                return int(line.split()[1]) / 1024.0
    return float('nan')


def _median(values):
    return statistics.median(values) if values else float('nan')
