"""Generalisation measures: median scaling, trivial priors and real RGB-D folders."""

import cv2
import numpy as np
import pytest

from edge_perception.training.depth_evaluation import (
    constant_prior,
    generalisation_report,
    load_rgbd_folder,
    median_depth,
    median_scaled,
    row_prior,
)
from edge_perception.training.synthetic_dataset import DepthDataset


def floor_depth(height=1.0, rows=24, columns=8, images=2):
    """Depth of a flat floor seen by a level camera: a function of the row alone.

    Rows above the horizon see the sky (``inf``).
    """
    ray_y = (np.arange(rows) - (rows - 1) / 2.0) / 20.0
    with np.errstate(divide='ignore'):
        row_depth = np.where(ray_y > 0, height / ray_y, np.inf)
    return np.broadcast_to(row_depth[None, :, None], (images, rows, columns)).astype(np.float32)


def test_row_prior_is_exact_on_a_floor_and_constant_prior_scores_as_computed():
    truth = floor_depth()
    report = generalisation_report(truth * 2.0, truth, constant_depth=2.0)
    assert report['images'] == 2
    row = report['row_prior']['metric']
    assert row['delta1'] == 1.0 and row['abs_rel'] == pytest.approx(0.0, abs=1e-6)
    # A prediction off by a factor of two: no pixel within 1.25 metric, all after scaling.
    assert report['model']['metric']['delta1'] == 0.0
    assert report['model']['median_scaled']['delta1'] == 1.0
    known = truth[np.isfinite(truth)].astype(np.float64)
    constant = report['constant_prior']
    assert constant['depth_m'] == 2.0
    assert constant['metric']['delta1'] == pytest.approx(
        np.mean(np.maximum(2.0 / known, known / 2.0) < 1.25))
    assert constant['metric']['abs_rel'] == pytest.approx(np.mean(np.abs(2.0 - known) / known))
    # After median scaling the constant is each image's median depth.
    median = np.median(known)
    assert constant['median_scaled']['delta1'] == pytest.approx(
        np.mean(np.maximum(median / known, known / median) < 1.25))


def test_row_prior_takes_each_rows_median_and_fills_rows_without_truth():
    truth = np.array([[[1.0, 2.0, 9.0], [np.nan, np.inf, 0.0], [4.0, 4.0, 4.0]]], np.float32)
    prior = row_prior(truth)
    np.testing.assert_array_equal(prior[0, 0], [2.0, 2.0, 2.0])
    np.testing.assert_array_equal(prior[0, 2], [4.0, 4.0, 4.0])
    # The middle row has no truth: the image median fills it (it is never scored).
    assert np.all(prior[0, 1] == np.median([1.0, 2.0, 9.0, 4.0, 4.0, 4.0]))


def test_median_scaling_is_per_image_and_ignores_invalid_pixels():
    truth = np.stack([np.full((4, 4), 2.0), np.full((4, 4), 8.0)]).astype(np.float32)
    truth[0, 0, 0] = np.nan
    prediction = np.stack([np.full((4, 4), 1.0), np.full((4, 4), 2.0)]).astype(np.float32)
    scaled = median_scaled(prediction, truth)
    np.testing.assert_allclose(scaled[0], 2.0)
    np.testing.assert_allclose(scaled[1], 8.0)
    assert constant_prior(truth, 3.0).shape == truth.shape


def test_median_depth_skips_sky():
    depths = np.array([[[1.0, 2.0], [3.0, np.inf]]], np.float16)
    dataset = DepthDataset(images=np.zeros((1, 2, 2, 3), np.uint8), depths=depths,
                           seeds=np.zeros(1))
    assert median_depth(dataset) == 2.0


def test_rgbd_folder_reads_millimetre_png_and_metre_npy_pairs(tmp_path):
    rgb = np.zeros((30, 40, 3), np.uint8)
    rgb[:, :, 0] = 200  # red, to check the channel order
    millimetres = np.full((30, 40), 1500, np.uint16)
    millimetres[0] = 0
    cv2.imwrite(str(tmp_path / 'a_rgb.png'), rgb[:, :, ::-1])
    cv2.imwrite(str(tmp_path / 'a_depth.png'), millimetres)
    cv2.imwrite(str(tmp_path / 'b_rgb.png'), rgb[:, :, ::-1])
    np.save(tmp_path / 'b_depth.npy', np.full((30, 40), 2.25, np.float32))
    cv2.imwrite(str(tmp_path / 'orphan_rgb.png'), rgb)
    dataset = load_rgbd_folder(tmp_path, 16)
    assert dataset.images.shape == (2, 16, 16, 3) and dataset.images.dtype == np.uint8
    assert np.all(dataset.images[..., 0] == 200) and np.all(dataset.images[..., 2] == 0)
    assert dataset.depths.shape == (2, 16, 16)
    assert np.isnan(dataset.depths[0, 0]).all()
    np.testing.assert_allclose(dataset.depths[0, 1:], 1.5)
    np.testing.assert_allclose(dataset.depths[1], 2.25)


def test_rgbd_folder_errors_say_what_is_wrong(tmp_path):
    with pytest.raises(ValueError, match='neither frames.json nor an RGB-D pair'):
        load_rgbd_folder(tmp_path, 16)
    cv2.imwrite(str(tmp_path / 'a_rgb.png'), np.zeros((30, 40, 3), np.uint8))
    cv2.imwrite(str(tmp_path / 'a_depth.png'), np.zeros((30, 40), np.uint8))
    with pytest.raises(ValueError, match='16-bit'):
        load_rgbd_folder(tmp_path, 16)
    cv2.imwrite(str(tmp_path / 'a_depth.png'), np.zeros((20, 40), np.uint16))
    with pytest.raises(ValueError, match='40x30 but depth is 40x20'):
        load_rgbd_folder(tmp_path, 16)
