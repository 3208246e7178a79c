"""Renderer options for indoor robot scenes and the held-out texture family; parallel rendering."""

import dataclasses
import math

import numpy as np
import pytest

from edge_perception.bags.reader import read_depth_bag
from edge_perception.core.depth_geometry import PinholeIntrinsics
from edge_perception.package_paths import shared_file
from edge_perception.training.make_demo_bag import DEMO_SCENE_SEED
from edge_perception.training.scenes import (
    camera_trajectory,
    generate_scene,
    INDOOR_ROBOT,
    ray_casting,
    REAL_ROOM,
    render,
    render_scene,
    SceneRandomisation,
)
from edge_perception.training.synthetic_dataset import build_datasets, cache_name

SMALL_CAMERA = PinholeIntrinsics.from_horizontal_fov(64, 48, 65.0)
HELD_OUT = dataclasses.replace(INDOOR_ROBOT, texture_family='B')


def test_defaults_still_render_the_recorded_demo_scene_bit_for_bit():
    # The shipped demo bag was rendered before the new options existed: its first frame must
    # come out of the renderer unchanged (depth is stored rounded to millimetres).
    recorded = read_depth_bag(shared_file('data', 'demo_depth_bag'))[0]
    height, width = recorded.depth.shape
    intrinsics = PinholeIntrinsics.from_camera_info(recorded.camera_matrix.ravel(), width, height)
    scene = generate_scene(DEMO_SCENE_SEED)
    frame = render(scene, intrinsics, camera_trajectory(scene, 12)[0],
                   noise_seed=DEMO_SCENE_SEED * 100_003)
    np.testing.assert_array_equal(frame.rgb, recorded.rgb)
    finite = np.isfinite(frame.depth)
    np.testing.assert_array_equal(finite, np.isfinite(recorded.depth))
    np.testing.assert_allclose(frame.depth[finite], recorded.depth[finite], atol=5.1e-4)


def test_default_options_match_an_explicit_classic_randomisation():
    explicit = SceneRandomisation(furniture_count=(0, 0), clutter_count=(0, 0),
                                  close_view_share=0.0, natural_texture_share=0.0,
                                  texture_family='A')
    assert generate_scene(7) == generate_scene(7, explicit)


def test_unknown_texture_family_is_rejected():
    with pytest.raises(ValueError, match='texture_family'):
        SceneRandomisation(texture_family='C')


@pytest.mark.parametrize('randomisation', [INDOOR_ROBOT, HELD_OUT, REAL_ROOM])
def test_new_scenes_render_valid_depth_within_the_camera_ranges(randomisation):
    object_counts = []
    for seed in range(6):
        scene = generate_scene(seed, randomisation)
        pose = scene.camera_pose
        assert randomisation.camera_height[0] <= pose.position[2] <= \
            randomisation.camera_height[1]
        assert randomisation.camera_pitch_deg[0] <= math.degrees(pose.pitch) <= \
            randomisation.camera_pitch_deg[1]
        object_counts.append(len(scene.objects))
        frame = render_scene(seed, SMALL_CAMERA, randomisation)
        assert frame.rgb.dtype == np.uint8 and frame.depth.dtype == np.float32
        finite = np.isfinite(frame.depth)
        assert finite.mean() > 0.5
        assert np.all(np.isposinf(frame.depth[~finite]))
        assert np.all(frame.depth[finite] > 0.05) and np.all(frame.depth[finite] < 15.0)
    # Furniture is made of several boxes, so indoor scenes hold many more parts than pieces.
    assert max(object_counts) > 10


def test_held_out_family_uses_only_its_own_textures():
    train_patterns = {generate_scene(seed, INDOOR_ROBOT).floor.pattern for seed in range(40)}
    held_out_patterns = {generate_scene(seed, HELD_OUT).floor.pattern for seed in range(40)}
    assert held_out_patterns <= {'marble', 'granite'}
    assert not train_patterns & held_out_patterns
    # Family A with natural textures draws them next to the synthetic patterns.
    assert train_patterns & {'pink_noise', 'wood', 'fabric'}
    assert train_patterns & {'checker', 'stripes', 'bricks', 'noise', 'plain'}


