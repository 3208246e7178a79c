"""Replaying a camera bag through a node and recording everything it publishes.

The node is the one a parameter file configures (:mod:`edge_perception.replay.node_config`), run in
this process or in a child process (as ``ros2 run`` would, with ``--params-file``). The bag's
image and camera info topics are published at one of two paces:

* **timed** (``rate``): at the recording's pace times ``rate`` and restamped with the current
  time, as a camera would publish; a slow node drops frames as it would on a robot. The map
  from published to recorded stamps is kept, and written into the recorded bag's
  ``custom_data`` under :data:`STAMP_MAP_KEY`, so outputs still pair with the recording.
* **lockstep** (``rate=None``): the next frame goes out only once the node's result and timing
  for the previous one are back, with the recorded stamps kept, so every frame is processed
  and outputs pair with the recording frame for frame (what regression testing needs). A frame
  whose result does not come back within ``timeout_s`` is counted as missing; after
  :data:`MAX_SILENT_FRAMES` such frames in a row the node has stopped answering and the replay
  ends.

Before that, frames are sent under a stamp of their own until a result comes back (the first
frame, then the next each second): this compiles the model for the camera resolution and makes
sure the best-effort image topic is matched. That warm-up result is not recorded.
"""

from dataclasses import dataclass, field
import importlib
import json
from pathlib import Path
import tempfile
import time

from rcl_interfaces.srv import ListParameters

from edge_perception.bags.player import FramePublisher, read_frames
from edge_perception.bags.reader import BagError
from edge_perception.bags.recorder import BagRecorder
from edge_perception.bags.types import (
    DEFAULT_CAMERA_INFO_TOPIC,
    DEFAULT_IMAGE_TOPIC,
    REPLAY_KEY,
    STAMP_MAP_KEY,
)
from edge_perception.messages import header_stamp_ns, time_msg
from edge_perception.nodes.inference_node import STARTUP_ERRORS
from edge_perception.replay.graph import GraphError, ProbeGraph
from edge_perception.replay.node_config import NodeConfig, TIMING_TOPIC, write_params_file

# Lines of a child-process node's output a summary shows when frames got no result.
NODE_LOG_LINES = 20
# Frames in a row without a result after which the node counts as no longer answering.
MAX_SILENT_FRAMES = 3
WARM_UP_REPUBLISH_S = 1.0
DRAIN_TIMEOUT_S = 2.0


class ReplayError(RuntimeError):
    """The replay cannot run: unreadable bag, node that does not start or exits."""


@dataclass
class ReplayOptions:
    """What to replay, through which node, at what pace, recorded where.

    :param bag: rosbag2 directory with the camera topics.
    :param config: the :class:`~edge_perception.replay.node_config.NodeConfig` of the node to run.
    :param record: bag directory to record the node's outputs into; None records nothing.
    :param storage: ``mcap`` (zstd chunk compression) or ``sqlite3``.
    :param rate: playback speed relative to the recording; None for lockstep.
    :param subprocess: run the node in a child process instead of this one.
    :param image_topic: image topic in the bag.
    :param camera_info_topic: camera info topic in the bag.
    :param outputs: the node's output topics to record (relative names); None for all.
    :param timeout_s: lockstep: seconds to wait for one frame's result.
    :param startup_timeout_s: seconds for the node to come up and answer the first frame.
    """

    bag: str
    config: NodeConfig
    record: str | None = None
    storage: str = 'mcap'
    rate: float | None = None
    subprocess: bool = False
    image_topic: str = DEFAULT_IMAGE_TOPIC
    camera_info_topic: str = DEFAULT_CAMERA_INFO_TOPIC
    outputs: tuple | None = None
    timeout_s: float = 10.0
    startup_timeout_s: float = 60.0


@dataclass
class ReplayResult:
    """What a replay did.

    :param frames: image frames in the bag.
    :param sent: frames published (fewer than ``frames`` when the node stopped answering).
    :param recorded: ``{topic: messages recorded}``.
    :param missing: recorded image stamps (ns) of frames whose result did not come back.
    :param wall_s: seconds from the first frame published to the last result.
    :param lockstep: whether the replay ran in lockstep.
    :param stopped_answering: why a lockstep replay ended early; empty when it did not.
    :param node_log: the child process's output (``subprocess`` only).
    :param stamp_map: timed replay: ``{published stamp: recorded stamp}`` (ns).
    """

    frames: int
    sent: int
    recorded: dict
    missing: list
    wall_s: float
    lockstep: bool
    stopped_answering: str = ''
    node_log: str = ''
    stamp_map: dict = field(default_factory=dict)

    def summary(self, record=None):
        """One paragraph on what the replay did; ``record``: where it was recorded."""
        pace = 'lockstep' if self.lockstep else 'timed'
        recorded = ', '.join(f'{topic} {count}' for topic, count in self.recorded.items())
        lines = [f'{self.sent}/{self.frames} frames replayed ({pace}) in {self.wall_s:.2f} s; '
                 f'received {recorded}' + (f'; recorded into {record}' if record else '')]
        if self.missing:
            lines.append(f'{len(self.missing)} frames without a result (stamps, ns): '
                         f"{', '.join(map(str, self.missing[:10]))}"
                         + (' ...' if len(self.missing) > 10 else ''))
            if self.node_log:
                lines.append('the node said:\n' + '\n'.join(
                    self.node_log.strip().splitlines()[-NODE_LOG_LINES:]))
        return '\n'.join(lines)


