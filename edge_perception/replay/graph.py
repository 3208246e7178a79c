"""Driving a node under test from a probe node, and waiting on a ROS graph without sleeping.

:class:`ProbeGraph` is the one harness the replay, soak and demo tools, the scripts and the
tests share: a private rclpy context with a probe node and an executor; the node under test
started in this process or as its own process; probe publishers and subscriptions; waits with
timeouts for discovery, for results and for the warm-up. It knows nothing of what the node
computes.
"""

import itertools
from pathlib import Path
import time
from typing import NamedTuple

import rclpy
from rclpy.executors import SingleThreadedExecutor
from rclpy.parameter import Parameter
from rclpy.publisher import Publisher
from rclpy.qos import qos_profile_sensor_data, QoSProfile, QoSReliabilityPolicy

from edge_perception.messages import stamp_ns
from edge_perception.nodes.dds_profile import apply_large_message_profile
from edge_perception.replay.node_process import NodeProcess

# What the nodes publish reliably, the probe receives reliably, with room for a short burst.
RELIABLE = QoSProfile(depth=10, reliability=QoSReliabilityPolicy.RELIABLE)
# Discovery usually matches within 0.1 s but has taken seconds, and a node process first
# imports its libraries and loads its model.
CONNECT_TIMEOUT_S = 30.0


class Arrival(NamedTuple):
    """A message the probe received, and when (``time.perf_counter()``, in seconds)."""

    time_s: float
    message: object


class GraphError(RuntimeError):
    """The node under test did not connect, did not answer, or its process exited."""


def spin_until(executor, predicate, timeout_s, step_s=0.005):
    """Spin ``executor`` until ``predicate()`` is true or ``timeout_s`` has passed.

    :return: whether ``predicate()`` became true in time.
    """
    deadline = time.perf_counter() + timeout_s
    while not predicate():
        remaining = deadline - time.perf_counter()
        if remaining <= 0:
            return False
        executor.spin_once(timeout_sec=min(remaining, step_s))
    return True


