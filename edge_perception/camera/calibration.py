"""Camera calibration files as ROS's ``camera_calibration`` writes them, and their scaling.

The format (``camera_calibration_parsers``' YAML)::

    image_width: 640
    image_height: 480
    camera_name: webcam
    camera_matrix: {rows: 3, cols: 3, data: [fx, 0, cx, 0, fy, cy, 0, 0, 1]}
    distortion_model: plumb_bob
    distortion_coefficients: {rows: 1, cols: 5, data: [k1, k2, p1, p2, k3]}
    rectification_matrix: {rows: 3, cols: 3, data: [...]}
    projection_matrix: {rows: 3, cols: 4, data: [...]}

No rclpy here: :class:`CameraCalibration` holds the fields of a ``sensor_msgs/CameraInfo``
(``k``, ``d``, ``r``, ``p``) and ``nodes/camera_node.py`` copies them into the message.
"""

from dataclasses import dataclass, replace
import math
from pathlib import Path

import yaml

from edge_perception.core.depth_geometry import IntrinsicsError, PinholeIntrinsics

# The camera_info_url scheme a file path may carry, as camera_info_manager spells it.
FILE_URL_PREFIX = 'file://'
# Aspect ratios differing by more than this mean a crop, which scaling cannot model.
ASPECT_TOLERANCE = 0.01
_MATRIX_SHAPES = {'camera_matrix': (3, 3), 'rectification_matrix': (3, 3),
                  'projection_matrix': (3, 4)}


class CalibrationError(ValueError):
    """A calibration file that cannot be read, or that does not describe a camera."""


@dataclass(frozen=True)
class CameraCalibration:
    """What a ``sensor_msgs/CameraInfo`` says about a camera, for images of one size.

    :param k: row-major 3x3 camera matrix (9 values).
    :param d: distortion coefficients of ``distortion_model``.
    :param r: row-major 3x3 rectification matrix (9 values).
    :param p: row-major 3x4 projection matrix (12 values).
    :param calibrated: False for a pinhole model guessed from a field of view.
    """

    width: int
    height: int
    camera_name: str
    k: tuple
    distortion_model: str
    d: tuple
    r: tuple
    p: tuple
    calibrated: bool = True

    @classmethod
    def from_horizontal_fov(cls, width, height, horizontal_fov_deg, camera_name='camera'):
        """Return an undistorted pinhole model with square pixels and a centred principal
        point (see :meth:`PinholeIntrinsics.from_horizontal_fov`), marked uncalibrated.

        :param horizontal_fov_deg: full horizontal field of view, degrees, in (0, 180).
        """
        if not 0.0 < horizontal_fov_deg < 180.0:
            raise CalibrationError(f'horizontal field of view {horizontal_fov_deg} deg must lie '
                                   'between 0 and 180 degrees')
        intrinsics = PinholeIntrinsics.from_horizontal_fov(width, height, horizontal_fov_deg)
        k = tuple(float(value) for value in intrinsics.matrix().reshape(9))
        return cls(width, height, camera_name, k, 'plumb_bob', (0.0,) * 5,
                   (1.0, 0.0, 0.0, 0.0, 1.0, 0.0, 0.0, 0.0, 1.0), _projection_of(k),
                   calibrated=False)

    def scaled_to(self, width, height):
        """Return the calibration of the same camera imaging at ``width`` x ``height``.

        ``K`` and ``P`` are scaled in the pixel-centre convention of
        :meth:`PinholeIntrinsics.scaled_to` (a pixel's centre lies at its integer coordinate,
        so a principal point ``c`` becomes ``(c + 0.5) * s - 0.5``); image_proc's resize scales
        ``c * s``, half a pixel times ``1 - s`` away. Focal lengths and ``P``'s translation
        column scale by ``s``; the distortion coefficients (of normalised coordinates) and
        ``R`` are unchanged.

        :raises CalibrationError: when the aspect ratios differ (a cropped mode, not a scaled
            one: the calibration does not describe it).
        """
        if (width, height) == (self.width, self.height):
            return self
        scale_x, scale_y = width / self.width, height / self.height
        if abs(scale_x / scale_y - 1.0) > ASPECT_TOLERANCE:
            raise CalibrationError(
                f"calibration of '{self.camera_name}' is for {self.width}x{self.height}, the "
                f'images are {width}x{height}: a different aspect ratio is a crop, which '
                'scaling cannot model; calibrate at this resolution')
        return replace(self, width=width, height=height,
                       k=_scaled_matrix(self.k, 3, scale_x, scale_y),
                       p=_scaled_matrix(self.p, 4, scale_x, scale_y))

    def to_yaml(self):
        """Return the calibration in ``camera_calibration``'s YAML format."""
        def matrix(values, rows, cols):
            return {'rows': rows, 'cols': cols, 'data': [float(value) for value in values]}
        return yaml.safe_dump({
            'image_width': self.width, 'image_height': self.height,
            'camera_name': self.camera_name,
            'camera_matrix': matrix(self.k, 3, 3),
            'distortion_model': self.distortion_model,
            'distortion_coefficients': matrix(self.d, 1, len(self.d)),
            'rectification_matrix': matrix(self.r, 3, 3),
            'projection_matrix': matrix(self.p, 3, 4)}, sort_keys=False)


