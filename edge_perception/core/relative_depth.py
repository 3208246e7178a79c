"""Relative and inverse-relative depth (MiDaS, Depth Anything) turned into metres.

Such models predict depth only up to an unknown scale (``relative``) or an affine-invariant
inverse depth, disparity-like (``inverse_relative``). Two ways to metres:

* **a fixed affine** (:func:`affine_to_metres`): ``relative``: metres = scale * pred + shift;
  ``inverse_relative``: metres = 1 / (scale * pred + shift), invalid (NaN) where the
  denominator is not positive;
* **the floor seen by a camera mounted at a known height** (:class:`FloorScale`): the
  relative depth of a floor region is back-projected with the camera intrinsics, a plane is
  fitted to it robustly (RANSAC, then least squares on its inliers), fits whose normal is
  implausible for a floor are rejected, and the scale puts the plane ``camera_height`` below
  the optical centre. Inverse-relative predictions are taken as depth ∝ 1 / pred (shift 0)
  for this.

:class:`RelativeDepthConverter` applies one of them to each frame. No rclpy here.
"""

from dataclasses import dataclass
import math

import numpy as np

from edge_perception.core.depth_geometry import IntrinsicsError, resize_depth_map
from edge_perception.core.health import HealthReport, OK, WARN
from edge_perception.core.input_crop import FULL_FRAME

METRIC, RELATIVE, INVERSE_RELATIVE = 'metric', 'relative', 'inverse_relative'
DEPTH_KINDS = (METRIC, RELATIVE, INVERSE_RELATIVE)
NO_SCALING, AFFINE, FLOOR = 'none', 'affine', 'floor'
RELATIVE_SCALINGS = (NO_SCALING, AFFINE, FLOOR)
DEFAULT_FLOOR_REGION = (0.0, 0.6, 1.0, 1.0)
_UNSCALED_MESSAGE = (
    "'{kind}' depth is known only up to scale and relative_scaling is 'none': no depth or "
    "cloud is published; set relative_scaling to 'affine' (depth_scale, depth_shift) or "
    "'floor' (camera_height, floor_region)")


class RelativeDepthError(ValueError):
    """Settings of relative depth that cannot work."""


def affine_to_metres(prediction, kind, scale, shift, out=None):
    """Return metres from a relative prediction by a fixed affine; NaN where invalid.

    :param kind: 'relative' (metres = scale * pred + shift) or 'inverse_relative'
        (metres = 1 / (scale * pred + shift); NaN where that denominator is not positive or
        not finite).
    :param out: float32 array of the prediction's shape to write into (may be ``prediction``).
    """
    if kind not in (RELATIVE, INVERSE_RELATIVE):
        raise RelativeDepthError(f"depth kind '{kind}' has no affine to metres")
    affine = np.multiply(prediction, np.float32(scale), out=out, dtype=np.float32)
    affine += np.float32(shift)
    if kind == INVERSE_RELATIVE:
        with np.errstate(invalid='ignore', divide='ignore'):
            positive = np.isfinite(affine) & (affine > 0)
            np.divide(np.float32(1.0), affine, out=affine, where=positive)
        affine[~positive] = np.nan
    return affine


def relative_depth(prediction, kind, out=None):
    """Return depth up to an unknown scale: the prediction itself (``relative``), or
    1 / prediction (``inverse_relative``, shift taken as 0); NaN where not positive.
    """
    if out is None:
        out = np.empty(np.shape(prediction), np.float32)
    if out is not prediction:
        out[...] = prediction
    with np.errstate(invalid='ignore'):
        positive = out > 0
    if kind == INVERSE_RELATIVE:
        np.divide(np.float32(1.0), out, out=out, where=positive)
    out[~positive] = np.nan
    return out


def check_floor_region(region):
    """Return ``region`` (x_min, y_min, x_max, y_max, fractions of width and height) as a
    tuple, or raise :class:`RelativeDepthError` saying what is wrong with it.
    """
    region = tuple(float(value) for value in region)
    if len(region) != 4:
        raise RelativeDepthError(f'floor_region has {len(region)} values; expected 4 '
                                 '(x_min, y_min, x_max, y_max as fractions of the image)')
    x_min, y_min, x_max, y_max = region
    if not (0.0 <= x_min < x_max <= 1.0 and 0.0 <= y_min < y_max <= 1.0):
        raise RelativeDepthError(f'floor_region {list(region)} must satisfy 0 <= x_min < x_max '
                                 '<= 1 and 0 <= y_min < y_max <= 1')
    return region


