"""DepthNode on a real rclpy graph, in this process: values, headers, NaN handling, bad input."""

import math

import numpy as np
import pytest
import rclpy
from rclpy.executors import SingleThreadedExecutor
from rclpy.parameter import Parameter
from rclpy.qos import qos_profile_sensor_data
from sensor_msgs.msg import CameraInfo, Image, PointCloud2

from edge_perception.depth_node import DepthNode
from edge_perception.engine import DeviceUnavailableError, ModelLoadError
from edge_perception.msg import InferenceTiming
from edge_perception.pointcloud_layout import unpack_points
from ros_helpers import camera_info_msg, depth_array, image_msg, spin_until
from tiny_models import constant_depth_model, red_channel_depth_model, write_model

WIDTH, HEIGHT = 64, 48


class Probe:
    """A second node on the same graph that feeds the depth node and records what it says."""

    def __init__(self, context, executor):
        self.node = rclpy.create_node('probe', context=context)
        executor.add_node(self.node)
        self.image_publisher = self.node.create_publisher(Image, 'image', qos_profile_sensor_data)
        self.info_publisher = self.node.create_publisher(CameraInfo, 'camera_info', 1)
        self.depth, self.points, self.timing = [], [], []
        self.node.create_subscription(Image, 'depth', self.depth.append, 10)
        self.node.create_subscription(InferenceTiming, 'inference_timing', self.timing.append, 10)
        self.points_subscription = self.node.create_subscription(
            PointCloud2, 'points', self.points.append, 10)


@pytest.fixture
def graph():
    context = rclpy.Context()
    rclpy.init(context=context)
    executor = SingleThreadedExecutor(context=context)
    probe = Probe(context, executor)
    nodes = []

    def start(**parameters):
        node = DepthNode(context=context, parameter_overrides=[
            Parameter(name, value=value) for name, value in parameters.items()])
        nodes.append(node)
        executor.add_node(node)
        assert spin_until(executor, lambda: probe.image_publisher.get_subscription_count() > 0
                          and probe.node.count_publishers('depth') > 0)
        return node

    yield executor, probe, start
    for node in nodes:
        node.destroy_node()
    executor.shutdown()
    rclpy.shutdown(context=context)


def red_image(red_values):
    image = np.zeros((HEIGHT, WIDTH, 3), dtype=np.uint8)
    image[:, :, 0] = red_values
    return image


def test_depth_values_header_and_nan_range(graph, tmp_path):
    executor, probe, start = graph
    model = write_model(red_channel_depth_model(HEIGHT, WIDTH), tmp_path, 'red')
    start(model=str(model), mean=[0.0], scale=[1.0], depth_scale=0.01, min_depth=0.5,
          max_depth=2.0, preprocessing='graph')
    red = np.tile(np.arange(WIDTH, dtype=np.uint8) * 4, (HEIGHT, 1))  # 0 .. 252
    probe.image_publisher.publish(image_msg(red_image(red), 'rgb8', stamp_ns=1_500_000_042,
                                            frame_id='cam'))
    assert spin_until(executor, lambda: probe.depth and probe.timing)
    depth_msg = probe.depth[0]
    assert depth_msg.header.frame_id == 'cam'
    assert (depth_msg.header.stamp.sec, depth_msg.header.stamp.nanosec) == (1, 500_000_042)
    assert (depth_msg.encoding, depth_msg.width, depth_msg.height) == ('32FC1', WIDTH, HEIGHT)
    depth = depth_array(depth_msg)
    expected = red.astype(np.float32) * 0.01
    valid = (expected >= 0.5) & (expected <= 2.0)
    np.testing.assert_allclose(depth[valid], expected[valid], rtol=1e-6)
    assert np.isnan(depth[~valid]).all()
    timing = probe.timing[0]
    assert timing.header == depth_msg.header
    assert (timing.model, timing.device, timing.preprocessing) == ('red.xml', 'CPU', 'graph')
    assert timing.frames_processed == 1
    assert 0 < timing.inference_ms <= timing.total_ms


def test_points_follow_camera_info_and_depth(graph, tmp_path):
    executor, probe, start = graph
    model = write_model(constant_depth_model(24, 32, 2.0), tmp_path, 'constant')
    start(model=str(model), points_rgb=True)
    assert spin_until(executor, lambda: probe.points_subscription.get_publisher_count() > 0)
    probe.info_publisher.publish(camera_info_msg(WIDTH, HEIGHT, 50.0, 40.0, 31.5, 23.5))
    spin_until(executor, lambda: False, timeout_s=0.3)
    colours = np.random.default_rng(1).integers(0, 255, (HEIGHT, WIDTH, 3), dtype=np.uint8)
    probe.image_publisher.publish(image_msg(colours[:, :, ::-1].copy(), 'bgr8'))
    assert spin_until(executor, lambda: probe.points)
    cloud = probe.points[0]
    assert (cloud.height, cloud.width, cloud.is_dense) == (HEIGHT, WIDTH, False)
    points, rgb = unpack_points(cloud.fields, cloud.point_step, cloud.height, cloud.width,
                                cloud.data)
    np.testing.assert_allclose(points[:, :, 2], 2.0, rtol=1e-6)
    columns = np.arange(WIDTH, dtype=np.float32)
    np.testing.assert_allclose(points[5, :, 0], (columns - 31.5) / 50.0 * 2.0, rtol=1e-5)
    np.testing.assert_allclose(points[:, 7, 1],
                               (np.arange(HEIGHT) - 23.5) / 40.0 * 2.0, rtol=1e-5)
    np.testing.assert_array_equal(rgb, colours)


