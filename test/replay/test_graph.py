"""The probe-graph harness on a real rclpy graph, with a real depth node in and out of process."""

import os
import re
import time

import numpy as np
import pytest
from sensor_msgs.msg import Image

from edge_perception.messages import image_msg
from edge_perception.msg import InferenceTiming
from edge_perception.nodes.dds_profile import (
    apply_large_message_profile,
    FAST_DDS_2_PROFILE_VARIABLE,
    localhost_discovery,
    PROFILE_FILE,
    PROFILE_VARIABLE,
    profile_variable,
    PROFILE_VARIABLES,
)
from edge_perception.nodes.depth_node import DepthNode
from edge_perception.package_paths import shared_file
from edge_perception.replay.graph import GraphError, ProbeGraph, publisher_count

from ros_helpers import depth_array
from tiny_models import constant_depth_model, write_model

WIDTH, HEIGHT = 64, 48


@pytest.fixture
def model(tmp_path):
    return str(write_model(constant_depth_model(24, 32, 2.0), tmp_path, 'constant'))


def camera_frame(stamp):
    return image_msg(np.zeros((HEIGHT, WIDTH, 3), np.uint8), 'rgb8', stamp=stamp)


def test_a_node_in_this_process_is_remapped_warmed_up_and_answers(ros_graph, model):
    graph = ros_graph
    node = graph.start(DepthNode, remappings={'image': 'camera/image'}, model=model)
    assert node.get_parameter('model').value == model and graph.nodes == [node]
    images = graph.publisher(Image, 'camera/image')
    depth = graph.collect_by_stamp(Image, 'depth')
    timings = graph.collect(InferenceTiming, 'inference_timing')
    sent_at = {}

    def publish(attempt):
        """Attempt 0 sends a frame the node rejects; the warm-up must go on to the next."""
        stamp = attempt + 1
        frame = camera_frame(stamp) if attempt else image_msg(
            np.zeros((HEIGHT, WIDTH), np.uint16), '16UC1', stamp=stamp)
        sent_at[stamp] = time.perf_counter()
        images.publish(frame)
        return stamp

    answered = graph.warm_up(publish, lambda stamp: stamp in depth, timeout_s=30.0,
                             retry_s=0.2)
    assert answered >= 2 and 1 not in depth and node.frames_rejected == 1
    arrival = depth[answered]
    assert sent_at[answered] < arrival.time_s <= time.perf_counter()
    np.testing.assert_allclose(depth_array(arrival.message), 2.0)
    assert graph.wait_for(lambda: any(timing.header == arrival.message.header
                                      for timing in timings))


def test_a_node_process_is_remapped_answers_and_is_stopped_on_close(model):
    with ProbeGraph('graph_test') as graph:
        process = graph.start_process('depth_node', remappings={'image': 'camera/image'},
                                      model=model, publish_points=False)
        images = graph.publisher(Image, 'camera/image')
        depth = graph.collect_by_stamp(Image, 'depth')

        def publish(attempt):
            images.publish(camera_frame(attempt + 1))
            return attempt + 1

        answered = graph.warm_up(publish, lambda stamp: stamp in depth, timeout_s=60.0)
        np.testing.assert_allclose(depth_array(depth[answered].message), 2.0)
        assert graph.running()
    assert not process.running() and process.process.returncode == 0, process.output
    assert not graph.context.ok()


def test_a_node_process_that_exits_fails_the_wait_at_once_with_its_output():
    timeout_s = 600.0
    with ProbeGraph('graph_test', connect_timeout_s=timeout_s) as graph:
        process = graph.start_process('depth_node', model='/no/such/model.xml')
        started = time.perf_counter()
        with pytest.raises(GraphError, match=re.compile(
                r"^depth_node exited during start-up:\n.*model file '/no/such/model.xml' "
                'does not exist', re.DOTALL)):
            graph.publisher(Image, 'image')
        waited_s = time.perf_counter() - started
        assert not graph.running() and process.process.returncode == 1
    # Ended by the exit, not by the timeout.
    assert waited_s < timeout_s


