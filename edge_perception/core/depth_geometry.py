"""Depth maps: model output to metres at camera resolution, and depth to organised 3-D points.

No rclpy here. Depth follows REP 118: ``float32`` metres along the optical axis, non-finite
where invalid. Points are in the camera optical frame (x right, y down, z forward).
"""

from dataclasses import dataclass
import math

import cv2
import numpy as np

from edge_perception.core.input_crop import centred_crop, CropBox, FULL_FRAME

# Bounds outside which intrinsics are corrupt rather than an unusual lens: ray directions are
# float32, where a focal length below a thousandth of a pixel or coordinates beyond a billion
# pixels lose all meaning.
MIN_FOCAL_PX = 1e-3
MAX_PIXEL_COORDINATE = 1e9


class IntrinsicsError(ValueError):
    """Camera intrinsics that cannot project depth into 3-D."""


@dataclass(frozen=True)
class PinholeIntrinsics:
    """Pinhole camera intrinsics in pixels, for images of ``width`` x ``height``."""

    fx: float
    fy: float
    cx: float
    cy: float
    width: int
    height: int

    @classmethod
    def from_camera_info(cls, k, width, height):
        """Build from a ``CameraInfo`` row-major 3x3 ``k`` and its resolution.

        :raises IntrinsicsError: for zero, negative or non-finite focal lengths or sizes.
        """
        k = [float(value) for value in k]
        if len(k) != 9:
            raise IntrinsicsError(f'K has {len(k)} values, expected 9')
        intrinsics = cls(k[0], k[4], k[2], k[5], int(width), int(height))
        intrinsics.validate()
        return intrinsics

    @classmethod
    def from_horizontal_fov(cls, width, height, horizontal_fov_deg):
        """Square-pixel intrinsics with the principal point in the image centre.

        :param horizontal_fov_deg: full horizontal field of view, degrees.
        """
        focal = (width / 2.0) / math.tan(math.radians(horizontal_fov_deg) / 2.0)
        return cls(focal, focal, (width - 1) / 2.0, (height - 1) / 2.0, width, height)

    def matrix(self):
        """Return the 3×3 camera matrix ``K`` (float64)."""
        return np.array([[self.fx, 0.0, self.cx], [0.0, self.fy, self.cy], [0.0, 0.0, 1.0]],
                        dtype=np.float64)

    def validate(self):
        """Raise :class:`IntrinsicsError` unless the focal lengths and size are usable."""
        values = (self.fx, self.fy, self.cx, self.cy)
        if not all(math.isfinite(value) for value in values):
            raise IntrinsicsError(f'non-finite intrinsics fx={self.fx} fy={self.fy} '
                                  f'cx={self.cx} cy={self.cy}')
        if not (MIN_FOCAL_PX <= self.fx <= MAX_PIXEL_COORDINATE and
                MIN_FOCAL_PX <= self.fy <= MAX_PIXEL_COORDINATE):
            raise IntrinsicsError(f'focal lengths must lie in [{MIN_FOCAL_PX:g}, '
                                  f'{MAX_PIXEL_COORDINATE:g}] pixels (fx={self.fx}, '
                                  f'fy={self.fy})')
        if max(abs(self.cx), abs(self.cy)) > MAX_PIXEL_COORDINATE:
            raise IntrinsicsError(f'principal point ({self.cx}, {self.cy}) is off any image')
        if self.width <= 0 or self.height <= 0:
            raise IntrinsicsError(f'camera size {self.width}x{self.height} is empty')

    def scaled_to(self, width, height):
        """Return the intrinsics for the same camera imaging at ``width`` x ``height``.

        Used when images arrive binned or resized relative to the calibrated resolution.

        :raises IntrinsicsError: when the rescaled camera is not usable (e.g. a calibration
            for an absurd resolution).
        """
        if (width, height) == (self.width, self.height):
            return self
        sx, sy = width / self.width, height / self.height
        scaled = PinholeIntrinsics(self.fx * sx, self.fy * sy, (self.cx + 0.5) * sx - 0.5,
                                   (self.cy + 0.5) * sy - 0.5, width, height)
        scaled.validate()
        return scaled

    def decimated(self, factor):
        """Return the intrinsics of every ``factor``-th pixel in each direction (pixels
        ``0, factor, 2 * factor, ...``), the camera model of a decimated organised cloud.

        Sampling pixel ``u = factor * u'`` gives ``u' = (u - 0) / factor``: focal lengths and
        principal point divide by ``factor`` exactly (unlike :meth:`scaled_to`, which models
        averaging binned pixels).
        """
        if factor == 1:
            return self
        return PinholeIntrinsics(self.fx / factor, self.fy / factor, self.cx / factor,
                                 self.cy / factor, -(-self.width // factor),
                                 -(-self.height // factor))


def resize_depth_map(output, width, height, out=None, input_crop=FULL_FRAME):
    """Return a model's depth map as ``height x width`` float32 at the camera's pixels, resized
    bilinearly when its size differs.

    A network that saw the centred ``input_crop`` of the frame
    (:func:`~edge_perception.core.input_crop.centred_crop`) predicted depth for that box only:
    its map is resized into the box, and the pixels around it are NaN, so the depth image stays
    aligned with the camera image and its CameraInfo.

    :param output: model output whose last two axes are rows and columns (e.g. 1x1xHxW).
    :param out: ``height x width`` float32 array to write into, or None for a new one.
    :param input_crop: the part of the frame the network saw: its
        :class:`~edge_perception.core.input_crop.CropBox` (as the pipeline's result carries
        it), or the fraction of the frame's width and height, centred.
    """
    depth = np.asarray(output, dtype=np.float32).reshape(output.shape[-2:])
    if out is None:
        out = np.empty((height, width), np.float32)
    box = input_crop if isinstance(input_crop, CropBox) else \
        centred_crop(height, width, input_crop)
    if box.is_whole(height, width):
        _resize_into(depth, out)
    else:
        out[...] = np.nan
        rows, columns = box.slices
        # OpenCV writes into a contiguous array only: the box is resized apart, then copied.
        out[rows, columns] = _resize_into(depth, np.empty((box.height, box.width), np.float32))
    return out


def _resize_into(depth, out):
    if depth.shape != out.shape:
        cv2.resize(depth, out.shape[::-1], dst=out, interpolation=cv2.INTER_LINEAR)
    else:
        out[...] = depth
    return out


@dataclass(frozen=True)
class DepthDecoder:
    """Turns the model's depth output into metres at the camera resolution.

    :param depth_scale: metres per model output unit.
    :param min_depth: metres; nearer values become NaN.
    :param max_depth: metres; farther values become NaN.
    """

    depth_scale: float = 1.0
    min_depth: float = 0.1
    max_depth: float = 10.0

    def decode(self, output, width, height, out=None, input_crop=FULL_FRAME):
        """Return a ``height x width`` float32 depth image in metres, NaN where invalid.

        :param output: model output whose last two axes are rows and columns (e.g. 1x1xHxW).
        :param out: ``height x width`` float32 array to write into (e.g. an
            :class:`~edge_perception.core.image_codec.ImageBuffer`'s), or None for a new one.
        :param input_crop: fraction of the frame's width and height the network saw, centred;
            depth outside that box is NaN (see :func:`resize_depth_map`).
        """
        out = resize_depth_map(output, width, height, out=out, input_crop=input_crop)
        if self.depth_scale != 1.0:
            out *= np.float32(self.depth_scale)
        with np.errstate(invalid='ignore'):
            invalid = ~((out >= self.min_depth) & (out <= self.max_depth))
        out[invalid] = np.nan
        return out


class PointProjector:
    """Projects depth images to organised x/y/z arrays, caching the per-pixel ray directions."""

    def __init__(self):
        self._intrinsics = None
        self._rays_x = None
        self._rays_y = None

    def project(self, depth, intrinsics, out=None):
        """Return a ``height x width x 3`` float32 array of points; NaN where depth is invalid.

        :param depth: ``height x width`` float32 metres.
        :param intrinsics: :class:`PinholeIntrinsics` of the camera (rescaled to the depth
            image's size when they differ).
        :param out: ``height x width x 3`` float32 array (or strided view) to write into.
        """
        height, width = depth.shape
        intrinsics = intrinsics.scaled_to(width, height)
        if intrinsics != self._intrinsics:
            columns = np.arange(width, dtype=np.float32)
            rows = np.arange(height, dtype=np.float32)
            self._rays_x = ((columns - intrinsics.cx) / intrinsics.fx)[None, :]
            self._rays_y = ((rows - intrinsics.cy) / intrinsics.fy)[:, None]
            self._intrinsics = intrinsics
        points = np.empty((height, width, 3), dtype=np.float32) if out is None else out
        np.multiply(depth, self._rays_x, out=points[:, :, 0])
        np.multiply(depth, self._rays_y, out=points[:, :, 1])
        points[:, :, 2] = depth
        return points


MAX_MILLIMETRES = np.iinfo(np.uint16).max


def metres_to_millimetres(depth, out=None):
    """Return a REP 118 ``16UC1`` depth image: millimetres, 0 where invalid.

    Invalid means NaN or a depth that millimetres in 16 bits cannot hold (over 65.535 m, or
    under 0.5 mm, which would round to the invalid value 0).

    :param depth: ``height x width`` float32 metres, NaN where invalid.
    :param out: ``height x width`` uint16 array to write into, or None for a new one.
    """
    if out is None:
        out = np.empty(depth.shape, np.uint16)
    millimetres = np.rint(depth * np.float32(1000.0))
    with np.errstate(invalid='ignore'):
        valid = (millimetres >= 1) & (millimetres <= MAX_MILLIMETRES)
    out[...] = 0
    out[valid] = millimetres[valid]
    return out


def depth_in_metres(depth, encoding):
    """Return a float32 metres copy of a REP 118 depth image, NaN where invalid.

    :param depth: ``height x width`` array as read from the message.
    :param encoding: '32FC1' (metres, non-finite = invalid) or '16UC1' (millimetres, 0 = invalid).
    """
    if encoding == '32FC1':
        metres = np.array(depth, dtype=np.float32)
        metres[~np.isfinite(metres)] = np.nan
        return metres
    if encoding == '16UC1':
        metres = depth.astype(np.float32) / np.float32(1000.0)
        metres[depth == 0] = np.nan
        return metres
    raise ValueError(f"'{encoding}' is not a depth encoding (32FC1 or 16UC1)")
