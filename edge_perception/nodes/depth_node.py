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

from edge_perception.core.depth_geometry import IntrinsicsError, PinholeIntrinsics
from edge_perception.core.depth_output import DepthOutput, DepthOutputSettings
from edge_perception.core.heads import DepthHead
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
from edge_perception.messages import cloud_msg, image_msg, image_msg_from_fields
from edge_perception.nodes.image_intake import WARN_PERIOD_S
from edge_perception.nodes.inference_node import InferenceNode, run_node
from edge_perception.nodes.node_lifecycle import UNCONFIGURED
from edge_perception.nodes.parameter_tables import DEPTH_PARAMETERS
from edge_perception.package_paths import shared_file

BUNDLED_MODEL = ('models', 'fastdepth', 'fastdepth.xml')


class DepthNode(InferenceNode):
    """Monocular depth (FastDepth by default) through OpenVINO."""

    def __init__(self, **kwargs):
        self._intrinsics = None
        self._output = None
        self.camera_infos_received = 0
        self.camera_info_subscription = None
        super().__init__('depth_node', DEPTH_PARAMETERS, shared_file(*BUNDLED_MODEL), **kwargs)

    def configure_head(self):
        DepthHead.check_model(self.pipeline.output_shapes, self.pipeline.model_info)
        self._output = DepthOutput(self._output_settings())
        if self._output.relative is not None and \
                self.parameter_values['relative_scaling'] == NO_SCALING:
            self.get_logger().warning(scale_report(self._output.relative).message)

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
        if self._output is None or self._output.relative is None or \
                self.lifecycle_state == UNCONFIGURED:
            return {}
        return {'depth scale': scale_report(self._output.relative)}

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
        self._output.update(self._output_settings())

    def _output_settings(self):
        values = self.parameter_values
        relative = None if values['depth_kind'] == METRIC else self._relative_settings(values)
        return DepthOutputSettings(values['depth_scale'], values['min_depth'],
                                   values['max_depth'], values['depth_encoding'], relative,
                                   values['cloud_color'], values['cloud_decimation'])

    @staticmethod
    def _relative_settings(values):
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

    def publish_outputs(self, header, outputs, result):
        depth = self._output.depth(outputs, result, self._intrinsics)
        if depth is None:
            self.get_logger().warning(f'publishing no depth and no points: '
                                      f'{self._output.unscaled_reason}',
                                      throttle_duration_sec=WARN_PERIOD_S)
            return
        self.depth_publisher.publish(image_msg_from_fields(header, depth.image))
        if self.colorized_publisher.get_subscription_count() > 0:
            self.colorized_publisher.publish(image_msg(self._output.colorized(depth), 'bgr8',
                                                       header=header))
        if self.parameter_values['publish_points'] and \
                self.points_publisher.get_subscription_count() > 0:
            self._publish_points(header, depth, result)

    def _publish_points(self, header, depth, result):
        intrinsics = self._intrinsics
        if intrinsics is None:
            self.get_logger().warning(
                "no valid CameraInfo on 'camera_info' yet: publishing depth without points",
                throttle_duration_sec=WARN_PERIOD_S)
            return
        try:
            cloud = self._output.cloud(depth, intrinsics, result)
        except IntrinsicsError as error:
            self.get_logger().warning(
                f'CameraInfo for {intrinsics.width}x{intrinsics.height} does not fit the '
                f'{depth.metres.shape[1]}x{depth.metres.shape[0]} image: {error}; publishing '
                'depth without points', throttle_duration_sec=WARN_PERIOD_S)
            return
        self.points_publisher.publish(cloud_msg(cloud, header))


def main(args=None):
    """Run the depth node; the ``depth_node`` command."""
    return run_node(DepthNode, args)
