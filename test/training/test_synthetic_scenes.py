"""Synthetic scene renderer: determinism, exact z-depth, image format."""

import dataclasses
import math

import numpy as np
import pytest

from edge_perception.core.depth_geometry import PinholeIntrinsics
from edge_perception.training.scenes import (
    Box,
    camera_trajectory,
    CameraPose,
    generate_scene,
    render,
    render_scene,
    render_trajectory,
    Sphere,
)

SMALL_CAMERA = PinholeIntrinsics.from_horizontal_fov(64, 48, 65.0)


def _empty_open_scene(camera_pose: CameraPose, objects=()):
    """A scene whose walls are a kilometre away, no ceiling, only the given objects."""
    base = generate_scene(3)
    return dataclasses.replace(
        base,
        room_min_xy=(-1000.0, -1000.0),
        room_max_xy=(1000.0, 1000.0),
        wall_height=3.0,
        has_ceiling=False,
        objects=tuple(objects),
        camera_pose=camera_pose,
    )


def test_intrinsics_from_field_of_view():
    intrinsics = PinholeIntrinsics.from_horizontal_fov(640, 480, 90.0)
    assert intrinsics.fx == pytest.approx(320.0)
    assert intrinsics.fy == intrinsics.fx
    assert (intrinsics.cx, intrinsics.cy) == (319.5, 239.5)
    assert intrinsics.matrix()[0, 2] == 319.5


def test_same_seed_gives_identical_frames_and_other_seeds_differ():
    first = render_scene(11, SMALL_CAMERA)
    again = render_scene(11, SMALL_CAMERA)
    other = render_scene(12, SMALL_CAMERA)
    np.testing.assert_array_equal(first.rgb, again.rgb)
    np.testing.assert_array_equal(first.depth, again.depth)
    assert not np.array_equal(first.rgb, other.rgb)


def test_output_shapes_types_and_depth_range():
    for seed in range(6):
        frame = render_scene(seed, SMALL_CAMERA)
        assert frame.rgb.shape == (48, 64, 3) and frame.rgb.dtype == np.uint8
        assert frame.depth.shape == (48, 64) and frame.depth.dtype == np.float32
        finite = np.isfinite(frame.depth)
        assert finite.mean() > 0.5
        # Only the sky is non-finite, and it is +inf, never NaN.
        assert np.all(np.isposinf(frame.depth[~finite]))
        assert np.all(frame.depth[finite] > 0.3)
        assert np.all(frame.depth[finite] < 15.0)


@pytest.mark.parametrize('pitch_deg', [0.0, 10.0])
def test_floor_depth_matches_the_analytic_plane(pitch_deg):
    height = 1.2
    pitch = math.radians(pitch_deg)
    pose = CameraPose(position=(0.0, 0.0, height), yaw=0.3, pitch=pitch)
    frame = render(_empty_open_scene(pose), SMALL_CAMERA, pose)
    rows = np.arange(SMALL_CAMERA.height)
    ray_y = (rows - SMALL_CAMERA.cy) / SMALL_CAMERA.fy
    # A camera ray (x, y, 1) falls by y·cos(pitch) + sin(pitch) per metre of z-depth.
    descent = ray_y * math.cos(pitch) + math.sin(pitch)
    floor_rows = descent > 0.05
    expected = height / descent[floor_rows]
    for column in (0, SMALL_CAMERA.width // 2, SMALL_CAMERA.width - 1):
        np.testing.assert_allclose(frame.depth[floor_rows, column], expected, rtol=1e-5)


def test_sky_above_open_walls_is_infinite():
    pose = CameraPose(position=(0.0, 0.0, 1.0), yaw=0.0, pitch=0.0)
    frame = render(_empty_open_scene(pose), SMALL_CAMERA, pose)
    assert np.all(np.isposinf(frame.depth[0]))


def test_depth_is_along_the_optical_axis_not_the_ray():
    distance = 2.5
    # A wall-like box face perpendicular to the optical axis: every pixel on it has z-depth
    # ``distance`` although the rays to its edges are longer.
    box = Box(
        centre_xy=(distance + 0.5, 0.0),
        size=(1.0, 6.0, 4.0),
        yaw=0.0,
        base_height=0.0,
        material=generate_scene(1).floor,
    )
    pose = CameraPose(position=(0.0, 0.0, 1.0), yaw=0.0, pitch=0.0)
    frame = render(_empty_open_scene(pose, [box]), SMALL_CAMERA, pose)
    on_face = np.abs(frame.depth - distance) < 1e-4
    assert on_face.mean() > 0.5
    # The top corners' rays are about 1.3 times longer than the z-depth there.
    assert on_face[0, 0] and on_face[0, -1]


def test_sphere_front_point_depth():
    radius, distance = 0.5, 3.0
    sphere = Sphere(
        centre=(distance + radius, 0.0, 1.0), radius=radius, material=generate_scene(2).floor
    )
    intrinsics = PinholeIntrinsics.from_horizontal_fov(65, 49, 65.0)
    pose = CameraPose(position=(0.0, 0.0, 1.0), yaw=0.0, pitch=0.0)
    frame = render(_empty_open_scene(pose, [sphere]), intrinsics, pose)
    assert frame.depth[24, 32] == pytest.approx(distance, abs=1e-5)


def test_trajectory_is_smooth_and_stays_clear_of_objects():
    scene = generate_scene(5)
    poses = camera_trajectory(scene, 10)
    start = np.asarray(scene.camera_pose.position)
    positions = np.array([pose.position for pose in poses])
    assert np.all(np.linalg.norm(positions - start, axis=1) < scene.clear_radius)
    steps = np.linalg.norm(np.diff(positions, axis=0), axis=1)
    assert np.all(steps < 0.2)
    assert np.all(np.abs(np.diff([pose.yaw for pose in poses])) < math.radians(10))
    frames = render_trajectory(5, SMALL_CAMERA, 3)
    assert len(frames) == 3
    assert not np.array_equal(frames[0].rgb, frames[2].rgb)
