"""``monitor_node``: a web page of a running perception node's outputs.

Subscribed (sensor-data QoS, depth 1: the monitor takes the newest message and never holds
the perception node back): ``inference_timing`` (edge_perception/InferenceTiming) and
``/diagnostics`` (diagnostic_msgs/DiagnosticArray) always; ``image`` (sensor_msgs/Image) with
``classification`` (edge_perception/Classification), and ``depth`` (sensor_msgs/Image, 32FC1
or 16UC1), only while a client watches their stream, so an unwatched monitor costs the camera
and the perception node nothing. Watched frames are taken from their subscriptions only when
a picture is made (at most ``max_fps`` a second per client), not at the camera's rate.
Served: see :mod:`edge_perception.monitor.web` and docs/monitor.md. Run it in its own process
(``ros2 run edge_perception monitor_node`` or ``edge-perception monitor``), beside the node.
"""

import itertools
import os
import threading

import cv2
from diagnostic_msgs.msg import DiagnosticArray
import rclpy
from rclpy.node import Node
from sensor_msgs.msg import Image

from edge_perception.core.image_codec import (
    camera_encoding_info,
    ImageFormatError,
    message_to_array,
)
from edge_perception.messages import stamp_ns
from edge_perception.monitor.frames import FrameStore, STREAMS, TIMING_FIELDS
from edge_perception.monitor.web import is_loopback, MonitorServer, ServerError
from edge_perception.msg import Classification, InferenceTiming
from edge_perception.nodes.dds_profile import apply_large_message_profile
from edge_perception.nodes.parameter_tables import ParameterSpec
from edge_perception.nodes.parameters import declare_parameters
from edge_perception.nodes.qos import camera_qos
from edge_perception.nodes.spinning import spin_until_shutdown

# Seconds between repeats of one per-frame warning.
WARN_PERIOD_S = 5.0
DEPTH_ENCODINGS = ('32FC1', '16UC1')

MONITOR_PARAMETERS = (
    ParameterSpec('host', '127.0.0.1',
                  'Address to serve on: 127.0.0.1 keeps the page to this machine; 0.0.0.0 '
                  'exposes it to every network the machine is on (read-only, no password).',
                  read_only=True),
    ParameterSpec('port', 8080, 'TCP port of the page; 0: a free port, logged at start.',
                  value_range=(0, 65535), read_only=True),
    ParameterSpec('max_fps', 10.0, 'Most pictures per second sent to one client of a stream.',
                  value_range=(0.5, 60.0), read_only=True),
    ParameterSpec('width', 640, 'Width in pixels of the pictures served (aspect kept).',
                  value_range=(32, 4096), read_only=True),
    ParameterSpec('history_s', 30.0, 'Seconds of timing the plot shows.',
                  value_range=(1.0, 3600.0), read_only=True),
    ParameterSpec('min_depth', 0.1, "Metres of the depth colour map's first colour (use the "
                  "depth node's min_depth).", value_range=(0.0, 1000.0), read_only=True),
    ParameterSpec('max_depth', 10.0, "Metres of the depth colour map's last colour (use the "
                  "depth node's max_depth).", value_range=(0.0, 1000.0), read_only=True),
    ParameterSpec('jpeg_quality', 80, 'JPEG quality of the streams, 1 to 100.',
                  value_range=(1, 100), read_only=True),
    ParameterSpec('niceness', 10, 'Added to the process niceness at start (0: none), so the '
                  'perception node on the same cores gets the CPU first.',
                  value_range=(0, 19), read_only=True),
    ParameterSpec('idle_scheduling', True, "Run under Linux's SCHED_IDLE policy: the monitor "
                  'only gets CPU time no other process wants, and a waking perception thread '
                  'takes its core at once (niceness still applies where the policy is missing).',
                  read_only=True),
)