def test_bad_frames_are_dropped_and_the_node_keeps_serving(graph, tmp_path):
    executor, probe, start = graph
    model = write_model(constant_depth_model(24, 32, 3.0), tmp_path, 'constant')
    node = start(model=str(model))
    good = image_msg(np.zeros((HEIGHT, WIDTH, 3), np.uint8), 'rgb8')
    unsupported = image_msg(np.zeros((HEIGHT, WIDTH), np.uint16), '16UC1')
    unknown = image_msg(np.zeros((HEIGHT, WIDTH, 3), np.uint8), 'rgb8')
    unknown.encoding = 'yuv422_yuy2_weird'
    short = image_msg(np.zeros((HEIGHT, WIDTH, 3), np.uint8), 'rgb8')
    short.data = short.data[:-3]
    narrow_step = image_msg(np.zeros((HEIGHT, WIDTH, 3), np.uint8), 'rgb8')
    narrow_step.step = WIDTH
    empty = Image(encoding='rgb8')
    for bad in (unsupported, unknown, short, narrow_step, empty):
        probe.image_publisher.publish(bad)
        assert spin_until(executor, lambda: node.frames_rejected > 0)
        rejected = node.frames_rejected
        node.frames_rejected = 0
        assert rejected == 1
    probe.image_publisher.publish(good)
    assert spin_until(executor, lambda: probe.depth)
    np.testing.assert_allclose(depth_array(probe.depth[0]), 3.0)


def test_no_camera_info_or_zero_focal_length_gives_depth_without_points(graph, tmp_path):
    executor, probe, start = graph
    model = write_model(constant_depth_model(24, 32, 1.0), tmp_path, 'constant')
    start(model=str(model))
    assert spin_until(executor, lambda: probe.points_subscription.get_publisher_count() > 0)
    frame = image_msg(np.zeros((HEIGHT, WIDTH), np.uint8), 'mono8')
    probe.image_publisher.publish(frame)
    assert spin_until(executor, lambda: probe.depth)
    probe.info_publisher.publish(camera_info_msg(WIDTH, HEIGHT, 0.0, 0.0, 32.0, 24.0))
    spin_until(executor, lambda: False, timeout_s=0.3)
    probe.image_publisher.publish(frame)
    assert spin_until(executor, lambda: len(probe.depth) == 2)
    spin_until(executor, lambda: False, timeout_s=0.3)
    assert probe.points == []


def test_padded_rows_are_read_through_step(graph, tmp_path):
    executor, probe, start = graph
    model = write_model(red_channel_depth_model(HEIGHT, WIDTH), tmp_path, 'red')
    start(model=str(model), mean=[0.0], scale=[1.0], depth_scale=0.01, min_depth=0.0)
    red = np.full((HEIGHT, WIDTH), 100, np.uint8)
    padded = np.zeros((HEIGHT, WIDTH * 3 + 8), np.uint8)
    padded[:, :WIDTH * 3] = red_image(red).reshape(HEIGHT, -1)
    padded[:, WIDTH * 3:] = 255
    msg = image_msg(red_image(red), 'rgb8')
    msg.step, msg.data = WIDTH * 3 + 8, padded.tobytes()
    probe.image_publisher.publish(msg)
    assert spin_until(executor, lambda: probe.depth)
    np.testing.assert_allclose(depth_array(probe.depth[0]), 1.0, rtol=1e-6)


def test_start_up_errors_name_what_was_asked(graph, tmp_path):
    _, _, start = graph
    with pytest.raises(ModelLoadError, match='does not exist'):
        start(model=str(tmp_path / 'missing.xml'))
    model = write_model(constant_depth_model(24, 32, 1.0), tmp_path, 'constant')
    with pytest.raises(DeviceUnavailableError, match=r"'MYRIAD'.*sees here: CPU"):
        start(model=str(model), device='MYRIAD')


def test_runtime_parameter_changes_are_validated(graph, tmp_path):
    _, _, start = graph
    model = write_model(constant_depth_model(24, 32, 5.0), tmp_path, 'constant')
    node = start(model=str(model))
    result = node.set_parameters([Parameter('min_depth', value=20.0)])[0]
    assert not result.successful and 'max_depth' in result.reason
    assert node.set_parameters([Parameter('max_depth', value=4.0)])[0].successful
    assert not node.set_parameters([Parameter('device', value='GPU')])[0].successful
    assert math.isclose(node.get_parameter('max_depth').value, 4.0)
