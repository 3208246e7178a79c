"""``input_crop`` through the real ROS path: the depth node in its own process sees the centred
box of the frame and publishes depth and cloud at camera resolution, invalid around the box;
the classifier classifies the box.
"""

import numpy as np
from rclpy.parameter import Parameter
from sensor_msgs.msg import CameraInfo, Image, PointCloud2

from edge_perception.core.depth_geometry import PinholeIntrinsics
from edge_perception.core.input_crop import centred_crop
from edge_perception.core.pointcloud_layout import unpack_points
from edge_perception.messages import camera_info_msg, image_msg
from edge_perception.msg import Classification
from edge_perception.nodes.classifier_node import ClassifierNode
from edge_perception.nodes.depth_node import DepthNode

from ros_helpers import depth_array
from tiny_models import channel_mean_model, red_channel_depth_model, write_model

WIDTH, HEIGHT = 64, 48
CROP = 0.5
BOX = centred_crop(HEIGHT, WIDTH, CROP)  # 24 x 32 at row 12, column 16: the model's own size
DEPTH_SCALE = 0.01


def red_frame():
    """An RGB frame whose red channel differs at every pixel of the box (40..239 levels)."""
    rows, columns = np.mgrid[0:HEIGHT, 0:WIDTH]
    image = np.zeros((HEIGHT, WIDTH, 3), np.uint8)
    image[:, :, 0] = 40 + (3 * columns + 7 * rows) % 200
    return image


def inside_box():
    inside = np.zeros((HEIGHT, WIDTH), bool)
    inside[BOX.slices] = True
    return inside


def test_a_cropping_depth_node_publishes_depth_and_cloud_invalid_around_the_box(ros_graph,
                                                                                 tmp_path):
    graph = ros_graph
    model = write_model(red_channel_depth_model(BOX.height, BOX.width), tmp_path, 'red')
    depth_node = graph.start_process('depth_node', model=model, mean=[0.0], scale=[1.0],
                                     depth_scale=DEPTH_SCALE, min_depth=0.0, input_crop=CROP)
    images = graph.publisher(Image, 'image')
    camera_infos = graph.publisher(CameraInfo, 'camera_info')
    depth = graph.collect(Image, 'depth')
    points = graph.collect(PointCloud2, 'points')
    intrinsics = PinholeIntrinsics(50.0, 50.0, 31.5, 23.5, WIDTH, HEIGHT)
    frame = red_frame()

    def publish(attempt):
        camera_infos.publish(camera_info_msg(intrinsics, stamp=attempt + 1))
        images.publish(image_msg(frame, 'rgb8', stamp=attempt + 1))
        return attempt + 1

    # Best-effort camera frames sent before discovery has matched are lost, and a frame may
    # beat its CameraInfo: publish both until a depth image and its cloud are back.
    stamp = graph.warm_up(publish, lambda sent: any(
        cloud.header.stamp.nanosec == sent for cloud in points), timeout_s=60.0)
    depth_msg = next(msg for msg in depth if msg.header.stamp.nanosec == stamp)
    cloud_msg = next(msg for msg in points if msg.header.stamp.nanosec == stamp)

    assert (depth_msg.width, depth_msg.height) == (WIDTH, HEIGHT)
    metres = depth_array(depth_msg)
    inside = inside_box()
    assert np.isnan(metres[~inside]).all()
    expected = frame[:, :, 0].astype(np.float32) * np.float32(DEPTH_SCALE)
    np.testing.assert_allclose(metres[inside], expected[inside], rtol=1e-6)

    assert (cloud_msg.width, cloud_msg.height) == (WIDTH, HEIGHT)
    cloud, _ = unpack_points(cloud_msg.fields, cloud_msg.point_step, HEIGHT, WIDTH,
                             cloud_msg.data)
    assert np.isnan(cloud[~inside]).all()
    np.testing.assert_array_equal(cloud[:, :, 2][inside], metres[inside])
    rows, columns = np.nonzero(inside)
    np.testing.assert_allclose(cloud[:, :, 0][inside],
                               (columns - intrinsics.cx) / intrinsics.fx * metres[inside],
                               rtol=1e-5)
    assert depth_node.stop() == 0, depth_node.output


def test_millimetre_depth_is_zero_around_the_box(ros_graph, tmp_path):
    graph = ros_graph
    model = write_model(red_channel_depth_model(BOX.height, BOX.width), tmp_path, 'red')
    graph.start(DepthNode, model=str(model), mean=[0.0], scale=[1.0], depth_scale=DEPTH_SCALE,
                min_depth=0.0, depth_encoding='16UC1', input_crop=CROP)
    images = graph.publisher(Image, 'image')
    depth = graph.collect(Image, 'depth')
    frame = red_frame()
    graph.warm_up(lambda attempt: images.publish(image_msg(frame, 'rgb8')),
                  lambda _: depth, timeout_s=30.0)
    millimetres = np.frombuffer(depth[0].data, '<u2').reshape(HEIGHT, WIDTH)
    inside = inside_box()
    assert depth[0].encoding == '16UC1'
    assert (millimetres[~inside] == 0).all()
    np.testing.assert_array_equal(millimetres[inside], frame[:, :, 0][inside].astype(np.uint16)
                                  * 10)


def test_the_crop_is_read_on_configure_and_its_range_enforced(ros_graph, tmp_path):
    graph = ros_graph
    model = write_model(red_channel_depth_model(BOX.height, BOX.width), tmp_path, 'red')
    node = graph.start(DepthNode, model=str(model), input_crop=CROP)
    assert node.pipeline.config.input_crop == CROP
    descriptor = node.describe_parameter('input_crop')
    assert (descriptor.floating_point_range[0].from_value,
            descriptor.floating_point_range[0].to_value) == (0.1, 1.0)
    result = node.set_parameters([Parameter('input_crop', value=0.8)])[0]
    assert not result.successful and 'read when the node is configured' in result.reason


def test_a_cropping_classifier_classifies_the_centre_of_the_frame(ros_graph, tmp_path):
    """A red frame with a green centre (a quarter of it): the whole frame is mostly red, its
    centred half is green only.
    """
    graph = ros_graph
    model = write_model(channel_mean_model(3, 8, 8), tmp_path, 'mean3')
    graph.start(ClassifierNode, model=str(model), mean=[0.0], scale=[100.0], top_k=3,
                output_is_logits=False, input_crop=CROP)
    images = graph.publisher(Image, 'image')
    results = graph.collect(Classification, 'classification')
    frame = np.zeros((HEIGHT, WIDTH, 3), np.uint8)
    frame[:, :, 0] = 200
    frame[BOX.slices] = (10, 150, 0)
    graph.warm_up(lambda attempt: images.publish(image_msg(frame, 'rgb8')),
                  lambda _: results, timeout_s=30.0)
    assert list(results[0].class_ids) == [1, 0, 2]
    # The channel means of the box alone (in units of the scale); the whole frame's red is 1.525.
    np.testing.assert_allclose(results[0].scores, [1.5, 0.1, 0.0], atol=1e-5)
