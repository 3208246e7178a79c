"""``depth_node``: camera image in; depth image, organised point cloud and timing out.

Subscribed: ``image`` (sensor_msgs/Image), ``camera_info`` (sensor_msgs/CameraInfo).
Published: ``depth`` (sensor_msgs/Image, 32FC1 metres, NaN = invalid), ``points``
(sensor_msgs/PointCloud2, organised, camera optical frame), ``inference_timing``.
Every output carries the input image's header.
"""

from rclpy.qos import qos_profile_sensor_data
from sensor_msgs.msg import CameraInfo, Image, PointCloud2, PointField

from edge_perception.core.depth_geometry import (
    DepthDecoder,
    IntrinsicsError,
    PinholeIntrinsics,
    PointProjector,
)
from edge_perception.core.image_codec import as_rgb8, image_to_array, ImageBuffer
from edge_perception.core.pointcloud_layout import CloudPacker
from edge_perception.nodes.inference_node import InferenceNode, run_node, WARN_PERIOD_S
from edge_perception.nodes.parameters import ParameterSpec
from edge_perception.package_paths import shared_file

BUNDLED_MODEL = ('models', 'fastdepth', 'fastdepth.xml')
# ImageNet statistics in 0-255 units: what the bundled FastDepth was trained with.
IMAGENET_MEAN = (123.675, 116.28, 103.53)
IMAGENET_SCALE = (58.395, 57.12, 57.375)

DEPTH_PARAMETERS = (
    ParameterSpec('depth_scale', 1.0, 'Metres per unit of the model output.',
                  value_range=(1e-6, 1e6)),
    ParameterSpec('min_depth', 0.1, 'Nearest valid depth in metres; nearer pixels become NaN.',
                  value_range=(0.0, 1000.0)),
    ParameterSpec('max_depth', 10.0, 'Farthest valid depth in metres; farther pixels become NaN.',
                  value_range=(0.0, 1000.0)),
    ParameterSpec('publish_points', True,
                  "Publish the organised cloud on 'points' (computed only while someone "
                  'subscribes, and only with a valid CameraInfo).'),
    ParameterSpec('points_rgb', False,
                  "Add a packed 'rgb' field with the camera colours to the cloud."),
)


class DepthNode(InferenceNode):
    """Monocular depth (FastDepth by default) through OpenVINO."""

    def __init__(self, **kwargs):
        super().__init__('depth_node', DEPTH_PARAMETERS, shared_file(*BUNDLED_MODEL),
                         IMAGENET_MEAN, IMAGENET_SCALE, **kwargs)

    def create_outputs(self):
        self._check_depth_output()
        values = self.parameter_values
        self._decoder = DepthDecoder(values['depth_scale'], values['min_depth'],
                                     values['max_depth'])
        self._projector = PointProjector()
        self._cloud_packer = CloudPacker()
        self._depth_buffer = ImageBuffer('32FC1')
        self._intrinsics = None
        self.camera_infos_received = 0
        self.depth_publisher = self.create_output_publisher(Image, 'depth')
        self.points_publisher = self.create_output_publisher(PointCloud2, 'points')
        self.camera_info_subscription = self.create_subscription(
            CameraInfo, 'camera_info', self._on_camera_info, qos_profile_sensor_data)

    def _check_depth_output(self):
        shapes = self.pipeline.output_shapes
        if len(shapes) != 1 or len(shapes[0]) < 2 or min(shapes[0][-2:]) < 2 or \
                any(size != 1 for size in shapes[0][:-2]):
            raise ValueError(f'model output shapes {shapes} are not one depth map '
                             '(expected 1x1xHxW or HxW)')

    def validate_parameter_change(self, changes):
        low = changes.get('min_depth', self.parameter_values['min_depth'])
        high = changes.get('max_depth', self.parameter_values['max_depth'])
        return '' if low < high else f'min_depth ({low}) must be below max_depth ({high})'

    def apply_parameter_change(self, changes):
        values = self.parameter_values
        self._decoder = DepthDecoder(values['depth_scale'], values['min_depth'],
                                     values['max_depth'])

    def _on_camera_info(self, msg):
        self.camera_infos_received += 1
        try:
            self._intrinsics = PinholeIntrinsics.from_camera_info(msg.k, msg.width, msg.height)
        except IntrinsicsError as error:
            self._intrinsics = None
            self.get_logger().warning(f'ignoring CameraInfo: {error}; publishing depth without '
                                      'points', throttle_duration_sec=WARN_PERIOD_S)

    def publish_outputs(self, image_msg, outputs):
        depth = self._decoder.decode(outputs[0], image_msg.width, image_msg.height,
                                     out=self._depth_buffer.array(image_msg.height,
                                                                  image_msg.width))
        depth_msg = Image()
        depth_msg.header = image_msg.header
        depth_msg.encoding = self._depth_buffer.encoding
        (depth_msg.height, depth_msg.width, depth_msg.step, depth_msg.is_bigendian,
         depth_msg.data) = self._depth_buffer.fields()
        self.depth_publisher.publish(depth_msg)
        if self.parameter_values['publish_points'] and \
                self.points_publisher.get_subscription_count() > 0:
            self._publish_points(image_msg, depth)

    def _publish_points(self, image_msg, depth):
        intrinsics = self._intrinsics
        if intrinsics is None:
            self.get_logger().warning(
                f"no valid CameraInfo on '{self.camera_info_subscription.topic_name}' yet: "
                'publishing depth without points', throttle_duration_sec=WARN_PERIOD_S)
            return
        rgb = None
        if self.parameter_values['points_rgb']:
            rgb = as_rgb8(image_to_array(image_msg.height, image_msg.width, image_msg.encoding,
                                         bool(image_msg.is_bigendian), image_msg.step,
                                         image_msg.data), image_msg.encoding)
        xyz = self._cloud_packer.xyz_buffer(depth.shape[0], depth.shape[1], rgb is not None)
        try:
            self._projector.project(depth, intrinsics, out=xyz)
        except IntrinsicsError as error:
            self.get_logger().warning(
                f'CameraInfo for {intrinsics.width}x{intrinsics.height} does not fit the '
                f'{depth.shape[1]}x{depth.shape[0]} image: {error}; publishing depth without '
                'points', throttle_duration_sec=WARN_PERIOD_S)
            return
        cloud = self._cloud_packer.pack(rgb)
        msg = PointCloud2()
        msg.header = image_msg.header
        msg.height, msg.width = cloud.height, cloud.width
        msg.fields = [PointField(name=field.name, offset=field.offset, datatype=field.datatype,
                                 count=field.count) for field in cloud.fields]
        msg.is_bigendian = cloud.is_bigendian
        msg.point_step, msg.row_step = cloud.point_step, cloud.row_step
        msg.data = cloud.data
        msg.is_dense = cloud.is_dense
        self.points_publisher.publish(msg)


def main(args=None):
    """Run the depth node; the ``depth_node`` command."""
    return run_node(DepthNode, args)
