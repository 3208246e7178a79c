"""``depth_node``: camera image in; depth image, organised point cloud and timing out.

Subscribed: ``image`` (sensor_msgs/Image; or ``<image>/compressed``, sensor_msgs/CompressedImage,
with ``image_transport: compressed``), ``camera_info`` (sensor_msgs/CameraInfo).
Published: ``depth`` (sensor_msgs/Image, 32FC1 metres with NaN = invalid, or 16UC1 millimetres
with 0 = invalid), ``depth/colorized`` (bgr8, for RViz), ``points`` (sensor_msgs/PointCloud2,
organised, camera optical frame, optionally coloured and decimated), ``inference_timing``.
Every output carries the input image's header. A managed (lifecycle) node: see
:mod:`edge_perception.nodes.inference_node`.
"""

from rclpy.qos import qos_profile_sensor_data
from sensor_msgs.msg import CameraInfo, Image, PointCloud2

from edge_perception.core.depth_geometry import (
    IntrinsicsError,
    metres_to_millimetres,
    PinholeIntrinsics,
)
from edge_perception.core.heads import DepthHead
from edge_perception.core.image_codec import as_rgb8, image_to_array, ImageBuffer
from edge_perception.core.relative_depth import (
    check_floor_region,
    FLOOR,
    FloorSettings,
    METRIC,
    NO_SCALING,
    RelativeDepthConverter,
    RelativeDepthError,
    RelativeDepthSettings,
    scale_report,
)
from edge_perception.core.visualisation import colorize_depth
from edge_perception.messages import cloud_msg, image_msg, image_msg_from_fields
from edge_perception.nodes.inference_node import (
    InferenceNode,
    run_node,
    UNCONFIGURED,
    WARN_PERIOD_S,
)
from edge_perception.nodes.parameter_tables import DEPTH_PARAMETERS
from edge_perception.package_paths import shared_file

BUNDLED_MODEL = ('models', 'fastdepth', 'fastdepth.xml')


