"""Every parameter the package's nodes declare, in tables without ROS.

One :class:`ParameterSpec` per parameter: its name, default, description and the values it
accepts. The nodes declare from these tables (:mod:`edge_perception.nodes.parameters` turns a
spec into an ``rcl_interfaces`` descriptor), the replay tools tell the nodes apart by them
(:mod:`edge_perception.replay.node_config`), and tests hold the shipped parameter files
against them. No rclpy or ROS interfaces here.
"""

from dataclasses import dataclass

from edge_perception.core.depth_output import DEPTH_ENCODINGS
from edge_perception.core.engine import INFERENCE_PRECISIONS, PERFORMANCE_HINTS
from edge_perception.core.image_codec import DEFAULT_MAX_SIDE
from edge_perception.core.input_crop import FULL_FRAME, MIN_INPUT_CROP
from edge_perception.core.pipeline import PREPROCESSING_MODES
from edge_perception.core.relative_depth import (
    DEFAULT_FLOOR_REGION,
    DEPTH_KINDS,
    METRIC,
    RELATIVE_SCALINGS,
)
from edge_perception.messages import DEFAULT_FRAME_ID

IMAGE_TRANSPORTS = ('raw', 'compressed')
CLOUD_COLORS = ('none', 'rgb')
CLOUD_DECIMATIONS = (1, 2, 4)
DEFAULT_HFOV_DEG = 65.0


class ParameterError(ValueError):
    """A parameter value outside what the node accepts."""


@dataclass(frozen=True)
class ParameterSpec:
    """One parameter: its default, what it means, and the values it accepts.

    :param choices: allowed string values (validated here; rclpy does not enforce them).
    :param value_range: ``(low, high)`` inclusive, enforced by rclpy.
    :param read_only: True for what only applies when the node is created (``autostart``).
    :param dynamic_typing: True to accept a value of any type (a camera given as ``/dev/video0``
        or as the integer ``0``).
    :param at_configure: True for what the node reads when it is configured (model, device,
        ...): changes are refused unless the node is unconfigured (see
        :class:`~edge_perception.nodes.inference_node.InferenceNode`).

    A default of ``[]`` declares an array (of ``element_type``: 'string' or 'double') that is
    unset until given: rcl cannot type an empty list (in YAML or on the command line), so such a
    parameter is left out of parameter files unless it has values, and reads as ``[]``.
    """

    name: str
    default: object
    description: str
    choices: tuple = ()
    value_range: tuple | None = None
    read_only: bool = False
    at_configure: bool = False
    element_type: str = 'string'
    dynamic_typing: bool = False

    @property
    def is_unset_array(self):
        """True for an array whose default is empty (see the class documentation)."""
        return isinstance(self.default, list) and not self.default

    def check(self, value):
        """Raise :class:`ParameterError` when ``value`` is not one of the choices."""
        if self.choices and value not in self.choices:
            raise ParameterError(f"parameter '{self.name}' is '{value}'; "
                                 f"must be one of: {', '.join(map(str, self.choices))}")


def model_parameters(default_model):
    """Return the parameters every inference node declares, with the head's bundled model."""
    return (
        ParameterSpec('model', '',
                      'Path to an OpenVINO IR (.xml with .bin beside it) or ONNX model; empty '
                      f'for the model bundled with the package ({default_model}).',
                      at_configure=True),
        ParameterSpec('device', 'CPU',
                      'OpenVINO device: CPU, GPU, GPU.<n>, NPU, MYRIAD (Intel NCS2, needs '
                      'OpenVINO 2022.3 LTS), AUTO, AUTO:<list>, HETERO:<list>, MULTI:<list>.',
                      at_configure=True),
        ParameterSpec('image_transport', 'raw',
                      "Camera input: raw (sensor_msgs/Image on 'image') or compressed "
                      "(sensor_msgs/CompressedImage, JPEG or PNG, on '<image>/compressed' as "
                      "image_transport's compressed plugin publishes it).",
                      choices=IMAGE_TRANSPORTS, at_configure=True),
        ParameterSpec('autostart', True,
                      'Configure and activate at start, so the node runs with no lifecycle '
                      'manager; false: wait in the unconfigured state for ~/change_state.',
                      read_only=True),
        ParameterSpec('preprocessing', 'auto',
                      'Where resize, colour conversion and normalisation run: graph (inside the '
                      'compiled model), host (OpenCV), auto (graph, host if the device rejects '
                      'it).', choices=PREPROCESSING_MODES, at_configure=True),
        ParameterSpec('mean', [],
                      "Per-channel mean subtracted from 0-255 pixel values, in the model's "
                      'channel order (one value applies to all channels), e.g. [123.675, '
                      "116.28, 103.53]. Unset: the model's own (model_info mean_values in the "
                      'IR), else 0.', at_configure=True, element_type='double'),
        ParameterSpec('scale', [],
                      'Per-channel divisor applied after the mean, in 0-255 pixel units, e.g. '
                      "[58.395, 57.12, 57.375]. Unset: the model's own (model_info "
                      'scale_values), else 1.', at_configure=True, element_type='double'),
        ParameterSpec('color_order', '',
                      "Channel order a colour model expects; empty: the model's own (model_info "
                      'reverse_input_channels), else RGB.', choices=('', 'RGB', 'BGR'),
                      at_configure=True),
        ParameterSpec('performance_hint', 'LATENCY',
                      'OpenVINO performance hint: LATENCY for one stream, THROUGHPUT for many '
                      'requests in parallel.', choices=PERFORMANCE_HINTS, at_configure=True),
        ParameterSpec('num_requests', 0,
                      'Parallel inference requests; 0 lets the device choose.',
                      value_range=(0, 16), at_configure=True),
        ParameterSpec('inference_precision', 'default',
                      "Arithmetic precision on the device: default (the device's choice, bf16 "
                      'on CPUs that have it), f32 (the same outputs on every CPU, for '
                      'regression), bf16, f16.', choices=INFERENCE_PRECISIONS, at_configure=True),
        ParameterSpec('fallback_devices', [],
                      "Devices tried in order when 'device' is absent at start or keeps "
                      "failing at run time, e.g. ['CPU']; the node warns, reports it on "
                      '/diagnostics and tries the configured device again with back-off. Unset: '
                      'an absent device fails the configure transition.', at_configure=True),
        ParameterSpec('max_width', DEFAULT_MAX_SIDE,
                      'Widest camera frame accepted, pixels; wider frames are refused (counted, '
                      'warned about) before any buffer is allocated for them.',
                      value_range=(1, 65535), at_configure=True),
        ParameterSpec('max_height', DEFAULT_MAX_SIDE,
                      'Tallest camera frame accepted, pixels.', value_range=(1, 65535),
                      at_configure=True),
        ParameterSpec('input_crop', FULL_FRAME,
                      "Fraction of the frame's width and of its height the network sees, "
                      'centred (cropped before the resize to the model input): 1.0 the whole '
                      "frame; 0.912 the FastDepth authors' NYU crop; 0.875 the usual ImageNet "
                      'centre crop. Depth outputs stay at camera resolution, invalid outside '
                      'the crop.', value_range=(MIN_INPUT_CROP, FULL_FRAME), at_configure=True),
        ParameterSpec('diagnostic_period', 1.0,
                      'Seconds between status reports on /diagnostics (sent in every lifecycle '
                      'state).', value_range=(0.1, 60.0), read_only=True),
    )


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

