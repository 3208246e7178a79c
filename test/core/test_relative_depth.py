"""Relative depth to metres: the fixed affines, and the scale from a floor at a known height."""

import math

import numpy as np
import pytest

from edge_perception.core.depth_geometry import PinholeIntrinsics
from edge_perception.core.relative_depth import (
    affine_to_metres,
    fit_floor_plane,
    FloorScale,
    FloorSettings,
    relative_depth,
    RelativeDepthConverter,
    RelativeDepthError,
    RelativeDepthSettings,
)

WIDTH, HEIGHT = 160, 120
INTRINSICS = PinholeIntrinsics.from_horizontal_fov(WIDTH, HEIGHT, 70.0)


def floor_scene(camera_height, pitch_deg, roll_deg=0.0, far=20.0):
    """Depth (metres along the optical axis) of a camera ``camera_height`` above an endless
    floor, pitched down by ``pitch_deg`` and rolled by ``roll_deg``; NaN above the horizon.
    """
    pitch, roll = math.radians(pitch_deg), math.radians(roll_deg)
    # The world's down direction in the camera optical frame (x right, y down, z forward).
    down = np.array([math.sin(roll) * math.cos(pitch), math.cos(roll) * math.cos(pitch),
                     math.sin(pitch)])
    rows, columns = np.mgrid[0:HEIGHT, 0:WIDTH].astype(np.float64)
    rays = np.stack([(columns - INTRINSICS.cx) / INTRINSICS.fx,
                     (rows - INTRINSICS.cy) / INTRINSICS.fy, np.ones_like(rows)], axis=-1)
    towards_floor = rays @ down
    with np.errstate(divide='ignore', invalid='ignore'):
        depth = np.where(towards_floor > 0, camera_height / towards_floor, np.nan)
    depth[depth > far] = np.nan
    return depth.astype(np.float32)


def cluttered(depth, rng, noise=0.02):
    """The scene with boxes standing on the floor (nearer than it) and multiplicative noise."""
    depth = depth.copy()
    for top, left, size in ((80, 20, 25), (90, 100, 20), (75, 60, 15)):
        window = depth[top:top + size, left:left + size]
        window[...] = np.nanmin(window) * 0.8
    return depth * rng.normal(1.0, noise, depth.shape).astype(np.float32)


def test_affine_and_inverse_affine_are_exact():
    prediction = np.array([[0.0, 1.0, 2.5], [-4.0, 10.0, 100.0]], np.float32)
    np.testing.assert_array_equal(affine_to_metres(prediction, 'relative', 0.5, 1.0),
                                  prediction * np.float32(0.5) + np.float32(1.0))
    metres = affine_to_metres(prediction, 'inverse_relative', 0.02, -0.01)
    denominator = prediction * np.float32(0.02) + np.float32(-0.01)
    positive = denominator > 0
    np.testing.assert_array_equal(metres[positive], np.float32(1.0) / denominator[positive])
    assert np.isnan(metres[~positive]).all() and (~positive).sum() == 2  # 0 and -4
    with pytest.raises(RelativeDepthError):
        affine_to_metres(prediction, 'metric', 1.0, 0.0)


def test_relative_depth_of_an_inverse_prediction_is_its_reciprocal():
    prediction = np.array([[2.0, 0.0, -1.0, 0.5]], np.float32)
    np.testing.assert_array_equal(relative_depth(prediction, 'inverse_relative'),
                                  [[0.5, np.nan, np.nan, 2.0]])
    np.testing.assert_array_equal(relative_depth(prediction, 'relative'),
                                  [[2.0, np.nan, np.nan, 0.5]])


@pytest.mark.parametrize('kind, pitch_deg, roll_deg', [
    ('relative', 15.0, 0.0), ('relative', 30.0, 5.0), ('inverse_relative', 10.0, -4.0)])
def test_floor_scale_recovers_an_unknown_scale_within_five_percent(kind, pitch_deg, roll_deg):
    rng = np.random.default_rng(7)
    camera_height = 0.8
    truth = cluttered(floor_scene(camera_height, pitch_deg, roll_deg), rng)
    unknown = 3.7
    prediction = truth / unknown if kind == 'relative' else unknown / truth
    converter = RelativeDepthConverter(RelativeDepthSettings(
        kind, 'floor', floor=FloorSettings(camera_height, smoothing=1.0), min_depth=0.0,
        max_depth=100.0))
    metres = converter.metres(prediction, WIDTH, HEIGHT, INTRINSICS)
    # depth = pred * 3.7 (relative) or 3.7 / pred (inverse, taken as depth ∝ 1 / pred)
    assert converter.floor.scale == pytest.approx(unknown, rel=0.05)
    valid = np.isfinite(truth)
    assert np.nanmedian(np.abs(metres[valid] / truth[valid] - 1.0)) < 0.05
    fit = converter.floor.last_fit
    assert fit.inliers > 0.5 * fit.points


