"""Thousands of malformed Image and CameraInfo messages thrown at a running depth node.

Pass: no exception escapes a callback (in this process the executor would raise it), every
malformed frame is refused as bad input and none as a bug (``internal_errors`` stays 0: a
``TypeError`` inside the pipeline would count there, not as rejected), the node process stays
up, and a valid frame sent afterwards gets the right depth.
"""

from diagnostic_msgs.msg import DiagnosticArray
from hypothesis import given, HealthCheck, settings
from hypothesis import strategies as st
import numpy as np
import pytest
from rclpy.qos import QoSProfile, QoSReliabilityPolicy
from sensor_msgs.msg import CameraInfo, Image, PointCloud2

from edge_perception.core.depth_geometry import PinholeIntrinsics
from edge_perception.messages import camera_info_msg, image_msg, stamp_ns
from edge_perception.nodes.depth_node import DepthNode

from malformed_messages import camera_info, malformed_image
from ros_helpers import counter_grows, depth_array
from tiny_models import red_channel_depth_model, write_model

WIDTH, HEIGHT = 64, 48
RELIABLE = QoSProfile(depth=10, reliability=QoSReliabilityPolicy.RELIABLE)


def fuzz_settings(max_examples):
    """Reproducible runs (CI gates on them), no per-example deadline (recompiles take time)."""
    return settings(max_examples=max_examples, deadline=None, derandomize=True,
                    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])


@pytest.fixture
def red_model(tmp_path):
    return write_model(red_channel_depth_model(24, 32), tmp_path, 'red')


def deliver(graph, publisher, msg, delivered):
    """Publish until the node has taken the message (best-effort subscription)."""
    for _ in range(3):
        publisher.publish(msg)
        if graph.wait_for(delivered, timeout_s=3.0):
            return
    raise AssertionError('the node did not take the message')


VALID_STAMP_NS = 1_234_567_890


def valid_frame():
    """A 64x48 frame of red 150: depth 1.5 m everywhere through the red-channel model."""
    red = np.zeros((HEIGHT, WIDTH, 3), np.uint8)
    red[:, :, 0] = 150
    return image_msg(red, 'rgb8', stamp=VALID_STAMP_NS)


def depth_of_valid_frame(depth):
    """The depth image answering :func:`valid_frame`, or None (fuzzed frames may land too)."""
    for msg in depth:
        if stamp_ns(msg) == VALID_STAMP_NS:
            return msg
    return None


def test_malformed_messages_never_escape_a_callback(ros_graph, red_model):
    graph = ros_graph
    node = graph.start(DepthNode, model=str(red_model), mean=[0.0], scale=[1.0],
                       depth_scale=0.01, min_depth=0.0)
    images = graph.publisher(Image, 'image', RELIABLE)
    infos = graph.publisher(CameraInfo, 'camera_info', RELIABLE)
    depth = graph.collect(Image, 'depth')
    graph.collect(PointCloud2, 'points')

    @fuzz_settings(max_examples=1500)
    @given(messages=st.lists(st.one_of(malformed_image(), camera_info()), min_size=1,
                             max_size=3))
    def throw(messages):
        for msg in messages:
            if isinstance(msg, Image):
                deliver(graph, images, msg, counter_grows(lambda: node.frames_received))
            else:
                deliver(graph, infos, msg, counter_grows(lambda: node.camera_infos_received))

    throw()
    deliver(graph, infos, camera_info_msg(PinholeIntrinsics(50.0, 50.0, 31.5, 23.5, WIDTH, HEIGHT)),
            counter_grows(lambda: node.camera_infos_received))
    depth.clear()
    images.publish(valid_frame())
    assert graph.wait_for(lambda: depth_of_valid_frame(depth))
    np.testing.assert_allclose(depth_array(depth_of_valid_frame(depth)), 1.5, rtol=1e-6)
    assert node.frames_rejected > 1000 and node.frames_processed > 0
    assert node.internal_errors == 0, f'a frame hit a bug: {node.last_internal_error}'
    assert node.output_failures == 0, 'a result could not be published (see the log)'


def test_a_node_process_survives_malformed_streams(ros_graph, red_model):
    graph = ros_graph
    process = graph.start_process('depth_node', model=red_model, mean=[0.0], scale=[1.0],
                                  depth_scale=0.01, min_depth=0.0)
    images = graph.publisher(Image, 'image', RELIABLE)
    infos = graph.publisher(CameraInfo, 'camera_info', RELIABLE)
    depth = graph.collect(Image, 'depth')
    diagnostics = graph.collect(DiagnosticArray, '/diagnostics')

    @fuzz_settings(max_examples=25)
    @given(messages=st.lists(st.one_of(malformed_image(), camera_info()), min_size=40,
                             max_size=40))
    def throw(messages):
        for msg in messages:
            (images if isinstance(msg, Image) else infos).publish(msg)
            graph.spin_for(0.002)
        assert process.running(), process.output
        depth.clear()
        for _ in range(10):
            images.publish(valid_frame())
            if graph.wait_for(lambda: depth_of_valid_frame(depth), 2.0):
                break
        assert depth_of_valid_frame(depth), process.output[-3000:]
        np.testing.assert_allclose(depth_array(depth_of_valid_frame(depth)), 1.5, rtol=1e-6)

    throw()
    assert process.running()
    diagnostics.clear()
    assert graph.wait_for(lambda: diagnostics)
    values = {item.key: item.value for item in diagnostics[-1].status[0].values}
    assert int(values['frames_rejected']) > 200 and values['internal_errors'] == '0', values
    assert process.stop() == 0, process.output
    assert 'Traceback' not in process.output, process.output