def test_endpoints_without_a_peer_time_out_naming_their_topics(ros_graph):
    images = ros_graph.publisher(Image, 'nobody_listens', wait=False)
    depth = ros_graph.subscribe(Image, 'nobody_talks', lambda msg: None, wait=False)
    with pytest.raises(GraphError, match='^the graph did not connect within 0.3 s '
                       r'\(nothing subscribes to /nobody_listens; nothing publishes '
                       r'/nobody_talks\)$'):
        ros_graph.wait_until_connected(images, depth, timeout_s=0.3)


def test_a_warm_up_without_an_answer_gives_up_at_its_timeout(ros_graph):
    attempts = []
    with pytest.raises(GraphError, match=r'the graph returned no result within 1 s \(\d+ '
                                         'frames sent\\)'):
        ros_graph.warm_up(lambda attempt: attempts.append(attempt), lambda sent: False,
                          timeout_s=1.0, retry_s=0.1)
    assert len(attempts) >= 2 and attempts == list(range(len(attempts)))


def test_the_fast_dds_profile_is_applied_before_the_context_starts(monkeypatch):
    for variable in PROFILE_VARIABLES:
        monkeypatch.delenv(variable, raising=False)
    with ProbeGraph('graph_test') as graph:
        # Only the name this Fast DDS reads: Fast DDS 3 warns about the other in every process.
        assert os.environ[profile_variable()] == str(shared_file(*PROFILE_FILE))
        assert [variable for variable in PROFILE_VARIABLES if variable in os.environ] == \
            [profile_variable()]
        assert graph.context.ok()


@pytest.mark.parametrize('distro, variable', [
    ('humble', FAST_DDS_2_PROFILE_VARIABLE),
    ('jazzy', FAST_DDS_2_PROFILE_VARIABLE),
    ('kilted', PROFILE_VARIABLE),
    ('rolling', PROFILE_VARIABLE),
])
def test_the_profile_goes_where_the_distribution_s_fast_dds_reads_it(distro, variable, tmp_path):
    environ = {'ROS_DISTRO': distro}
    assert apply_large_message_profile(environ) == str(shared_file(*PROFILE_FILE))
    assert environ == {'ROS_DISTRO': distro, variable: str(shared_file(*PROFILE_FILE))}
    mine = str(tmp_path / 'mine.xml')
    for other in PROFILE_VARIABLES:  # a profile the user set under either name wins
        environ = {'ROS_DISTRO': distro, other: mine}
        assert apply_large_message_profile(environ) is None
        assert environ[variable] == mine


def test_no_profile_where_another_dds_is_used():
    environ = {'RMW_IMPLEMENTATION': 'rmw_cyclonedds_cpp'}
    assert apply_large_message_profile(environ) is None
    assert environ == {'RMW_IMPLEMENTATION': 'rmw_cyclonedds_cpp'}


class HumbleSubscription:
    """A subscription as Humble's rclpy has it: no ``get_publisher_count()`` (added after)."""

    def __init__(self, subscription):
        self.topic_name = subscription.topic_name


def test_publishers_are_counted_where_a_subscription_cannot_count_them(ros_graph):
    subscription = ros_graph.probe.create_subscription(Image, 'counted', lambda _: None, 1)
    humble = HumbleSubscription(subscription)
    assert publisher_count(humble, ros_graph.probe) == publisher_count(
        subscription, ros_graph.probe) == 0
    other = ros_graph.start(DepthNode, remappings={'depth': 'counted'})
    assert ros_graph.wait_for(lambda: publisher_count(humble, ros_graph.probe) == 1, 30.0)
    assert ros_graph.wait_for(lambda: subscription.get_publisher_count() == 1, 30.0)
    ros_graph.wait_until_connected(subscription)
    assert other.get_name() == 'depth_node'


@pytest.mark.parametrize('distro, variables', [
    ('humble', {'ROS_LOCALHOST_ONLY': '1'}),
    ('jazzy', {'ROS_AUTOMATIC_DISCOVERY_RANGE': 'LOCALHOST'}),
    (None, {'ROS_AUTOMATIC_DISCOVERY_RANGE': 'LOCALHOST'}),  # the PyPI wheels set none
])
def test_discovery_stays_on_this_host_in_the_variable_the_distribution_knows(distro, variables):
    environ = {} if distro is None else {'ROS_DISTRO': distro}
    assert localhost_discovery(environ) == variables