CLASSIFIER_PARAMETERS = (
    ParameterSpec('labels', '',
                  "Labels file, one label per line (line i names class i); empty: the model's "
                  'own labels (model_info labels in the IR), else the class indices.',
                  read_only=True),
    ParameterSpec('top_k', 5, 'Results per frame, best first.', value_range=(1, 1000)),
    ParameterSpec('score_threshold', 0.0,
                  'Lowest probability reported; results below it are left out.',
                  value_range=(0.0, 1.0)),
    ParameterSpec('output_is_logits', True,
                  'The model outputs logits: apply a softmax in the graph. False when it '
                  'already outputs probabilities.', at_configure=True),
)

CAMERA_PARAMETERS = (
    ParameterSpec('device', '',
                  "V4L2 camera: '/dev/videoN' or its index N (a string or an integer). Exactly "
                  'one of device, video and images is set.', read_only=True,
                  dynamic_typing=True),
    ParameterSpec('video', '', 'Video file to play (MP4, MKV, AVI, MOV: what FFmpeg decodes).',
                  read_only=True),
    ParameterSpec('images', '', 'Folder of images (PNG, JPEG, ...) to play in name order.',
                  read_only=True),
    ParameterSpec('width', 0, 'Frame width to ask the device for, pixels; 0: its default. '
                  'What it granted is logged.', value_range=(0, 16384), read_only=True),
    ParameterSpec('height', 0, 'Frame height to ask the device for, pixels; 0: its default.',
                  value_range=(0, 16384), read_only=True),
    ParameterSpec('fps', 0.0, 'Frame rate to ask the device for, frames per second; 0: its '
                  'default.', value_range=(0.0, 1000.0), read_only=True),
    ParameterSpec('rate', 0.0, 'Frames per second to play a video or image folder at; 0: the '
                  "video's own rate (an image folder: 10).", value_range=(0.0, 1000.0),
                  read_only=True),
    ParameterSpec('loop', False, 'Play a video or image folder again from the start after its '
                  'last frame, instead of finishing.', read_only=True),
    ParameterSpec('camera_info_url', '',
                  "Calibration in camera_calibration's YAML format (a path or file:// URL), "
                  'scaled to the granted resolution; empty: a pinhole model from hfov.',
                  read_only=True),
    ParameterSpec('hfov', DEFAULT_HFOV_DEG,
                  'Horizontal field of view in degrees of the pinhole model published without '
                  'a calibration (depth-to-cloud geometry is then approximate).',
                  value_range=(1.0, 179.0), read_only=True),
    ParameterSpec('frame_id', DEFAULT_FRAME_ID, 'frame_id of the headers: the optical frame '
                  '(z forward, x right, y down) of the camera.', read_only=True),
    ParameterSpec('reconnect', False, 'When the device stops giving frames, try to reopen it '
                  'every second instead of exiting with an error.', read_only=True),
    ParameterSpec('wait_for_subscribers', 0,
                  "Hold the first frame until this many subscriptions to 'image' are matched, "
                  'so that a replayed clip is seen from its first frame; 0: start at once.',
                  value_range=(0, 100), read_only=True),
)

# The parameters only each inference node declares (its head's), by node name.
HEAD_PARAMETERS = {'depth_node': DEPTH_PARAMETERS, 'classifier_node': CLASSIFIER_PARAMETERS}