class ProbeGraph:
    """A private rclpy context with a probe node and an executor, and the nodes under test.

    A context manager: leaving it stops the node processes, destroys the nodes and shuts the
    context down. The package's Fast DDS profile is applied before ``rclpy.init``, so camera-
    sized messages reach the node processes too (they inherit the environment).

    :param name: the probe node's name.
    :param connect_timeout_s: seconds :meth:`wait_until_connected` waits by default.
    :ivar probe: the probe node; its clock stamps frames, and a tool may create endpoints of
        its own on it (a bag player, a recorder).
    :ivar nodes: the nodes under test started in this process.
    :ivar processes: the node processes started.
    """

    def __init__(self, name='probe', connect_timeout_s=CONNECT_TIMEOUT_S):
        # The probe's side needs the profile as much as the node's: without it a 640x480
        # image does not fit Fast DDS's shared memory and about half of them are lost.
        apply_large_message_profile()
        self.connect_timeout_s = connect_timeout_s
        self.context = rclpy.Context()
        rclpy.init(context=self.context)
        self.executor = SingleThreadedExecutor(context=self.context)
        self.probe = rclpy.create_node(name, context=self.context)
        self.executor.add_node(self.probe)
        self.nodes = []
        self.processes = []

    def __enter__(self):
        return self

    def __exit__(self, *exc_info):
        self.close()

    def close(self):
        """Stop the node processes, destroy the nodes and the probe, shut the context down."""
        for process in self.processes:
            process.stop()
        for node in self.nodes:
            self.executor.remove_node(node)
            node.destroy_node()
        self.executor.shutdown()
        self.probe.destroy_node()
        rclpy.try_shutdown(context=self.context)

    def start(self, node_class, /, remappings=None, **parameters):
        """Create a node under test in this process and spin it with the probe.

        :param node_class: an ``rclpy.node.Node`` subclass taking ``context``, ``cli_args``
            and ``parameter_overrides``.
        :param remappings: ``{from: to}`` topic remappings.
        :param parameters: parameter overrides, ``name=value``.
        :return: the node; what its constructor raises when it cannot start propagates.
        """
        node = node_class(context=self.context, cli_args=_remapping_arguments(remappings),
                          parameter_overrides=[Parameter(name, value=value)
                                               for name, value in parameters.items()])
        self.nodes.append(node)
        self.executor.add_node(node)
        return node

    def start_process(self, command, /, remappings=None, params_file=None, **parameters):
        """Start an installed node command as its own process, as ``ros2 run`` would.

        :param command: installed command name, e.g. ``'depth_node'``, or the absolute path of
            another node executable (a test's own node).
        :param remappings: ``{from: to}`` topic remappings.
        :param params_file: ROS 2 parameter file; ``parameters`` override its values.
        :param parameters: parameter values, ``name=value``.
        :return: the :class:`~edge_perception.replay.node_process.NodeProcess`.
        """
        process = NodeProcess(command, parameters, remappings, params_file)
        self.processes.append(process)
        return process

    def running(self):
        """Return whether every node process started is still running."""
        return all(process.running() for process in self.processes)

    def ensure_running(self, doing):
        """Raise :class:`GraphError` with its output when a node process has exited.

        :param doing: when, for the message, e.g. ``'at frame 3'``.
        """
        for process in self.processes:
            if not process.running():
                process.stop()  # collects the rest of its output
                raise GraphError(f'{_command(process)} exited {doing}:\n{process.output.strip()}')

    def publisher(self, message_type, topic, qos=qos_profile_sensor_data, wait=True):
        """Return a probe publisher.

        :param qos: sensor-data QoS (best effort) by default, as a camera publishes.
        :param wait: wait until the node under test has subscribed
            (:meth:`wait_until_connected`).
        """
        publisher = self.probe.create_publisher(message_type, topic, qos)
        if wait:
            self.wait_until_connected(publisher)
        return publisher

    def subscribe(self, message_type, topic, callback, qos=RELIABLE, wait=True):
        """Return a probe subscription calling ``callback(message)``.

        :param qos: reliable by default, as the nodes publish.
        :param wait: wait until the node under test publishes ``topic``
            (:meth:`wait_until_connected`).
        """
        subscription = self.probe.create_subscription(message_type, topic, callback, qos)
        if wait:
            self.wait_until_connected(subscription)
        return subscription

    def collect(self, message_type, topic, qos=RELIABLE, wait=True):
        """Subscribe the probe to ``topic``; return the list its messages are appended to.

        :param qos: reliable by default.
        :param wait: wait until the node under test publishes ``topic``.
        """
        received = []
        self.subscribe(message_type, topic, received.append, qos, wait)
        return received

    def collect_by_stamp(self, message_type, topic, qos=RELIABLE, wait=True):
        """Subscribe the probe to ``topic``; return ``{header stamp (ns): Arrival}``.

        The first message of each stamp is kept, with the time it arrived.

        :param qos: reliable by default.
        :param wait: wait until the node under test publishes ``topic``.
        """
        received = {}
        self.subscribe(message_type, topic, lambda message: received.setdefault(
            stamp_ns(message), Arrival(time.perf_counter(), message)), qos, wait)
        return received

    def wait_for(self, predicate, timeout_s=10.0):
        """Spin until ``predicate()`` is true; return whether it became true in time."""
        return spin_until(self.executor, predicate, timeout_s)

    def call(self, client, request, timeout_s=10.0, resend_s=2.0):
        """Call a service with a request that changes nothing, resending it until answered.

        A client counts the service as ready once it found the server's request reader; the
        server may not have found the client's response reader yet, and a response sent then
        is lost (DDS discovery is not symmetric). Resending is safe only because the request
        is idempotent (a query, an empty or unchanged setting, a refused transition).

        :return: the response, or None when none came within ``timeout_s``.
        """
        if not self.wait_for(client.service_is_ready, timeout_s):
            return None
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            future = client.call_async(request)
            if self.wait_for(future.done, min(resend_s, max(0.0, deadline - time.monotonic()))):
                return future.result()
        return None

    def spin_for(self, seconds):
        """Spin for ``seconds`` (a pace to keep, or time for what should not come to not come)."""
        spin_until(self.executor, lambda: False, seconds)

    def wait_until_connected(self, *endpoints, timeout_s=None):
        """Wait until every probe publisher has a subscriber and every subscription a publisher.

        :param endpoints: rclpy publishers and subscriptions of the probe.
        :param timeout_s: seconds; None for the graph's ``connect_timeout_s``.
        :raises GraphError: when they are not matched in time, or as soon as a node process
            exits.
        """
        timeout_s = self.connect_timeout_s if timeout_s is None else timeout_s
        if not self.wait_for(lambda: not self.running() or not self._unmatched(endpoints),
                             timeout_s):
            raise GraphError(f'{self._under_test()} did not connect within {timeout_s:g} s '
                             f"({'; '.join(self._unmatched(endpoints))}){self._process_output()}")
        self.ensure_running('during start-up')

    def warm_up(self, publish, answered, timeout_s, retry_s=1.0):
        """Publish frames until one is answered.

        The first frame compiles the model for its resolution, and best-effort frames sent
        before discovery has matched are lost; so a frame goes out again each ``retry_s``
        until one is answered.

        :param publish: ``publish(attempt) -> sent`` publishes the frame of attempt 0, 1, ...
            (the next frame on each attempt, so that one the node rejects does not stall the
            start) and returns what identifies it, e.g. its stamp.
        :param answered: ``answered(sent) -> bool``.
        :param timeout_s: seconds to get an answer.
        :param retry_s: seconds to wait for an answer before publishing again.
        :return: ``sent`` of the frame answered.
        :raises GraphError: when no frame is answered in time, or a node process exits.
        """
        deadline = time.perf_counter() + timeout_s
        for attempt in itertools.count():
            self.ensure_running('during start-up')
            remaining = deadline - time.perf_counter()
            if remaining <= 0:
                raise GraphError(f'{self._under_test()} returned no result within '
                                 f'{timeout_s:g} s ({attempt} frames sent)'
                                 f'{self._process_output()}')
            sent = publish(attempt)
            if self.wait_for(lambda sent=sent: answered(sent) or not self.running(),
                             min(retry_s, remaining)) and answered(sent):
                return sent

    def _unmatched(self, endpoints):
        """Describe the probe's publishers without a subscriber and subscriptions without a
        publisher among ``endpoints``.
        """
        unmatched = []
        for endpoint in endpoints:
            if isinstance(endpoint, Publisher):
                if endpoint.get_subscription_count() == 0:
                    unmatched.append(f'nothing subscribes to {endpoint.topic_name}')
            elif publisher_count(endpoint, self.probe) == 0:
                unmatched.append(f'nothing publishes {endpoint.topic_name}')
        return unmatched

    def _under_test(self):
        names = [node.get_name() for node in self.nodes] + \
            [_command(process) for process in self.processes]
        return ', '.join(names) or 'the graph'

    def _process_output(self):
        return ''.join(f'\n{_command(process)} said:\n{process.output.strip()}'
                       for process in self.processes)


def _remapping_arguments(remappings):
    if not remappings:
        return None
    arguments = ['--ros-args']
    for source, target in remappings.items():
        arguments += ['-r', f'{source}:={target}']
    return arguments


def publisher_count(subscription, node):
    """Return how many publishers ``subscription``, of ``node``, is matched with.

    Humble's rclpy has no ``Subscription.get_publisher_count()`` (Jazzy's and Kilted's have):
    there, the publishers of its topic in ``node``'s graph are counted instead.
    """
    count = getattr(subscription, 'get_publisher_count', None)
    if count is not None:
        return count()
    return node.count_publishers(subscription.topic_name)


def _command(process):
    return Path(process.arguments[0]).name
