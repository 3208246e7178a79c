"""DepthNode on a real rclpy graph, in this process: values, headers, NaN handling, bad input."""

import math

import numpy as np
import pytest
from rclpy.parameter import Parameter
from sensor_msgs.msg import CameraInfo, Image, PointCloud2

from edge_perception.core.depth_geometry import PinholeIntrinsics
from edge_perception.core.engine import DeviceUnavailableError, ModelLoadError
from edge_perception.core.pointcloud_layout import unpack_points
from edge_perception.messages import camera_info_msg, image_msg
from edge_perception.msg import InferenceTiming
from edge_perception.nodes.depth_node import DepthNode

from ros_helpers import depth_array
from tiny_models import constant_depth_model, red_channel_depth_model, write_model

WIDTH, HEIGHT = 64, 48


@pytest.fixture
def graph(ros_graph):
    """The graph, a probe feeding the depth node, and a function starting the node."""
    probe = {}

    def start(**parameters):
        node = ros_graph.start(DepthNode, **parameters)
        probe['image'] = ros_graph.publisher(Image, 'image')
        probe['info'] = ros_graph.publisher(CameraInfo, 'camera_info')
        probe['depth'] = ros_graph.collect(Image, 'depth')
        probe['timing'] = ros_graph.collect(InferenceTiming, 'inference_timing')
        probe['points'] = ros_graph.collect(PointCloud2, 'points')
        return node

    return ros_graph, probe, start


def red_image(red_values):
    image = np.zeros((HEIGHT, WIDTH, 3), dtype=np.uint8)
    image[:, :, 0] = red_values
    return image


def test_depth_values_header_and_nan_range(graph, tmp_path):
    graph, probe, start = graph
    model = write_model(red_channel_depth_model(HEIGHT, WIDTH), tmp_path, 'red')
    start(model=str(model), mean=[0.0], scale=[1.0], depth_scale=0.01, min_depth=0.5,
          max_depth=2.0, preprocessing='graph')
    red = np.tile(np.arange(WIDTH, dtype=np.uint8) * 4, (HEIGHT, 1))  # 0 .. 252
    probe['image'].publish(image_msg(red_image(red), 'rgb8', stamp=1_500_000_042,
                                            frame_id='cam'))
    assert graph.wait_for(lambda: probe['depth'] and probe['timing'])
    depth_msg = probe['depth'][0]
    assert depth_msg.header.frame_id == 'cam'
    assert (depth_msg.header.stamp.sec, depth_msg.header.stamp.nanosec) == (1, 500_000_042)
    assert (depth_msg.encoding, depth_msg.width, depth_msg.height) == ('32FC1', WIDTH, HEIGHT)
    depth = depth_array(depth_msg)
    expected = red.astype(np.float32) * 0.01
    valid = (expected >= 0.5) & (expected <= 2.0)
    np.testing.assert_allclose(depth[valid], expected[valid], rtol=1e-6)
    assert np.isnan(depth[~valid]).all()
    timing = probe['timing'][0]
    assert timing.header == depth_msg.header
    assert (timing.model, timing.device, timing.preprocessing) == ('red.xml', 'CPU', 'graph')
    assert timing.frames_processed == 1
    assert 0 < timing.inference_ms <= timing.total_ms


def test_points_follow_camera_info_and_depth(graph, tmp_path):
    graph, probe, start = graph
    model = write_model(constant_depth_model(24, 32, 2.0), tmp_path, 'constant')
    node = start(model=str(model), cloud_color='rgb')
    probe['info'].publish(camera_info_msg(PinholeIntrinsics(50.0, 40.0, 31.5, 23.5, WIDTH, HEIGHT)))
    assert graph.wait_for(lambda: node.camera_infos_received > 0)
    colours = np.random.default_rng(1).integers(0, 255, (HEIGHT, WIDTH, 3), dtype=np.uint8)
    probe['image'].publish(image_msg(colours[:, :, ::-1].copy(), 'bgr8'))
    assert graph.wait_for(lambda: probe['points'])
    cloud = probe['points'][0]
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
    graph, probe, start = graph
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
        probe['image'].publish(bad)
        assert graph.wait_for(lambda: node.frames_rejected > 0)
        rejected = node.frames_rejected
        node.frames_rejected = 0
        assert rejected == 1
    assert node.internal_errors == 0  # refused as bad input, not as a bug
    probe['image'].publish(good)
    assert graph.wait_for(lambda: probe['depth'])
    np.testing.assert_allclose(depth_array(probe['depth'][0]), 3.0)


def test_no_camera_info_or_zero_focal_length_gives_depth_without_points(graph, tmp_path):
    graph, probe, start = graph
    model = write_model(constant_depth_model(24, 32, 1.0), tmp_path, 'constant')
    node = start(model=str(model))
    frame = image_msg(np.zeros((HEIGHT, WIDTH), np.uint8), 'mono8')
    probe['image'].publish(frame)
    assert graph.wait_for(lambda: probe['depth'])
    probe['info'].publish(camera_info_msg(PinholeIntrinsics(0.0, 0.0, 32.0, 24.0, WIDTH, HEIGHT)))
    assert graph.wait_for(lambda: node.camera_infos_received > 0)
    probe['image'].publish(frame)
    assert graph.wait_for(lambda: len(probe['depth']) == 2)
    graph.spin_for(0.3)
    assert probe['points'] == []