class DepthNode(InferenceNode):
    """Monocular depth (FastDepth by default) through OpenVINO."""

    def __init__(self, **kwargs):
        self._intrinsics = None
        self._relative = None
        self.camera_infos_received = 0
        self.camera_info_subscription = None
        super().__init__('depth_node', DEPTH_PARAMETERS, shared_file(*BUNDLED_MODEL), **kwargs)

    def configure_head(self):
        DepthHead.check_model(self.pipeline.output_shapes, self.pipeline.model_info)
        values = self.parameter_values
        self._head = DepthHead(values['depth_scale'], values['min_depth'], values['max_depth'])
        self._relative = None
        if values['depth_kind'] != METRIC:
            self._relative = RelativeDepthConverter(self._relative_settings())
            if values['relative_scaling'] == NO_SCALING:
                self.get_logger().warning(scale_report(self._relative).message)
        self._metres = ImageBuffer('32FC1')
        self._millimetres = ImageBuffer('16UC1')

    def create_outputs(self):
        self.depth_publisher = self.create_output_publisher(Image, 'depth')
        self.colorized_publisher = self.create_output_publisher(Image, 'depth/colorized')
        self.points_publisher = self.create_output_publisher(PointCloud2, 'points')

    def create_inputs(self):
        self.camera_info_subscription = self.create_subscription(
            CameraInfo, 'camera_info', self._on_camera_info, qos_profile_sensor_data)

    def destroy_inputs(self):
        if self.camera_info_subscription is not None:
            self.destroy_subscription(self.camera_info_subscription)
            self.camera_info_subscription = None

    def model_input_size(self):
        return self.parameter_values['input_size']

    def head_reports(self):
        if self._relative is None or self.lifecycle_state == UNCONFIGURED:
            return {}
        return {'depth scale': scale_report(self._relative)}

    def validate_parameter_change(self, changes):
        values = {**self.parameter_values, **changes}
        low, high = values['min_depth'], values['max_depth']
        if low >= high:
            return f'min_depth ({low}) must be below max_depth ({high})'
        if values['depth_kind'] != METRIC and values['relative_scaling'] == FLOOR:
            try:
                RelativeDepthConverter(self._relative_settings(values))
            except RelativeDepthError as error:
                return str(error)
        return ''

    def apply_parameter_change(self, changes):
        values = self.parameter_values
        self._head.set_range(values['depth_scale'], values['min_depth'], values['max_depth'])
        if self._relative is not None:
            self._relative = self._relative.updated(self._relative_settings())

    def _relative_settings(self, values=None):
        values = values or self.parameter_values
        floor = None
        if values['relative_scaling'] == FLOOR:
            floor = FloorSettings(values['camera_height'],
                                  check_floor_region(values['floor_region']),
                                  values['floor_smoothing'], values['floor_max_tilt'])
        return RelativeDepthSettings(values['depth_kind'], values['relative_scaling'],
                                     values['depth_scale'], values['depth_shift'], floor,
                                     values['min_depth'], values['max_depth'])

    def _on_camera_info(self, msg):
        self.camera_infos_received += 1
        try:
            self._intrinsics = PinholeIntrinsics.from_camera_info(msg.k, msg.width, msg.height)
        except IntrinsicsError as error:
            self._intrinsics = None
            self.get_logger().warning(f'ignoring CameraInfo: {error}; publishing depth without '
                                      'points', throttle_duration_sec=WARN_PERIOD_S)

    def publish_outputs(self, frame, outputs):
        height, width = frame.height, frame.width
        relative = self._relative
        input_crop = self.pipeline.config.input_crop
        if relative is None:
            depth = self._head.depth(outputs, width, height,
                                     out=self._metres.array(height, width),
                                     input_crop=input_crop)
        else:
            depth = relative.metres(outputs[0], width, height, self._intrinsics,
                                    out=self._metres.array(height, width),
                                    input_crop=input_crop)
            if depth is None:
                self.get_logger().warning(f'publishing no depth and no points: '
                                          f'{relative.unscaled_reason}',
                                          throttle_duration_sec=WARN_PERIOD_S)
                return
        depth_buffer = self._metres
        if self.parameter_values['depth_encoding'] == '16UC1':
            metres_to_millimetres(depth, out=self._millimetres.array(height, width))
            depth_buffer = self._millimetres
        self.depth_publisher.publish(image_msg_from_fields(
            frame.header, depth_buffer.encoding, depth_buffer.fields()))
        if self.colorized_publisher.get_subscription_count() > 0:
            values = self.parameter_values
            self.colorized_publisher.publish(image_msg(
                colorize_depth(depth, values['min_depth'], values['max_depth']), 'bgr8',
                header=frame.header))
        if self.parameter_values['publish_points'] and \
                self.points_publisher.get_subscription_count() > 0:
            self._publish_points(frame, depth)

    def _publish_points(self, frame, depth):
        intrinsics = self._intrinsics
        if intrinsics is None:
            self.get_logger().warning(
                "no valid CameraInfo on 'camera_info' yet: publishing depth without points",
                throttle_duration_sec=WARN_PERIOD_S)
            return
        rgb = None
        if self.parameter_values['cloud_color'] == 'rgb':
            rgb = as_rgb8(image_to_array(frame.height, frame.width, frame.encoding,
                                         bool(frame.is_bigendian), frame.step,
                                         frame.data), frame.encoding)
        try:
            cloud = self._head.cloud(depth, intrinsics, rgb,
                                     self.parameter_values['cloud_decimation'])
        except IntrinsicsError as error:
            self.get_logger().warning(
                f'CameraInfo for {intrinsics.width}x{intrinsics.height} does not fit the '
                f'{depth.shape[1]}x{depth.shape[0]} image: {error}; publishing depth without '
                'points', throttle_duration_sec=WARN_PERIOD_S)
            return
        self.points_publisher.publish(cloud_msg(cloud, frame.header))


def main(args=None):
    """Run the depth node; the ``depth_node`` command."""
    return run_node(DepthNode, args)