def load_calibration(location):
    """Read a calibration file in ``camera_calibration``'s YAML format.

    :param location: a path, or a ``file://`` URL as ``camera_info_url`` takes it.
    :raises CalibrationError: naming the file and what is wrong with it.
    """
    path = Path(location.removeprefix(FILE_URL_PREFIX))
    if location.startswith(('package://', 'http://', 'https://')):
        raise CalibrationError(f"calibration '{location}': only file paths and file:// URLs "
                               'are supported')
    try:
        text = path.read_text()
    except (OSError, UnicodeDecodeError) as error:
        raise CalibrationError(f"cannot read calibration '{path}': "
                               f'{getattr(error, "strerror", None) or error}') from None
    try:
        fields = yaml.safe_load(text)
    except yaml.YAMLError as error:
        raise CalibrationError(f"calibration '{path}' is not YAML: "
                               f"{str(error).splitlines()[0]}") from None
    try:
        return _calibration_from_fields(fields)
    except CalibrationError as error:
        raise CalibrationError(f"calibration '{path}': {error}") from None


def _calibration_from_fields(fields):
    if not isinstance(fields, dict):
        raise CalibrationError('expected a mapping with image_width, image_height, '
                               'camera_matrix, ... (camera_calibration format)')
    width, height = _size(fields, 'image_width'), _size(fields, 'image_height')
    k, r, p = (_matrix(fields, name, *_MATRIX_SHAPES[name]) for name in _MATRIX_SHAPES)
    d = _matrix(fields, 'distortion_coefficients', 1, None)
    distortion_model = fields.get('distortion_model', 'plumb_bob')
    if not isinstance(distortion_model, str):
        raise CalibrationError(f'distortion_model is {distortion_model!r}, expected a name')
    try:
        PinholeIntrinsics.from_camera_info(k, width, height)
    except IntrinsicsError as error:
        raise CalibrationError(f'camera_matrix: {error}') from None
    return CameraCalibration(width, height, str(fields.get('camera_name', 'camera')), k,
                             distortion_model, d, r, p)


def _size(fields, name):
    value = fields.get(name)
    if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
        raise CalibrationError(f'{name} is {value!r}, expected a positive integer')
    return value


def _matrix(fields, name, rows, cols):
    """Return the values of a ``{rows, cols, data}`` entry; ``cols`` None: any count."""
    entry = fields.get(name)
    if not isinstance(entry, dict) or not isinstance(entry.get('data'), list):
        raise CalibrationError(f'{name} is missing or has no data list '
                               '(expected {rows, cols, data})')
    data = entry['data']
    expected = None if cols is None else rows * cols
    declared = entry.get('rows', rows), entry.get('cols', cols if cols else len(data))
    if (expected is not None and (len(data) != expected or declared != (rows, cols))) or \
            declared[0] * declared[1] != len(data):
        raise CalibrationError(f'{name} has {len(data)} values as {declared[0]}x{declared[1]}, '
                               f'expected {rows}x{cols or "n"}')
    try:
        values = tuple(float(value) for value in data)
    except (TypeError, ValueError):
        raise CalibrationError(f'{name} holds something other than numbers') from None
    if not all(math.isfinite(value) for value in values):
        raise CalibrationError(f'{name} holds non-finite values')
    return values


def _projection_of(k):
    """``P = [K | 0]`` of a monocular camera."""
    return (k[0], k[1], k[2], 0.0, k[3], k[4], k[5], 0.0, k[6], k[7], k[8], 0.0)


def _scaled_matrix(values, cols, scale_x, scale_y):
    """Scale the first two rows of a row-major 3 x ``cols`` matrix whose third column is the
    principal point; other columns (focal lengths, skew, ``P``'s translation) scale plainly.
    """
    scaled = list(values)
    for row, scale in ((0, scale_x), (1, scale_y)):
        for col in range(cols):
            index = row * cols + col
            if col == 2:
                scaled[index] = (values[index] + 0.5) * scale - 0.5
            else:
                scaled[index] = values[index] * scale
    return tuple(scaled)