def test_padded_rows_are_read_through_step(graph, tmp_path):
    graph, probe, start = graph
    model = write_model(red_channel_depth_model(HEIGHT, WIDTH), tmp_path, 'red')
    start(model=str(model), mean=[0.0], scale=[1.0], depth_scale=0.01, min_depth=0.0)
    red = np.full((HEIGHT, WIDTH), 100, np.uint8)
    padded = np.zeros((HEIGHT, WIDTH * 3 + 8), np.uint8)
    padded[:, :WIDTH * 3] = red_image(red).reshape(HEIGHT, -1)
    padded[:, WIDTH * 3:] = 255
    msg = image_msg(red_image(red), 'rgb8')
    msg.step, msg.data = WIDTH * 3 + 8, padded.tobytes()
    probe['image'].publish(msg)
    assert graph.wait_for(lambda: probe['depth'])
    np.testing.assert_allclose(depth_array(probe['depth'][0]), 1.0, rtol=1e-6)


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


def test_depth_in_millimetres_and_colorized_for_rviz(graph, tmp_path):
    graph, probe, start = graph
    model = write_model(red_channel_depth_model(HEIGHT, WIDTH), tmp_path, 'red')
    node = start(model=str(model), mean=[0.0], scale=[1.0], depth_scale=0.01, min_depth=0.5,
                 max_depth=2.0, depth_encoding='16UC1')
    colorized = graph.collect(Image, 'depth/colorized')
    red = np.tile(np.arange(WIDTH, dtype=np.uint8) * 4, (HEIGHT, 1))  # 0 .. 2.52 m
    probe['image'].publish(image_msg(red_image(red), 'rgb8', stamp=7, frame_id='cam'))
    assert graph.wait_for(lambda: probe['depth'] and colorized)
    millimetres = probe['depth'][0]
    assert (millimetres.encoding, millimetres.header.frame_id) == ('16UC1', 'cam')
    values = np.frombuffer(millimetres.data, '<u2').reshape(HEIGHT, WIDTH)
    expected = np.rint(red.astype(np.float32) * 0.01 * 1000).astype(np.uint16)
    expected[(red < 50) | (red > 200)] = 0  # outside 0.5 .. 2.0 m: invalid
    np.testing.assert_array_equal(values, expected)

    image = colorized[0]
    assert (image.encoding, image.width, image.height) == ('bgr8', WIDTH, HEIGHT)
    assert image.header == millimetres.header
    colours = np.frombuffer(image.data, np.uint8).reshape(HEIGHT, WIDTH, 3)
    assert not colours[red < 50].any() and not colours[red > 200].any()  # invalid: black
    assert colours[red == 52].any() and colours[red == 200].any()
    assert not np.array_equal(colours[0, 13], colours[0, 50])  # near and far differ

    assert node.set_parameters([Parameter('depth_encoding', value='32FC1')])[0].successful
    probe['image'].publish(image_msg(red_image(red), 'rgb8', stamp=8))
    assert graph.wait_for(lambda: len(probe['depth']) == 2)
    assert probe['depth'][1].encoding == '32FC1'


@pytest.mark.parametrize('decimation', [2, 4])
def test_a_decimated_cloud_keeps_the_points_of_every_nth_pixel(graph, tmp_path, decimation):
    graph, probe, start = graph
    model = write_model(red_channel_depth_model(HEIGHT, WIDTH), tmp_path, 'red')
    start(model=str(model), mean=[0.0], scale=[1.0], depth_scale=0.01, min_depth=0.0,
          cloud_decimation=decimation, cloud_color='rgb')
    intrinsics = PinholeIntrinsics(50.0, 40.0, 31.5, 23.5, WIDTH, HEIGHT)
    probe['info'].publish(camera_info_msg(intrinsics))
    red = np.random.default_rng(decimation).integers(1, 255, (HEIGHT, WIDTH), dtype=np.uint8)
    probe['image'].publish(image_msg(red_image(red), 'rgb8'))
    assert graph.wait_for(lambda: probe['points'])
    cloud = probe['points'][0]
    assert (cloud.height, cloud.width) == (HEIGHT // decimation, WIDTH // decimation)
    points, rgb = unpack_points(cloud.fields, cloud.point_step, cloud.height, cloud.width,
                                cloud.data)
    rows, columns = np.mgrid[0:HEIGHT:decimation, 0:WIDTH:decimation].astype(np.float32)
    z = red[::decimation, ::decimation].astype(np.float32) * 0.01
    np.testing.assert_allclose(points[:, :, 2], z, rtol=1e-6)
    np.testing.assert_allclose(points[:, :, 0], (columns - 31.5) / 50.0 * z, rtol=1e-5,
                               atol=1e-6)
    np.testing.assert_allclose(points[:, :, 1], (rows - 23.5) / 40.0 * z, rtol=1e-5, atol=1e-6)
    np.testing.assert_array_equal(rgb[:, :, 0], red[::decimation, ::decimation])