class MonitorNode(Node):
    """Feeds a :class:`~edge_perception.monitor.frames.FrameStore` served over HTTP.

    :raises ServerError: when the page cannot be served (e.g. the port is in use).
    """

    def __init__(self, **kwargs):
        super().__init__('monitor', **kwargs)
        values = declare_parameters(self, MONITOR_PARAMETERS)
        self.niceness = values['niceness']
        self.idle_scheduling = values['idle_scheduling']
        self.store = FrameStore(values['width'], values['min_depth'], values['max_depth'],
                                values['history_s'], values['jpeg_quality'])
        self._newest_only = camera_qos()
        self._stream_inputs = {
            'image': ((Image, 'image', self._on_image),
                      (Classification, 'classification', self._on_classification)),
            'depth': ((Image, 'depth', self._on_depth),),
        }
        always = ((InferenceTiming, 'inference_timing', self._on_timing),
                  (DiagnosticArray, '/diagnostics', self._on_diagnostics))
        for message_type, topic, callback in always:
            self.create_subscription(message_type, topic, callback, self._newest_only)
        for _, topic, _ in (*always, *itertools.chain(*self._stream_inputs.values())):
            self.store.topics[topic] = self.resolve_topic_name(topic)
        # The stream subscriptions belong to a node no executor spins: their messages wait in
        # DDS (depth 1, so only the newest) until the encoder thread takes one for a picture.
        # Taken by an executor, every 30 Hz camera and depth frame would be converted to Python
        # on the cores the perception node runs on, watched or not.
        self._frame_node = Node(f'{self.get_name()}_frames', namespace=self.get_namespace(),
                                context=self.context, start_parameter_services=False,
                                enable_rosout=False)
        self._stream_subscriptions = {stream: [] for stream in STREAMS}
        self._stream_subscriptions_lock = threading.Lock()
        self.store.frame_source = self._take_newest
        # The web thread says when a stream gains its first client or loses its last; the
        # subscriptions follow in the executor's thread.
        self._watchers_changed = self.create_guard_condition(self._follow_watchers)
        self.store.on_watchers_changed = self._watchers_changed.trigger
        self.server = MonitorServer(self.store, values['host'], values['port'],
                                    values['max_fps'])
        self.server.start()
        self.get_logger().info(f'serving the monitor page on {self.server.url}')
        if not is_loopback(values['host']):
            self.get_logger().warning(
                f"host '{values['host']}' exposes the monitor (read-only, no password) to "
                'other machines; use 127.0.0.1 to keep it to this one')

    def destroy_node(self):
        self.server.stop()
        self._frame_node.destroy_node()
        return super().destroy_node()

    def _follow_watchers(self):
        for stream, inputs in self._stream_inputs.items():
            with self._stream_subscriptions_lock:
                subscriptions = self._stream_subscriptions[stream]
                if self.store.watched(stream) and not subscriptions:
                    subscriptions.extend(
                        (self._frame_node.create_subscription(
                            message_type, self.resolve_topic_name(topic), callback,
                            self._newest_only), callback)
                        for message_type, topic, callback in inputs)
                elif not self.store.watched(stream) and subscriptions:
                    for subscription, _ in subscriptions:
                        self._frame_node.destroy_subscription(subscription)
                    subscriptions.clear()
                    self.store.forget(stream)

    def _take_newest(self, stream):
        """Put the newest waiting message of each of ``stream``'s topics (encoder thread)."""
        with self._stream_subscriptions_lock:
            for subscription, handle_message in self._stream_subscriptions[stream]:
                message = _take_newest_message(subscription)
                if message is not None:
                    handle_message(message)

    def _on_image(self, msg):
        self._keep_frame('image', msg, camera_encoding_info, self.store.put_image)

    def _on_depth(self, msg):
        self._keep_frame('depth', msg, _check_depth_encoding, self.store.put_depth)

    def _keep_frame(self, stream, msg, check_encoding, put):
        # Only checked and viewed here; converted when a client asks for a picture.
        try:
            check_encoding(msg.encoding)
            pixels = message_to_array(msg)
        except ImageFormatError as error:
            self.get_logger().warning(f'{stream} dropped: {error}',
                                      throttle_duration_sec=WARN_PERIOD_S)
            self.store.reject(stream)
            return
        put(pixels, msg.encoding, stamp_ns(msg.header.stamp))

    def _on_classification(self, msg):
        if len(msg.labels) != len(msg.scores):
            self.get_logger().warning(
                f'classification dropped: {len(msg.labels)} labels but {len(msg.scores)} scores',
                throttle_duration_sec=WARN_PERIOD_S)
            return
        self.store.put_classification(msg.labels, msg.scores, stamp_ns(msg.header.stamp))

    def _on_timing(self, msg):
        self.store.put_timing({field: getattr(msg, field) for field in TIMING_FIELDS},
                              stamp_ns(msg.header.stamp))

    def _on_diagnostics(self, msg):
        self.store.put_diagnostics([
            {'name': status.name, 'level': _level_number(status.level),
             'message': status.message, 'hardware_id': status.hardware_id,
             'values': {pair.key: pair.value for pair in status.values}}
            for status in msg.status])


