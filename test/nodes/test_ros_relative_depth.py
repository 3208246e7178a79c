"""Relative-depth models (MiDaS-like static input, Depth Anything-like dynamic input) in the
depth node: metres by a fixed affine or by the floor, refused without a scaling.
"""

import math
import re

from diagnostic_msgs.msg import DiagnosticArray
import numpy as np
import pytest
from rclpy.parameter import Parameter
from sensor_msgs.msg import CameraInfo, Image, PointCloud2

from edge_perception.core.depth_geometry import PinholeIntrinsics
from edge_perception.core.pointcloud_layout import unpack_points
from edge_perception.messages import camera_info_msg, image_msg
from edge_perception.msg import InferenceTiming
from edge_perception.nodes.depth_node import DepthNode
from edge_perception.replay.node_process import NodeProcess

from ros_helpers import depth_array, level
from tiny_models import depth_anything_like_model, midas_like_model, write_model

WIDTH, HEIGHT = 64, 48
INTRINSICS = PinholeIntrinsics(50.0, 50.0, 31.5, 23.5, WIDTH, HEIGHT)
IDENTITY = {'mean': [0.0], 'scale': [1.0]}


def red_frame(red, stamp=1):
    image = np.zeros((HEIGHT, WIDTH, 3), np.uint8)
    image[:, :, 0] = red
    return image_msg(image, 'rgb8', stamp=stamp, frame_id='cam')


def depth_scale_statuses(diagnostics):
    return [status for msg in diagnostics for status in msg.status
            if status.name.endswith(': depth scale')]


def test_an_inverse_relative_model_with_an_affine_publishes_depth_and_a_cloud_in_metres(
        ros_graph, tmp_path):
    graph = ros_graph
    model = write_model(midas_like_model(256), tmp_path, 'midas_like')
    depth_node = graph.start_process('depth_node', model=model, depth_kind='inverse_relative',
                                     relative_scaling='affine', depth_scale=0.005,
                                     depth_shift=0.0, **IDENTITY)
    images = graph.publisher(Image, 'image')
    infos = graph.publisher(CameraInfo, 'camera_info')
    depth = graph.collect(Image, 'depth')
    points = graph.collect(PointCloud2, 'points')
    diagnostics = graph.collect(DiagnosticArray, '/diagnostics')

    def publish(attempt):
        infos.publish(camera_info_msg(INTRINSICS))
        images.publish(red_frame(100, stamp=attempt + 1))  # pred 100 -> 1 / (0.005 * 100) = 2 m

    graph.warm_up(publish, lambda _: depth and points, timeout_s=60.0)
    np.testing.assert_allclose(depth_array(depth[-1]), 2.0, rtol=1e-5)
    assert (depth[-1].width, depth[-1].height, depth[-1].header.frame_id) == \
        (WIDTH, HEIGHT, 'cam')
    cloud, _ = unpack_points(points[-1].fields, points[-1].point_step, HEIGHT, WIDTH,
                             points[-1].data)
    np.testing.assert_allclose(cloud[:, :, 2], 2.0, rtol=1e-5)
    np.testing.assert_allclose(cloud[10, :, 0], (np.arange(WIDTH) - 31.5) / 50.0 * 2.0,
                               rtol=1e-4)
    assert graph.wait_for(lambda: depth_scale_statuses(diagnostics))
    status = depth_scale_statuses(diagnostics)[-1]
    assert level(status) == 0 and '1 / (scale * pred + shift)' in status.message
    assert depth_node.stop() == 0, depth_node.output


def test_without_a_scaling_the_cloud_is_refused_and_diagnostics_say_why(ros_graph, tmp_path):
    graph = ros_graph
    model = write_model(midas_like_model(256), tmp_path, 'midas_like')
    depth_node = graph.start_process('depth_node', model=model, depth_kind='inverse_relative',
                                     **IDENTITY)
    images = graph.publisher(Image, 'image')
    infos = graph.publisher(CameraInfo, 'camera_info')
    depth = graph.collect(Image, 'depth')
    points = graph.collect(PointCloud2, 'points')
    timing = graph.collect(InferenceTiming, 'inference_timing')
    diagnostics = graph.collect(DiagnosticArray, '/diagnostics')

    def publish(attempt):
        infos.publish(camera_info_msg(INTRINSICS))
        images.publish(red_frame(100, stamp=attempt + 1))

    graph.warm_up(publish, lambda _: timing, timeout_s=60.0)  # the frame was processed

    def warnings_after_a_frame():
        return [status for status in depth_scale_statuses(diagnostics) if level(status) == 1
                and int({item.key: item.value for item in status.values}
                        ['frames_unscaled']) >= 1]

    assert graph.wait_for(warnings_after_a_frame)
    warning = warnings_after_a_frame()[-1]
    assert "relative_scaling is 'none'" in warning.message
    assert 'no depth or cloud is published' in warning.message
    assert {item.key: item.value for item in warning.values}['depth_kind'] == \
        'inverse_relative'
    publish(100)
    assert graph.wait_for(lambda: len(timing) >= 2)  # still serving
    graph.spin_for(0.3)
    assert depth == [] and points == []
    assert depth_node.running()
    assert 'publishing no depth and no points' in depth_node.output
    assert depth_node.stop() == 0, depth_node.output


def test_a_dynamic_input_model_runs_at_the_configured_input_size(ros_graph, tmp_path):
    graph = ros_graph
    model = write_model(depth_anything_like_model(patch=14), tmp_path, 'depth_anything_like')
    depth_node = graph.start_process('depth_node', model=model, depth_kind='relative',
                                     relative_scaling='affine', depth_scale=0.01, input_size=28,
                                     **IDENTITY)
    images = graph.publisher(Image, 'image')
    depth = graph.collect(Image, 'depth')
    graph.warm_up(lambda attempt: images.publish(red_frame(100, stamp=attempt + 1)),
                  lambda _: depth, timeout_s=60.0)
    # The model outputs red + its input height: 0.01 * (100 + 28) m.
    np.testing.assert_allclose(depth_array(depth[-1]), 1.28, rtol=1e-5)
    assert depth_node.stop() == 0, depth_node.output