@dataclass(frozen=True)
class PlaneFit:
    """A plane ``normal . X = distance`` (unit normal towards +y, the camera's down), in the
    units of the depth it was fitted to, and how many of the sampled points lie on it.
    """

    normal: np.ndarray
    distance: float
    inliers: int
    points: int


def floor_normal_plausible(normal, max_tilt_deg):
    """Whether a unit plane normal is within ``max_tilt_deg`` of the camera's y axis (down in
    the optical frame): a floor seen by a camera that is pitched or rolled at most that much.
    """
    return abs(float(normal[1])) >= math.cos(math.radians(max_tilt_deg))


def fit_floor_plane(points, rng, max_tilt_deg=45.0, iterations=100, inlier_tolerance=0.02,
                    min_inlier_fraction=0.3):
    """Fit the floor plane to points robustly; return a :class:`PlaneFit` or None.

    RANSAC on planes through three points whose normal is plausible for a floor, then least
    squares on the best plane's inliers. Scale-free: the inlier tolerance is a fraction of the
    points' median depth, so relative depth of any scale fits alike.

    :param points: N x 3 float points in the camera optical frame (x right, y down, z forward).
    :param rng: ``numpy.random.Generator`` drawing the samples.
    :param max_tilt_deg: largest angle between the plane normal and the camera's y axis.
    :param inlier_tolerance: largest distance of an inlier from the plane, as a fraction of the
        median depth.
    :param min_inlier_fraction: fewer inliers than this fraction of the points: no fit.
    :return: None when no plausible plane holds enough points, or the plane does not lie below
        the optical centre.
    """
    points = np.asarray(points, dtype=np.float64)
    count = len(points)
    if count < 3:
        return None
    tolerance = inlier_tolerance * float(np.median(points[:, 2]))
    samples = points[rng.integers(0, count, (iterations, 3))]
    normals = np.cross(samples[:, 1] - samples[:, 0], samples[:, 2] - samples[:, 0])
    lengths = np.linalg.norm(normals, axis=1)
    usable = lengths > 0
    normals = normals[usable] / lengths[usable, None]
    plausible = np.abs(normals[:, 1]) >= math.cos(math.radians(max_tilt_deg))
    normals, anchors = normals[plausible], samples[usable][plausible][:, 0]
    if not len(normals):
        return None
    offsets = np.einsum('ij,ij->i', normals, anchors)
    # Broadcast products, not a BLAS matrix product: BLAS threads contend on a busy CPU.
    distances = np.abs(points[:, :1] * normals[:, 0] + points[:, 1:2] * normals[:, 1] +
                       points[:, 2:] * normals[:, 2] - offsets)
    inlier_counts = (distances <= tolerance).sum(axis=0)
    best = int(np.argmax(inlier_counts))
    if inlier_counts[best] < max(3, min_inlier_fraction * count):
        return None
    inliers = points[distances[:, best] <= tolerance]
    centroid = inliers.mean(axis=0)
    normal = np.linalg.svd(inliers - centroid, full_matrices=False)[2][2]
    if normal[1] < 0:
        normal = -normal
    distance = float(normal @ centroid)
    if not floor_normal_plausible(normal, max_tilt_deg) or distance <= 0:
        return None
    inlier_count = int((np.abs(points @ normal - distance) <= tolerance).sum())
    if inlier_count < max(3, min_inlier_fraction * count):
        return None
    return PlaneFit(normal, distance, inlier_count, count)


def back_project(depth, intrinsics, region, max_points, rng):
    """Return up to ``max_points`` 3-D points (N x 3) of the valid pixels of ``region`` of a
    depth image, drawn at random.

    :param intrinsics: :class:`~edge_perception.core.depth_geometry.PinholeIntrinsics` of the
        camera (rescaled to the depth image's size).
    :param region: (x_min, y_min, x_max, y_max), fractions of the width and height.
    """
    height, width = depth.shape
    intrinsics = intrinsics.scaled_to(width, height)
    x_min, y_min, x_max, y_max = region
    rows = slice(int(y_min * height), max(int(y_min * height) + 1, int(math.ceil(y_max * height))))
    columns = slice(int(x_min * width), max(int(x_min * width) + 1, int(math.ceil(x_max * width))))
    window = depth[rows, columns]
    v, u = np.nonzero(np.isfinite(window) & (window > 0))
    if len(v) > max_points:
        chosen = rng.choice(len(v), max_points, replace=False)
        v, u = v[chosen], u[chosen]
    z = window[v, u].astype(np.float64)
    u = u + columns.start
    v = v + rows.start
    return np.stack([(u - intrinsics.cx) / intrinsics.fx * z,
                     (v - intrinsics.cy) / intrinsics.fy * z, z], axis=1)


