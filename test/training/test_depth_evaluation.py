"""Generalisation measures on synthetic sets: median scaling and trivial priors."""

import numpy as np
import pytest

from edge_perception.training.depth_evaluation import (
    constant_prior,
    generalisation_report,
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