@pytest.mark.parametrize('parameters, expected', [
    ({'input_size': 30}, r'input_size 30 does not fit the model: .*multiples of its patch '
                         r'size 14 \(e\.g\. 28\)'),
    ({'depth_kind': 'relative', 'relative_scaling': 'floor'},
     r'relative_scaling floor needs camera_height > 0'),
    ({'depth_kind': 'relative', 'relative_scaling': 'floor', 'camera_height': 1.0,
      'floor_region': [0.0, 0.9, 1.0, 0.5]}, r'floor_region .* must satisfy'),
])
def test_settings_that_cannot_work_stop_the_start_with_one_clear_message(tmp_path, parameters,
                                                                          expected):

    model = write_model(depth_anything_like_model(patch=14), tmp_path, 'depth_anything_like')
    depth_node = NodeProcess('depth_node', {'model': model, **parameters})
    depth_node.process.wait(timeout=60)
    assert depth_node.stop() == 1, depth_node.output
    assert re.search(expected, depth_node.output), depth_node.output
    assert 'Traceback' not in depth_node.output


def floor_image(camera_height, pitch_deg, units_per_metre):
    """Red = relative depth (``units_per_metre`` x metres) of a floor seen from
    ``camera_height`` with the camera pitched down ``pitch_deg``, and the true metres.
    """
    pitch = math.radians(pitch_deg)
    rows, columns = np.mgrid[0:HEIGHT, 0:WIDTH].astype(np.float64)
    towards_floor = (rows - INTRINSICS.cy) / INTRINSICS.fy * math.cos(pitch) + math.sin(pitch)
    metres = camera_height / towards_floor
    image = np.zeros((HEIGHT, WIDTH, 3), np.uint8)
    image[:, :, 0] = np.clip(np.rint(metres * units_per_metre), 1, 255)
    return image, metres


def test_floor_scaling_publishes_the_floor_at_the_camera_height(ros_graph, tmp_path):
    graph = ros_graph
    model = write_model(midas_like_model(256), tmp_path, 'midas_like')
    node = graph.start(DepthNode, model=str(model), depth_kind='relative',
                       relative_scaling='floor', camera_height=0.5,
                       floor_region=[0.0, 0.5, 1.0, 1.0], floor_smoothing=1.0, max_depth=100.0,
                       **IDENTITY)
    images = graph.publisher(Image, 'image')
    infos = graph.publisher(CameraInfo, 'camera_info')
    depth = graph.collect(Image, 'depth')
    diagnostics = graph.collect(DiagnosticArray, '/diagnostics')
    image, metres = floor_image(0.5, 35.0, units_per_metre=80.0)  # an unknown scale: 80

    def publish(attempt):
        infos.publish(camera_info_msg(INTRINSICS))
        images.publish(image_msg(image, 'rgb8', stamp=attempt + 1))

    graph.warm_up(publish, lambda _: depth, timeout_s=60.0)
    floor = slice(HEIGHT // 2, HEIGHT)
    published = depth_array(depth[-1])[floor]
    assert np.nanmedian(np.abs(published / metres[floor] - 1.0)) < 0.05
    assert graph.wait_for(lambda: any(status.values and dict(
        (item.key, item.value) for item in status.values).get('scale')
        for status in depth_scale_statuses(diagnostics)))
    values = {item.key: item.value for item in depth_scale_statuses(diagnostics)[-1].values}
    assert float(values['scale']) == pytest.approx(1.0 / 80.0, rel=0.05)
    inliers, sampled = map(int, values['fit_inliers'].split('/'))
    assert inliers > 0.5 * sampled and values['frames_without_fit'] == '0'

    refused = node.set_parameters([Parameter('camera_height', value=0.0)])[0]
    assert not refused.successful and 'camera_height > 0' in refused.reason
    assert node.set_parameters([Parameter('camera_height', value=1.0)])[0].successful
    depth.clear()
    publish(100)
    assert graph.wait_for(lambda: depth)
    higher = depth_array(depth[-1])[floor]
    assert np.nanmedian(np.abs(higher / (2.0 * metres[floor]) - 1.0)) < 0.05


def test_the_affine_follows_parameter_changes_at_run_time(ros_graph, tmp_path):
    graph = ros_graph
    model = write_model(depth_anything_like_model(patch=14), tmp_path, 'depth_anything_like')
    node = graph.start(DepthNode, model=str(model), depth_kind='relative',
                       relative_scaling='affine', depth_scale=0.01, input_size=14, **IDENTITY)
    images = graph.publisher(Image, 'image')
    depth = graph.collect(Image, 'depth')
    graph.warm_up(lambda attempt: images.publish(red_frame(86, stamp=attempt + 1)),
                  lambda _: depth, timeout_s=60.0)
    np.testing.assert_allclose(depth_array(depth[-1]), 1.0, rtol=1e-5)  # 0.01 * (86 + 14)
    assert node.set_parameters([Parameter('depth_scale', value=0.02),
                                Parameter('depth_shift', value=0.5)])[0].successful
    refused = node.set_parameters([Parameter('relative_scaling', value='none')])[0]
    assert not refused.successful and 'read when the node is configured' in refused.reason
    depth.clear()
    images.publish(red_frame(86, stamp=100))
    assert graph.wait_for(lambda: depth)
    np.testing.assert_allclose(depth_array(depth[-1]), 2.5, rtol=1e-5)