@dataclass(frozen=True)
class FloorSettings:
    """How :class:`FloorScale` finds the floor.

    :param camera_height: metres from the optical centre down to the floor (> 0).
    :param region: (x_min, y_min, x_max, y_max) of the image where the floor is, fractions.
    :param smoothing: weight of a new frame's scale in the exponential smoothing of the log
        scale, (0, 1]; 1 = no smoothing.
    :param max_tilt_deg: largest angle between a fitted floor normal and the camera's y axis.
    :param max_points: points sampled from the region per frame.
    """

    camera_height: float
    region: tuple = DEFAULT_FLOOR_REGION
    smoothing: float = 0.2
    max_tilt_deg: float = 45.0
    max_points: int = 2000


class FloorScale:
    """Metres per unit of relative depth from the floor plane, smoothed over frames.

    The smoothed quantity is the log of the floor's distance in relative units, so the scale,
    ``camera_height / distance``, follows a change of ``camera_height`` at once. A frame whose
    fit fails keeps the last good scale and is counted in :attr:`frames_without_fit`.

    :param settings: :class:`FloorSettings`.
    :param seed: seed of the random sampling (fits are repeatable).
    """

    def __init__(self, settings, seed=0):
        self.settings = settings
        check_floor_region(settings.region)
        self._rng = np.random.default_rng(seed)
        self._log_distance = None
        self.fits = 0
        self.frames_without_fit = 0
        self.last_fit = None

    @property
    def scale(self):
        """Metres per relative depth unit, or None before the first good fit."""
        if self._log_distance is None:
            return None
        return self.settings.camera_height / math.exp(self._log_distance)

    def update(self, depth, intrinsics):
        """Fit the floor in one frame's relative depth and return the (smoothed) scale, or
        None while no frame has had a good fit.

        :param depth: ``height x width`` relative depth (up to scale), NaN where invalid.
        :param intrinsics: the camera's
            :class:`~edge_perception.core.depth_geometry.PinholeIntrinsics`.
        """
        settings = self.settings
        points = back_project(depth, intrinsics, settings.region, settings.max_points,
                              self._rng)
        fit = fit_floor_plane(points, self._rng, settings.max_tilt_deg)
        self.last_fit = fit
        if fit is None:
            self.frames_without_fit += 1
            return self.scale
        self.fits += 1
        log_distance = math.log(fit.distance)
        if self._log_distance is None:
            self._log_distance = log_distance
        else:
            self._log_distance += settings.smoothing * (log_distance - self._log_distance)
        return self.scale


@dataclass(frozen=True)
class RelativeDepthSettings:
    """How a relative prediction becomes metres.

    :param kind: 'relative' or 'inverse_relative'.
    :param scaling: 'affine', 'floor' or 'none' (no metres can be published).
    :param scale: the affine's scale.
    :param shift: the affine's shift.
    :param floor: :class:`FloorSettings` when ``scaling`` is 'floor'.
    :param min_depth: metres; nearer depth is invalid (NaN).
    :param max_depth: metres; farther depth is invalid (NaN).
    """

    kind: str
    scaling: str
    scale: float = 1.0
    shift: float = 0.0
    floor: FloorSettings | None = None
    min_depth: float = 0.1
    max_depth: float = 10.0