def test_close_views_put_furniture_within_two_metres():
    always_close = dataclasses.replace(INDOOR_ROBOT, close_view_share=1.0, object_count=(0, 0),
                                       clutter_count=(0, 0))
    nearest = []
    for seed in range(8):
        scene = generate_scene(seed, always_close)
        camera_xy = np.asarray(scene.camera_pose.position[:2])
        nearest.append(min(np.linalg.norm(np.asarray(part.centre_xy) - camera_xy)
                           for part in scene.objects))
    # Part centres lie at most 2 m plus half a piece beyond the camera.
    assert np.median(nearest) < 2.5


@pytest.mark.parametrize('seed', [0, 3, 4])
def test_bottom_row_floor_depth_matches_the_camera_height_and_pitch(seed):
    scene = generate_scene(seed, INDOOR_ROBOT)
    # Walls a kilometre away and no objects: the bottom row sees the floor only.
    open_floor = dataclasses.replace(scene, room_min_xy=(-1000.0, -1000.0),
                                     room_max_xy=(1000.0, 1000.0), objects=())
    pose = dataclasses.replace(scene.camera_pose, roll=0.0)
    frame = render(open_floor, SMALL_CAMERA, pose)
    height, pitch = pose.position[2], pose.pitch
    ray_y = (SMALL_CAMERA.height - 1 - SMALL_CAMERA.cy) / SMALL_CAMERA.fy
    expected = height / (ray_y * math.cos(pitch) + math.sin(pitch))
    np.testing.assert_allclose(frame.depth[-1], expected, rtol=1e-5)


def test_parallel_rendering_gives_the_same_bytes_as_serial():
    seeds = [0, 1, 2, 1_000_000_000, 5]
    serial = build_datasets(seeds, (64,), workers=1, randomisation=INDOOR_ROBOT)[64]
    parallel = build_datasets(seeds, (64,), workers=2, randomisation=INDOOR_ROBOT)[64]
    assert serial.images.tobytes() == parallel.images.tobytes()
    assert serial.depths.tobytes() == parallel.depths.tobytes()
    np.testing.assert_array_equal(serial.seeds, parallel.seeds)


def test_cache_names_of_classic_family_a_data_are_unchanged():
    assert cache_name('train_3500_160_224', 'classic', 'A') == 'train_3500_160_224'
    assert cache_name('validation_200', 'indoor-robot', 'B') == 'validation_200_indoor-robot_B'


@pytest.mark.parametrize('seed', [1, 2])
def test_culled_render_finds_the_same_nearest_surface_as_testing_every_ray(seed):
    # The renderer tests each object only on the rays in its projected bounding rectangle; the
    # nearest hit over every ray and every object, floor included, must agree with it.
    scene = generate_scene(seed, INDOOR_ROBOT)
    open_room = dataclasses.replace(scene, room_min_xy=(-1000.0, -1000.0),
                                    room_max_xy=(1000.0, 1000.0), has_ceiling=False)
    pose = dataclasses.replace(scene.camera_pose, roll=math.radians(2.5))
    intrinsics = PinholeIntrinsics.from_horizontal_fov(96, 72, 68.0)
    frame = render(open_room, intrinsics, pose)
    columns, rows = np.meshgrid(np.arange(96), np.arange(72))
    camera_rays = np.stack([((columns - intrinsics.cx) / intrinsics.fx).ravel(),
                            ((rows - intrinsics.cy) / intrinsics.fy).ravel(),
                            np.ones(columns.size)], axis=1)
    directions = camera_rays @ pose.rotation().T
    origins = np.tile(np.asarray(pose.position), (len(directions), 1))
    nearest = ray_casting._intersect_plane(origins, directions, 2, 0.0)
    for obj in open_room.objects:
        nearest = np.minimum(nearest, ray_casting._intersect_object(origins, directions, obj))
    nearest = nearest.reshape(72, 96)
    close = nearest < 100.0
    assert close.mean() > 0.3
    np.testing.assert_allclose(frame.depth[close], nearest[close], rtol=1e-6)
