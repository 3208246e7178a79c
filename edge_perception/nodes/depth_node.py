"""``depth_node``: camera image in; depth image, organised point cloud and timing out.

Subscribed: ``image`` (sensor_msgs/Image), ``camera_info`` (sensor_msgs/CameraInfo).
Published: ``depth`` (sensor_msgs/Image, 32FC1 metres, NaN = invalid), ``points``
(sensor_msgs/PointCloud2, organised, camera optical frame), ``inference_timing``.
Every output carries the input image's header.
"""

from rclpy.qos import qos_profile_sensor_data
from sensor_msgs.msg import CameraInfo, Image, PointCloud2

from edge_perception.core.depth_geometry import IntrinsicsError, PinholeIntrinsics
from edge_perception.core.heads import DepthHead
from edge_perception.core.image_codec import as_rgb8, image_to_array, ImageBuffer
from edge_perception.messages import cloud_msg, image_msg_from_fields
from edge_perception.nodes.inference_node import InferenceNode, run_node, WARN_PERIOD_S
from edge_perception.nodes.parameters import ParameterSpec
from edge_perception.package_paths import shared_file

BUNDLED_MODEL = ('models', 'fastdepth', 'fastdepth.xml')

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
        super().__init__('depth_node', DEPTH_PARAMETERS, shared_file(*BUNDLED_MODEL), **kwargs)

    def create_outputs(self):
        DepthHead.check_model(self.pipeline.output_shapes, self.pipeline.model_info)
        values = self.parameter_values
        inverted = self.validate_parameter_change({})
        if inverted:  # every pixel would be NaN: refuse to start rather than publish nothing
            raise ValueError(inverted)
        self._head = DepthHead(values['depth_scale'], values['min_depth'], values['max_depth'])
        self._depth_buffer = ImageBuffer('32FC1')
        self._intrinsics = None
        self.camera_infos_received = 0
        self.depth_publisher = self.create_output_publisher(Image, 'depth')
        self.points_publisher = self.create_output_publisher(PointCloud2, 'points')
        self.camera_info_subscription = self.create_subscription(
            CameraInfo, 'camera_info', self._on_camera_info, qos_profile_sensor_data)

    def validate_parameter_change(self, changes):
        low = changes.get('min_depth', self.parameter_values['min_depth'])
        high = changes.get('max_depth', self.parameter_values['max_depth'])
        return '' if low < high else f'min_depth ({low}) must be below max_depth ({high})'

    def apply_parameter_change(self, changes):
        values = self.parameter_values
        self._head.set_range(values['depth_scale'], values['min_depth'], values['max_depth'])

    def _on_camera_info(self, msg):
        self.camera_infos_received += 1
        try:
            self._intrinsics = PinholeIntrinsics.from_camera_info(msg.k, msg.width, msg.height)
        except IntrinsicsError as error:
            self._intrinsics = None
            self.get_logger().warning(f'ignoring CameraInfo: {error}; publishing depth without '
                                      'points', throttle_duration_sec=WARN_PERIOD_S)

    def publish_outputs(self, image_msg, outputs):
        depth = self._head.depth(outputs, image_msg.width, image_msg.height,
                                 out=self._depth_buffer.array(image_msg.height, image_msg.width))
        self.depth_publisher.publish(image_msg_from_fields(
            image_msg.header, self._depth_buffer.encoding, self._depth_buffer.fields()))
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
        try:
            cloud = self._head.cloud(depth, intrinsics, rgb)
        except IntrinsicsError as error:
            self.get_logger().warning(
                f'CameraInfo for {intrinsics.width}x{intrinsics.height} does not fit the '
                f'{depth.shape[1]}x{depth.shape[0]} image: {error}; publishing depth without '
                'points', throttle_duration_sec=WARN_PERIOD_S)
            return
        self.points_publisher.publish(cloud_msg(cloud, image_msg.header))


def main(args=None):
    """Run the depth node; the ``depth_node`` command."""
    return run_node(DepthNode, args)