def replay(options, log=print):
    """Replay ``options.bag`` through the configured node; record its outputs.

    :param options: :class:`ReplayOptions`.
    :param log: called with one line per frame that gets no result.
    :raises ReplayError: when the bag has no frames, or the node does not start, declares no
        parameter of that name, or exits.
    """
    frames, types = _camera_frames(options)
    with tempfile.TemporaryDirectory(prefix='edge_perception_replay_') as scratch:
        with ProbeGraph('edge_perception_replay') as graph:
            session = _Session(options, frames, types, graph, Path(scratch), log)
            try:
                result = session.run()
            except GraphError as error:
                raise ReplayError(str(error)) from error
            finally:
                session.close()
        # The graph has stopped the node process: its output is complete.
        result.node_log = session.process.output if session.process else ''
        return result


def _camera_frames(options):
    topics = {options.image_topic}
    if 'camera_info' in options.config.kind.inputs:
        topics.add(options.camera_info_topic)
    try:
        frames, types = read_frames(options.bag, topics)
    except BagError as error:
        raise ReplayError(str(error)) from error
    frames = [frame for frame in frames if options.image_topic in frame.messages]
    if not frames:
        raise ReplayError(f"no {options.image_topic} messages in '{options.bag}'")
    stamps = [header_stamp_ns(frame.messages[options.image_topic]) for frame in frames]
    if len(set(stamps)) != len(stamps):
        raise ReplayError(f"images in '{options.bag}' share header stamps: outputs could not "
                          'be paired with their frames')
    return frames, types