def test_a_wall_is_not_taken_for_the_floor_and_the_last_scale_is_kept():
    rng = np.random.default_rng(3)
    floor = FloorScale(FloorSettings(1.0, region=(0.0, 0.6, 1.0, 1.0)))
    scene = floor_scene(1.0, 20.0)
    assert floor.update(scene / 2.0, INTRINSICS) == pytest.approx(2.0, rel=0.01)
    wall = np.full((HEIGHT, WIDTH), 3.0, np.float32)  # a wall facing the camera: normal = z
    assert floor.update(wall * rng.normal(1.0, 0.001, wall.shape).astype(np.float32),
                        INTRINSICS) == pytest.approx(2.0, rel=0.01)
    assert (floor.fits, floor.frames_without_fit, floor.last_fit) == (1, 1, None)
    empty = np.full((HEIGHT, WIDTH), np.nan, np.float32)
    assert floor.update(empty, INTRINSICS) == pytest.approx(2.0, rel=0.01)
    assert floor.frames_without_fit == 2


def test_a_plane_above_the_camera_is_not_a_floor():
    ceiling = -floor_scene(1.0, -20.0)  # mirrored: the plane lies above the optical centre
    rows, columns = np.mgrid[0:HEIGHT, 0:WIDTH].astype(np.float64)
    points = np.stack([(columns - INTRINSICS.cx) / INTRINSICS.fx,
                       (rows - INTRINSICS.cy) / INTRINSICS.fy, np.ones_like(rows)], -1)
    points = (points * np.abs(ceiling)[..., None]).reshape(-1, 3)
    points[:, 1] = -np.abs(points[:, 1])
    points = points[np.isfinite(points).all(axis=1)]
    assert fit_floor_plane(points, np.random.default_rng(0)) is None


def test_the_scale_is_smoothed_in_log_space_and_follows_the_camera_height():
    settings = FloorSettings(1.0, smoothing=0.5)
    floor = FloorScale(settings)
    scene = floor_scene(1.0, 20.0)
    floor.update(scene / 2.0, INTRINSICS)
    smoothed = floor.update(scene / 8.0, INTRINSICS)  # the new frame alone says 8
    assert smoothed == pytest.approx(math.sqrt(2.0 * 8.0), rel=0.01)
    converter = RelativeDepthConverter(RelativeDepthSettings('relative', 'floor', floor=settings))
    converter.floor = floor
    higher = converter.updated(RelativeDepthSettings(
        'relative', 'floor', floor=FloorSettings(2.0, smoothing=0.5)))
    assert higher.floor.scale == pytest.approx(2.0 * smoothed, rel=1e-9)


def test_without_a_scaling_nothing_metric_comes_out_and_says_why():
    converter = RelativeDepthConverter(RelativeDepthSettings('inverse_relative', 'none'))
    assert converter.metres(np.ones((1, 8, 8), np.float32), 8, 8, INTRINSICS) is None
    assert 'relative_scaling' in converter.unscaled_reason
    floor = RelativeDepthConverter(RelativeDepthSettings(
        'relative', 'floor', floor=FloorSettings(1.0)))
    assert floor.metres(np.ones((8, 8), np.float32), 8, 8, None) is None
    assert 'CameraInfo' in floor.unscaled_reason
    with pytest.raises(RelativeDepthError, match='camera_height'):
        RelativeDepthConverter(RelativeDepthSettings('relative', 'floor',
                                                     floor=FloorSettings(0.0)))
    with pytest.raises(RelativeDepthError, match='floor_region'):
        RelativeDepthConverter(RelativeDepthSettings(
            'relative', 'floor', floor=FloorSettings(1.0, region=(0.0, 0.7, 1.0, 0.5))))


def test_affine_metres_at_camera_resolution_outside_the_range_are_invalid():
    converter = RelativeDepthConverter(RelativeDepthSettings(
        'inverse_relative', 'affine', scale=0.5, shift=0.0, min_depth=0.3, max_depth=1.5))
    prediction = np.array([[[1.0, 2.0], [4.0, 8.0]]], np.float32)  # -> 2, 1, 0.5, 0.25 m
    metres = converter.metres(prediction, 2, 2, None)
    np.testing.assert_array_equal(metres, [[np.nan, 1.0], [0.5, np.nan]])
    upsampled = converter.metres(np.full((1, 1, 4, 4), 2.0, np.float32), 8, 6, None)
    assert upsampled.shape == (6, 8) and np.all(upsampled == 1.0)