def _check_depth_encoding(encoding):
    if encoding not in DEPTH_ENCODINGS:
        raise ImageFormatError(f"encoding '{encoding}' is not a depth encoding; "
                               f"expected one of: {', '.join(DEPTH_ENCODINGS)}")


def _take_newest_message(subscription):
    newest = None
    with subscription.handle:
        # Depth 1 leaves at most one waiting; the loop also empties a deeper history.
        while (taken := subscription.handle.take_message(subscription.msg_type,
                                                          subscription.raw)) is not None:
            newest = taken[0]
    return newest


def _level_number(level):
    # rclpy gives a ``byte`` field as a one-byte ``bytes``; JSON wants the number (0 OK, 1 WARN,
    # 2 ERROR, 3 STALE).
    return level[0] if isinstance(level, bytes) else int(level)


def yield_the_cpu(niceness, idle_scheduling, logger):
    """Lower the CPU priority of every thread of this process below the perception node's.

    Linux keeps priorities per thread, and the web, encoder and DDS threads already run when
    the parameters are known, so each thread is lowered (threads started later inherit it).
    Niceness only shares the CPU in proportion: a monitor thread that woke on an idle core
    keeps it through the perception node's next inference. SCHED_IDLE gives the core up as
    soon as a normal thread wants it.
    """
    try:
        threads = [int(task) for task in os.listdir('/proc/self/task')]
    except OSError:
        threads = [0]  # no /proc: the calling thread only
    refused = None
    for thread in threads:
        try:
            os.setpriority(os.PRIO_PROCESS, thread,
                           os.getpriority(os.PRIO_PROCESS, thread) + niceness)
            if idle_scheduling:
                os.sched_setscheduler(thread, os.SCHED_IDLE, os.sched_param(0))
        except ProcessLookupError:
            continue  # the thread ended meanwhile
        except (AttributeError, OSError) as error:  # not Linux, or refused
            refused = error
    if refused is not None:
        logger.warning(f'could not lower the CPU priority of every thread ({refused}); the '
                       'monitor competes with the perception node for the CPU')


def main(args=None):
    """Run the monitor until Ctrl-C; return 0, or 1 when it cannot serve (port in use)."""
    apply_large_message_profile()
    # Pictures are encoded in one thread (monitor/web.py); OpenCV's own threads would take
    # every core in bursts.
    cv2.setNumThreads(1)
    rclpy.init(args=args)
    try:
        node = MonitorNode()
    except ServerError as error:
        rclpy.logging.get_logger('monitor').fatal(str(error))
        rclpy.try_shutdown()
        return 1
    yield_the_cpu(node.niceness, node.idle_scheduling, node.get_logger())
    spin_until_shutdown(node)
    return 0