class _Session:
    """One replay: the node under test, the player, the recorder, and the pacing."""

    def __init__(self, options, frames, types, graph, scratch, log):
        self.options = options
        self.kind = options.config.kind
        self.frames = frames
        self.types = types
        self.graph = graph
        self.scratch = scratch
        self.log = log
        self.stamps = [header_stamp_ns(frame.messages[options.image_topic]) for frame in frames]
        self.recorded_stamps = set(self.stamps)
        self.stamps_sent = []
        self.stamp_map = {}
        outputs = options.outputs or tuple(self.kind.outputs)
        self.outputs = {f'/{topic}': self.kind.outputs[topic] for topic in outputs}
        self.awaited = [f'/{topic}' for topic in (self.kind.result_topic, TIMING_TOPIC)
                        if topic in outputs]
        if not self.awaited:
            raise ReplayError(f'record {self.kind.result_topic} or {TIMING_TOPIC}: a replay '
                              'waits for one of them')
        self.recorder = None
        self.node = None
        self.process = None

    def _start(self):
        bag_topics = {'image': self.options.image_topic,
                      'camera_info': self.options.camera_info_topic}
        remappings = {name: bag_topics[name] for name in self.kind.inputs}
        probe = self.graph.probe
        self.player = FramePublisher(probe, {topic: self.types[topic] for topic in
                                             remappings.values() if topic in self.types})
        self.recorder = BagRecorder(probe, self.outputs, self.options.record,
                                    self.options.storage, accept=self._accept)
        if self.options.subprocess:
            params_file = self.scratch / f'{self.kind.name}.yaml'
            write_params_file(self.options.config, params_file)
            self.process = self.graph.start_process(self.kind.name, remappings=remappings,
                                                    params_file=params_file)
        else:
            self.node = self._start_in_process(remappings)

    def _start_in_process(self, remappings):
        module_name, class_name = self.kind.node_class.split(':')
        node_class = getattr(importlib.import_module(module_name), class_name)
        try:
            return self.graph.start(node_class, remappings=remappings,
                                    **self.options.config.parameters)
        except (TypeError, *STARTUP_ERRORS) as error:
            raise ReplayError(f'{self.kind.name} cannot start: {error}') from error

    def run(self):
        self._start()
        self.graph.wait_until_connected(*self.player.publishers.values(),
                                        *self.recorder.subscriptions.values(),
                                        timeout_s=self.options.startup_timeout_s)
        undeclared = self._undeclared()
        if undeclared:
            raise ReplayError(
                f"{self.kind.name} declares no parameter {', '.join(undeclared)} (set in "
                f"{self.options.config.source})")
        self._warm_up()
        started = time.perf_counter()
        lockstep = self.options.rate is None
        stopped = self._play_lockstep() if lockstep else self._play_timed()
        self._drain()
        wall_s = time.perf_counter() - started
        if lockstep:
            sent = len(self.stamps_sent)
            missing = [stamp for stamp in self.stamps_sent if not self._answered(stamp)]
        else:
            sent = len(self.stamp_map)
            missing = [recorded for published, recorded in self.stamp_map.items()
                       if not self._answered(published)]
            self.recorder.set_custom_data(STAMP_MAP_KEY, json.dumps(
                {str(published): recorded for published, recorded in self.stamp_map.items()}))
        self.recorder.set_custom_data(REPLAY_KEY, json.dumps({
            'bag': str(self.options.bag), 'config': self.options.config.source,
            'node': self.kind.name, 'pace': 'lockstep' if lockstep else
            f'timed x{self.options.rate}', 'in_process': not self.options.subprocess}))
        return ReplayResult(len(self.frames), sent, dict(self.recorder.counts), missing, wall_s,
                            lockstep, stopped, stamp_map=dict(self.stamp_map))

    def close(self):
        if self.recorder is not None:
            self.recorder.close()

    def _accept(self, topic, message):
        stamp = header_stamp_ns(message)
        return stamp in self.stamp_map if self.options.rate is not None else \
            stamp in self.recorded_stamps

    def _answered(self, stamp):
        return all(stamp in self.recorder.stamps_seen[topic] for topic in self.awaited)

    def _undeclared(self):
        """Return the configured parameters the node does not declare.

        A node process is asked which parameters it has: an entry of its params file that it
        does not declare is ignored without a word.
        """
        names = self.options.config.parameters
        if self.node is not None:
            return [name for name in names if not self.node.has_parameter(name)]
        probe = self.graph.probe
        client = probe.create_client(ListParameters, f'/{self.kind.name}/list_parameters')
        try:
            answer = self.graph.call(client, ListParameters.Request(), 10.0)
            if answer is None:
                raise ReplayError(f'{self.kind.name} does not answer list_parameters')
            declared = set(answer.result.names)
        finally:
            probe.destroy_client(client)
        return [name for name in names if name not in declared]

    def _warm_up(self):
        taken = set(self.stamps)
        warm_up_stamp = 0 if 0 not in taken else max(taken) + 1

        def publish(attempt):
            self.player.publish(self.frames[attempt % len(self.frames)], time_msg(warm_up_stamp))
            return warm_up_stamp

        self.graph.warm_up(publish, self._answered, self.options.startup_timeout_s,
                           WARM_UP_REPUBLISH_S)

    def _wait_for_result(self, stamp, timeout_s):
        """Spin until the frame stamped ``stamp`` is answered or the node exits."""
        return self.graph.wait_for(lambda: self._answered(stamp) or not self.graph.running(),
                                   timeout_s)

    def _play_lockstep(self):
        silent = 0
        for index, (frame, stamp) in enumerate(zip(self.frames, self.stamps, strict=True)):
            self.player.publish(frame, time_msg(stamp))
            self.stamps_sent.append(stamp)
            answered = self._wait_for_result(stamp, self.options.timeout_s)
            self.graph.ensure_running(f'at frame {index}')
            if answered:
                silent = 0
                continue
            silent += 1
            self.log(f'frame {index} (stamp {stamp} ns): no result within '
                     f'{self.options.timeout_s:g} s')
            if silent >= MAX_SILENT_FRAMES:
                return (f'{self.kind.name} stopped answering: no result for {silent} frames in '
                        f'a row (up to frame {index}); {len(self.frames) - index - 1} frames '
                        'not sent')
        return ''

    def _play_timed(self):
        started = time.perf_counter()
        first_ns = self.frames[0].timestamp_ns
        previous = 0
        for index, frame in enumerate(self.frames):
            due = started + (frame.timestamp_ns - first_ns) / 1e9 / self.options.rate
            self.graph.spin_for(due - time.perf_counter())
            self.graph.ensure_running(f'at frame {index}')
            published = max(self.graph.probe.get_clock().now().nanoseconds, previous + 1)
            previous = published
            self.stamp_map[published] = self.stamps[index]
            self.player.publish(frame, time_msg(published))
        self._wait_for_result(previous, self.options.timeout_s)
        return ''

    def _drain(self):
        """Wait for outputs that trail the awaited ones (a cloud after its depth image)."""
        sent = self.stamps_sent if self.options.rate is None else list(self.stamp_map)
        answered = [stamp for stamp in sent if self._answered(stamp)]
        if answered:
            self.graph.wait_for(lambda: all(
                answered[-1] in seen for seen in self.recorder.stamps_seen.values() if seen),
                DRAIN_TIMEOUT_S)
