"""The managed (lifecycle) depth node in its own process, driven through ``~/change_state`` and
``~/get_state`` as a lifecycle manager drives it: every transition, what each state publishes,
that ``deactivate`` releases the device, and that a failed transition shows on /diagnostics
and can be retried.
"""

import gc
import statistics
import time
import weakref

from diagnostic_msgs.msg import DiagnosticArray
from lifecycle_msgs.msg import State, Transition
from lifecycle_msgs.srv import ChangeState, GetState
import numpy as np
from rcl_interfaces.msg import Parameter, ParameterType, ParameterValue
from rcl_interfaces.srv import SetParameters
from rclpy.lifecycle import TransitionCallbackReturn
from sensor_msgs.msg import Image

from edge_perception.messages import image_msg, stamp_ns
from edge_perception.nodes.depth_node import DepthNode
from edge_perception.replay.node_process import NodeProcess

from ros_helpers import depth_array, level
from tiny_models import constant_depth_model, write_model

WIDTH, HEIGHT = 64, 48
DIAGNOSTIC_PERIOD_S = 0.2


class LifecycleClient:
    """``~/change_state``, ``~/get_state`` and ``~/set_parameters`` of one node, from the probe."""

    def __init__(self, graph, node):
        self.graph = graph
        self._change = graph.probe.create_client(ChangeState, f'{node}/change_state')
        self._get = graph.probe.create_client(GetState, f'{node}/get_state')
        self._set = graph.probe.create_client(SetParameters, f'{node}/set_parameters')
        for client in (self._change, self._get, self._set):
            assert graph.wait_for(client.service_is_ready, 30.0), client.srv_name
        # Calls that change nothing, resent until answered (ProbeGraph.call says why), prove
        # the node's response paths to this probe before the test's own calls, which must not
        # be sent twice.
        for client, harmless in ((self._get, GetState.Request()),
                                 (self._set, SetParameters.Request(parameters=[]))):
            assert graph.call(client, harmless, 30.0) is not None, client.srv_name

    def _call(self, client, request):
        future = client.call_async(request)
        assert self.graph.wait_for(future.done, 30.0), f'{client.srv_name} did not answer'
        return future.result()

    def change(self, transition_id):
        return self._call(self._change, ChangeState.Request(
            transition=Transition(id=transition_id))).success

    def state(self):
        return self._call(self._get, GetState.Request()).current_state.id

    def set_string(self, name, value):
        parameter = Parameter(name=name, value=ParameterValue(
            type=ParameterType.PARAMETER_STRING, string_value=value))
        return self._call(self._set, SetParameters.Request(parameters=[parameter])).results[0]


def frame(index):
    return image_msg(np.full((HEIGHT, WIDTH, 3), 100, np.uint8), 'rgb8',
                     stamp=(index + 1) * 1_000_000)


def latest_status(diagnostics, node_name):
    statuses = [status for msg in diagnostics for status in msg.status
                if status.name.startswith(f'{node_name}:')]
    return statuses[-1] if statuses else None


def status_values(status):
    return {value.key: value.value for value in status.values}


def fresh_status(graph, diagnostics, node_name, predicate=lambda status: True):
    """Wait for a /diagnostics report of ``node_name`` sent from now on that fits."""
    diagnostics.clear()
    found = []

    def arrived():
        status = latest_status(diagnostics, node_name)
        if status is not None and predicate(status):
            found.append(status)
        return bool(found)

    assert graph.wait_for(arrived, 10.0), [msg.status for msg in diagnostics]
    return found[0]