class RelativeDepthConverter:
    """One frame's relative prediction -> depth in metres at the camera resolution, by a fixed
    affine or by the floor (:class:`FloorScale`); None (with :attr:`unscaled_reason`) when no
    scale is known.

    :param settings: :class:`RelativeDepthSettings`.
    :raises RelativeDepthError: for a kind or scaling this does not know, or floor scaling
        without a positive camera height or with a bad region.
    """

    def __init__(self, settings):
        if settings.kind not in (RELATIVE, INVERSE_RELATIVE):
            raise RelativeDepthError(f"depth_kind '{settings.kind}' is not relative")
        if settings.scaling not in RELATIVE_SCALINGS:
            raise RelativeDepthError(f"relative_scaling '{settings.scaling}' must be one of: "
                                     f"{', '.join(RELATIVE_SCALINGS)}")
        self.settings = settings
        self.floor = None
        if settings.scaling == FLOOR:
            if settings.floor is None or not settings.floor.camera_height > 0:
                raise RelativeDepthError('relative_scaling floor needs camera_height > 0 '
                                         '(metres from the optical centre down to the floor)')
            self.floor = FloorScale(settings.floor)
        self.unscaled_reason = ''
        self.frames_unscaled = 0

    def updated(self, settings):
        """Return a converter with new settings that keeps this one's smoothed floor scale
        when the floor scaling and its region stay (a new camera height rescales it at once).
        """
        replacement = RelativeDepthConverter(settings)
        if self.floor is not None and replacement.floor is not None and \
                self.floor.settings.region == settings.floor.region:
            self.floor.settings = settings.floor
            replacement.floor = self.floor
        return replacement

    def metres(self, output, width, height, intrinsics, out=None, input_crop=FULL_FRAME):
        """Return ``height x width`` float32 metres (NaN where invalid), or None.

        :param output: the model's depth output.
        :param intrinsics: camera intrinsics, or None (floor scaling then keeps its last
            scale).
        :param out: float32 array to write into.
        :param input_crop: fraction of the frame's width and height the network saw, centred:
            the prediction fills that box, NaN around it, which the affine keeps NaN and the
            floor fit leaves out (it samples valid pixels only).
        """
        settings = self.settings
        prediction = resize_depth_map(output, width, height, out=out, input_crop=input_crop)
        if settings.scaling == AFFINE:
            self.unscaled_reason = ''
            return self._in_range(affine_to_metres(prediction, settings.kind, settings.scale,
                                                   settings.shift, out=prediction))
        if settings.scaling == NO_SCALING:
            return self._unscaled(_UNSCALED_MESSAGE.format(kind=settings.kind))
        depth = relative_depth(prediction, settings.kind, out=prediction)
        scale = self.floor.scale
        if intrinsics is None:
            why = 'no valid CameraInfo yet to fit the floor with'
        else:
            try:
                scale = self.floor.update(depth, intrinsics)
                why = f'no floor plane found yet in floor_region {list(self.floor.settings.region)}'
            except IntrinsicsError as error:
                why = f'the CameraInfo does not fit the image: {error}'
        if scale is None:
            return self._unscaled(why)
        self.unscaled_reason = ''
        depth *= np.float32(scale)
        return self._in_range(depth)

    def _in_range(self, depth):
        with np.errstate(invalid='ignore'):
            invalid = ~((depth >= self.settings.min_depth) & (depth <= self.settings.max_depth))
        depth[invalid] = np.nan
        return depth

    def _unscaled(self, reason):
        self.unscaled_reason = reason
        self.frames_unscaled += 1
        return None


def scale_report(converter):
    """Return the ``/diagnostics`` :class:`~edge_perception.core.health.HealthReport` of a
    converter: how its metres are scaled, the floor fit, frames published without a scale.
    """
    settings = converter.settings
    values = {'depth_kind': settings.kind, 'relative_scaling': settings.scaling,
              'frames_unscaled': str(converter.frames_unscaled)}
    if settings.scaling == AFFINE:
        formula = 'scale * pred + shift' if settings.kind == RELATIVE else \
            '1 / (scale * pred + shift)'
        values.update(scale=f'{settings.scale:g}', shift=f'{settings.shift:g}')
        return HealthReport(OK, f'fixed affine: metres = {formula}', values)
    if settings.scaling == NO_SCALING:
        return HealthReport(WARN, converter.unscaled_reason or _UNSCALED_MESSAGE.format(
            kind=settings.kind), values)
    floor = converter.floor
    fit = floor.last_fit
    values.update(scale='' if floor.scale is None else f'{floor.scale:.6g}',
                  camera_height=f'{floor.settings.camera_height:g}',
                  fit_inliers='' if fit is None else f'{fit.inliers}/{fit.points}',
                  floor_fits=str(floor.fits), frames_without_fit=str(floor.frames_without_fit))
    if floor.scale is None:
        return HealthReport(WARN, converter.unscaled_reason or 'waiting for a frame with a '
                            'floor plane (and a valid CameraInfo)', values)
    if converter.unscaled_reason or fit is None:
        return HealthReport(OK, 'floor scale: the last frame had no floor fit; keeping the '
                            'last good scale', values)
    return HealthReport(OK, 'floor scale', values)
