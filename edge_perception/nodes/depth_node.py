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
    DEFAULT_FLOOR_REGION,
    DEPTH_KINDS,
    FLOOR,
    FloorSettings,
    METRIC,
    NO_SCALING,
    RELATIVE_SCALINGS,
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
from edge_perception.nodes.parameters import ParameterSpec
from edge_perception.package_paths import shared_file

BUNDLED_MODEL = ('models', 'fastdepth', 'fastdepth.xml')
DEPTH_ENCODINGS = ('32FC1', '16UC1')
CLOUD_COLORS = ('none', 'rgb')
CLOUD_DECIMATIONS = (1, 2, 4)

# Depth Anything's own input size (37 patches of 14 pixels).
DEFAULT_INPUT_SIZE = 518

DEPTH_PARAMETERS = (
    ParameterSpec('depth_scale', 1.0, 'Metres per unit of the model output (metric); the '
                  "affine's scale (relative_scaling affine).", value_range=(1e-6, 1e6)),
    ParameterSpec('min_depth', 0.1, 'Nearest valid depth in metres; nearer pixels are invalid.',
                  value_range=(0.0, 1000.0)),
    ParameterSpec('max_depth', 10.0, 'Farthest valid depth in metres; farther pixels are '
                  'invalid.', value_range=(0.0, 1000.0)),
    ParameterSpec('depth_encoding', '32FC1',
                  "Encoding of 'depth' (REP 118): 32FC1 (metres, NaN = invalid) or 16UC1 "
                  '(millimetres, 0 = invalid; depth beyond 65.535 m is invalid).',
                  choices=DEPTH_ENCODINGS),
    ParameterSpec('publish_points', True,
                  "Publish the organised cloud on 'points' (computed only while someone "
                  'subscribes, and only with a valid CameraInfo).'),
    ParameterSpec('cloud_color', 'none',
                  "Colour of the cloud: none (x y z) or rgb (x y z rgb, the camera's colours "
                  "packed as PCL and RViz read them, like depth_image_proc's "
                  'point_cloud_xyzrgb).', choices=CLOUD_COLORS),
    ParameterSpec('cloud_decimation', 1,
                  'Keep every n-th pixel of each row and column in the cloud: 1, 2 or 4 (an '
                  'organised cloud of ceil(H/n) x ceil(W/n) points, with the camera model '
                  'scaled to it).', choices=CLOUD_DECIMATIONS),
    ParameterSpec('depth_kind', METRIC,
                  'What the model outputs: metric (metres times depth_scale), relative (depth '
                  'up to scale, e.g. MiDaS-like) or inverse_relative (affine-invariant inverse '
                  'depth, disparity-like: MiDaS, Depth Anything). Relative kinds need '
                  'relative_scaling to publish depth and points.', choices=DEPTH_KINDS,
                  at_configure=True),
    ParameterSpec('relative_scaling', 'none',
                  'How relative depth becomes metres: none (nothing is published but timing; '
                  '/diagnostics says why), affine (relative: depth_scale * pred + depth_shift; '
                  'inverse_relative: 1 / (depth_scale * pred + depth_shift), invalid where '
                  'not positive) or floor (the floor in floor_region lies camera_height below '
                  'the camera). Ignored for metric models.', choices=RELATIVE_SCALINGS,
                  at_configure=True),
    ParameterSpec('depth_shift', 0.0, "The affine's shift (relative_scaling affine): metres "
                  'for relative, inverse metres for inverse_relative.',
                  value_range=(-1e6, 1e6)),
    ParameterSpec('camera_height', 0.0,
                  'Metres from the optical centre down to the floor, for relative_scaling '
                  'floor (> 0).', value_range=(0.0, 100.0)),
    ParameterSpec('floor_region', list(DEFAULT_FLOOR_REGION),
                  'Where the floor is in the image, for relative_scaling floor: [x_min, y_min, '
                  'x_max, y_max] as fractions of the width and height (0 = left/top); '
                  'default the lower 40 %.', at_configure=True),
    ParameterSpec('floor_smoothing', 0.2,
                  "Weight of a new frame's floor scale in its exponential smoothing (in log "
                  'space), (0, 1]; 1 = no smoothing.', value_range=(0.001, 1.0)),
    ParameterSpec('floor_max_tilt', 45.0,
                  "Largest angle in degrees between a fitted floor's normal and the camera's "
                  'down axis; steeper planes (walls) are not the floor.',
                  value_range=(1.0, 89.0)),
    ParameterSpec('input_size', DEFAULT_INPUT_SIZE,
                  'Input height and width given to a model whose input height and width are '
                  'dynamic (e.g. Depth Anything: a multiple of its patch size 14); static '
                  'inputs keep their size.', value_range=(1, 4096), at_configure=True),
)


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