def test_every_transition_across_processes_and_deactivate_releases_the_device(ros_graph,
                                                                              tmp_path):
    model = write_model(constant_depth_model(24, 32, 2.0), tmp_path, 'constant')
    node = ros_graph.start_process('depth_node', model=model, autostart=False,
                                   diagnostic_period=DIAGNOSTIC_PERIOD_S)
    images = ros_graph.publisher(Image, 'image', wait=False)
    depth = ros_graph.collect_by_stamp(Image, 'depth', wait=False)
    diagnostics = ros_graph.collect(DiagnosticArray, '/diagnostics', wait=False)
    lifecycle = LifecycleClient(ros_graph, '/depth_node')

    assert lifecycle.state() == State.PRIMARY_STATE_UNCONFIGURED
    status = fresh_status(ros_graph, diagnostics, 'depth_node')
    assert status_values(status)['lifecycle_state'] == 'unconfigured' and level(status) == 0
    assert images.get_subscription_count() == 0

    assert lifecycle.change(Transition.TRANSITION_CONFIGURE)
    assert lifecycle.state() == State.PRIMARY_STATE_INACTIVE
    assert images.get_subscription_count() == 0  # configured, not yet listening

    assert lifecycle.change(Transition.TRANSITION_ACTIVATE)
    assert lifecycle.state() == State.PRIMARY_STATE_ACTIVE
    ros_graph.wait_until_connected(images)
    ros_graph.warm_up(lambda attempt: images.publish(frame(0)), lambda _: depth, 30.0)
    round_trips = []
    for index in range(1, 4):
        sent = time.perf_counter()
        images.publish(frame(index))
        assert ros_graph.wait_for(lambda index=index: stamp_ns(frame(index)) in depth)
        round_trips.append(time.perf_counter() - sent)
    np.testing.assert_allclose(depth_array(depth[stamp_ns(frame(3))].message), 2.0)
    status = fresh_status(ros_graph, diagnostics, 'depth_node',
                          lambda status: status_values(status)['lifecycle_state'] == 'active')
    assert status_values(status)['device_held'] == 'true'

    assert lifecycle.change(Transition.TRANSITION_DEACTIVATE)
    assert lifecycle.state() == State.PRIMARY_STATE_INACTIVE
    assert ros_graph.wait_for(lambda: images.get_subscription_count() == 0)
    status = fresh_status(ros_graph, diagnostics, 'depth_node')
    assert status_values(status) | {'last_error': ''} == {
        'lifecycle_state': 'inactive', 'device_held': 'false', 'last_error': ''}
    assert level(status) == 0 and 'released' in status.message
    # Nothing comes back while inactive, waited for many times what one frame took.
    images.publish(frame(10))
    ros_graph.spin_for(max(0.5, 20 * statistics.median(round_trips)))
    assert stamp_ns(frame(10)) not in depth

    # The released device serves another process.
    with NodeProcess('depth_node', {'model': model}, {'__node': 'second_depth',
                                                      'depth': 'second/depth',
                                                      'image': 'second/image'}) as second:
        second_images = ros_graph.publisher(Image, 'second/image', wait=False)
        second_depth = ros_graph.collect(Image, 'second/depth', wait=False)
        ros_graph.warm_up(lambda attempt: second_images.publish(frame(20)),
                          lambda _: second_depth, 30.0)
        assert second.stop() == 0, second.output

    assert lifecycle.change(Transition.TRANSITION_ACTIVATE)  # the stream compiles again
    ros_graph.wait_until_connected(images)
    ros_graph.warm_up(lambda attempt: images.publish(frame(30 + attempt)),
                      lambda _: any(stamp >= stamp_ns(frame(30)) for stamp in depth), 30.0)

    assert lifecycle.change(Transition.TRANSITION_DEACTIVATE)
    assert lifecycle.change(Transition.TRANSITION_CLEANUP)
    assert lifecycle.state() == State.PRIMARY_STATE_UNCONFIGURED
    # Not from unconfigured: refused with success false on every distribution (Humble's and
    # Jazzy's rclpy would raise out of spin and end the process).
    assert not lifecycle.change(Transition.TRANSITION_ACTIVATE)
    assert lifecycle.state() == State.PRIMARY_STATE_UNCONFIGURED and node.running()
    assert ros_graph.wait_for(lambda: 'transition 3 refused: the unconfigured state has '
                              'transitions' in node.output), node.output
    assert lifecycle.change(Transition.TRANSITION_UNCONFIGURED_SHUTDOWN)
    node.process.wait(timeout=30)
    assert node.stop() == 0, node.output
    assert 'Traceback' not in node.output


def test_a_failed_configure_is_reported_and_can_be_retried_with_a_fixed_parameter(ros_graph,
                                                                                  tmp_path):
    model = write_model(constant_depth_model(24, 32, 2.0), tmp_path, 'constant')
    node = ros_graph.start_process('depth_node', model=str(tmp_path / 'missing.xml'),
                                   autostart=False, diagnostic_period=DIAGNOSTIC_PERIOD_S)
    diagnostics = ros_graph.collect(DiagnosticArray, '/diagnostics', wait=False)
    lifecycle = LifecycleClient(ros_graph, '/depth_node')

    assert not lifecycle.change(Transition.TRANSITION_CONFIGURE)
    assert lifecycle.state() == State.PRIMARY_STATE_UNCONFIGURED
    status = fresh_status(ros_graph, diagnostics, 'depth_node')
    assert level(status) == 2, status
    assert 'configure failed' in status.message and 'does not exist' in status.message

    assert lifecycle.set_string('model', str(model)).successful  # allowed while unconfigured
    assert lifecycle.change(Transition.TRANSITION_CONFIGURE)
    assert lifecycle.change(Transition.TRANSITION_ACTIVATE)
    status = fresh_status(ros_graph, diagnostics, 'depth_node',
                          lambda status: status_values(status)['lifecycle_state'] == 'active')
    assert level(status) == 0 and status_values(status)['last_error'] == ''
    refused = lifecycle.set_string('model', str(tmp_path / 'other.xml'))
    assert not refused.successful and 'read when the node is configured' in refused.reason
    assert node.running()
    assert node.stop() == 0, node.output


def test_deactivate_lets_go_of_every_compiled_model_and_infer_request(ros_graph, tmp_path):
    """Released means the OpenVINO objects are gone (weak references die), not a flag."""
    model = write_model(constant_depth_model(24, 32, 2.0), tmp_path, 'constant')
    node = ros_graph.start(DepthNode, model=str(model))
    images = ros_graph.publisher(Image, 'image')
    depth = ros_graph.collect_by_stamp(Image, 'depth')
    held = [weakref.ref(node.pipeline._device_hold)]  # compiled at activate, before any frame
    for index, (width, height) in enumerate(((64, 48), (32, 24))):
        image = image_msg(np.full((height, width, 3), 100, np.uint8), 'rgb8',
                          stamp=index + 1)
        ros_graph.warm_up(lambda attempt, image=image: images.publish(image),
                          lambda _, index=index: index + 1 in depth, 30.0)
    assert node.pipeline.compiled_streams == 2
    held += [weakref.ref(stream.compiled) for stream in node.pipeline._streams.values()]
    held += [weakref.ref(slot.request) for stream in node.pipeline._streams.values()
             for slot in stream.engine._slots]

    assert node.trigger_deactivate() == TransitionCallbackReturn.SUCCESS
    gc.collect()
    alive = [reference() for reference in held if reference() is not None]
    assert not alive, f'still alive after deactivate: {alive}'

    assert node.trigger_activate() == TransitionCallbackReturn.SUCCESS
    ros_graph.warm_up(lambda attempt: images.publish(image_msg(
        np.full((48, 64, 3), 100, np.uint8), 'rgb8', stamp=10 + attempt)),
        lambda _: any(stamp >= 10 for stamp in depth), 30.0)
