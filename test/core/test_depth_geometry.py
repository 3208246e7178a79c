"""Depth decoding and depth-to-points geometry."""

import numpy as np
import pytest

from edge_perception.core.depth_geometry import (
    depth_in_metres,
    DepthDecoder,
    IntrinsicsError,
    metres_to_millimetres,
    PinholeIntrinsics,
    PointProjector,
)
from edge_perception.core.heads import DepthHead
from edge_perception.core.pointcloud_layout import pack_points, unpack_points


def test_decoder_scales_resizes_and_masks():
    output = np.array([[[[0.5, 1.0], [2.0, 30.0]]]], np.float32)
    depth = DepthDecoder(depth_scale=2.0, min_depth=1.5, max_depth=10.0).decode(output, 2, 2)
    np.testing.assert_array_equal(np.isnan(depth), [[True, False], [False, True]])
    np.testing.assert_allclose(depth[~np.isnan(depth)], [2.0, 4.0])
    upsampled = DepthDecoder().decode(np.full((1, 1, 3, 4), 2.5, np.float32), 8, 6)
    assert upsampled.shape == (6, 8) and upsampled.dtype == np.float32
    np.testing.assert_allclose(upsampled, 2.5)
    nan_output = np.array([[np.nan, np.inf]], np.float32)
    assert np.isnan(DepthDecoder().decode(nan_output, 2, 1)).all()


def test_projection_matches_the_pinhole_model():
    intrinsics = PinholeIntrinsics(100.0, 80.0, 3.5, 2.5, 8, 6)
    depth = np.full((6, 8), 2.0, np.float32)
    depth[0, 0] = np.nan
    points = PointProjector().project(depth, intrinsics)
    assert points.shape == (6, 8, 3) and points.dtype == np.float32
    assert np.isnan(points[0, 0]).all()
    np.testing.assert_allclose(points[4, 7], [(7 - 3.5) / 100 * 2, (4 - 2.5) / 80 * 2, 2.0])


def test_intrinsics_follow_binned_images():
    full = PinholeIntrinsics(500.0, 500.0, 319.5, 239.5, 640, 480)
    half = full.scaled_to(320, 240)
    assert (half.fx, half.cx, half.cy) == (250.0, 159.5, 119.5)
    projector = PointProjector()
    binned = projector.project(np.ones((240, 320), np.float32), full)
    np.testing.assert_allclose(binned[0, 0], [-159.5 / 250, -119.5 / 250, 1.0])


@pytest.mark.parametrize('k, message', [
    ([0.0, 0, 1, 0, 0.0, 1, 0, 0, 1], r'focal lengths must lie in \[0.001'),
    ([1e-320, 0, 1, 0, 5.0, 1, 0, 0, 1], 'focal lengths must lie in'),
    ([5.0, 0, 1e300, 0, 5.0, 1, 0, 0, 1], 'off any image'),
    ([np.nan, 0, 1, 0, 5.0, 1, 0, 0, 1], 'non-finite'),
    ([1.0] * 4, 'expected 9')])
def test_unusable_intrinsics(k, message):
    with pytest.raises(IntrinsicsError, match=message):
        PinholeIntrinsics.from_camera_info(k, 8, 6)


def test_a_calibration_that_collapses_when_rescaled_is_refused():
    intrinsics = PinholeIntrinsics.from_camera_info([5.0, 0, 3.5, 0, 5.0, 2.5, 0, 0, 1],
                                                    2**32 - 1, 6)
    with pytest.raises(IntrinsicsError, match='focal lengths'):
        intrinsics.scaled_to(8, 6)


def test_point_cloud_packing_round_trip():
    points = np.random.default_rng(0).normal(size=(3, 4, 3)).astype(np.float32)
    points[1, 2] = np.nan
    rgb = np.random.default_rng(1).integers(0, 255, (3, 4, 3), dtype=np.uint8)
    cloud = pack_points(points, rgb)
    assert [field.name for field in cloud.fields] == ['x', 'y', 'z', 'rgb']
    assert (cloud.point_step, cloud.row_step, len(cloud.data)) == (16, 64, 192)
    assert not cloud.is_dense
    # PCL convention: rgb bytes are B, G, R, 0 in little-endian order.
    first = np.frombuffer(cloud.data[12:16], np.uint8)
    np.testing.assert_array_equal(first, [rgb[0, 0, 2], rgb[0, 0, 1], rgb[0, 0, 0], 0])
    unpacked, colours = unpack_points(cloud.fields, cloud.point_step, 3, 4, cloud.data)
    np.testing.assert_array_equal(unpacked, points)
    np.testing.assert_array_equal(colours, rgb)
    xyz_only = pack_points(points)
    assert xyz_only.point_step == 12 and unpack_points(xyz_only.fields, 12, 3, 4,
                                                       xyz_only.data)[1] is None


@pytest.mark.parametrize('decimation', [2, 4])
@pytest.mark.parametrize('size', [(48, 64), (47, 61)])
def test_a_decimated_cloud_holds_the_full_clouds_points_at_the_kept_pixels(decimation, size):
    height, width = size
    rng = np.random.default_rng(decimation)
    depth = rng.uniform(0.5, 5.0, size).astype(np.float32)
    depth[3, 5] = np.nan
    rgb = rng.integers(0, 256, (height, width, 3), dtype=np.uint8)
    intrinsics = PinholeIntrinsics(50.0, 52.0, 30.5, 22.0, width, height)
    full = DepthHead().cloud(depth, intrinsics, rgb)
    full_xyz, full_rgb = unpack_points(full.fields, full.point_step, full.height, full.width,
                                       bytes(full.data))
    cloud = DepthHead().cloud(depth, intrinsics, rgb, decimation=decimation)
    assert (cloud.height, cloud.width) == (-(-height // decimation), -(-width // decimation))
    xyz, colours = unpack_points(cloud.fields, cloud.point_step, cloud.height, cloud.width,
                                 bytes(cloud.data))
    np.testing.assert_allclose(xyz, full_xyz[::decimation, ::decimation], rtol=1e-6,
                               equal_nan=True)
    np.testing.assert_array_equal(colours, full_rgb[::decimation, ::decimation])


def test_decimated_intrinsics_divide_focal_lengths_and_principal_point():
    decimated = PinholeIntrinsics(500.0, 510.0, 319.5, 239.5, 641, 480).decimated(2)
    assert decimated == PinholeIntrinsics(250.0, 255.0, 159.75, 119.75, 321, 240)


def test_millimetres_follow_rep_118():
    depth = np.array([[0.0004, 0.0006, 1.2344, np.nan], [65.535, 65.536, -1.0, 2.0]],
                     np.float32)
    millimetres = metres_to_millimetres(depth)
    assert millimetres.dtype == np.uint16
    np.testing.assert_array_equal(millimetres, [[0, 1, 1234, 0], [65535, 0, 0, 2000]])
    np.testing.assert_allclose(depth_in_metres(millimetres, '16UC1')[1, 3], 2.0)
