"""Depth metrics on small hand-computed examples."""

import math

import numpy as np
import pytest

from edge_perception.core.metrics import compute_depth_metrics, valid_depth_mask


def test_hand_computed_example_ignores_invalid_pixels():
    ground_truth = np.array([1.0, 2.0, 4.0, np.inf, np.nan, 0.0, 3.0])
    prediction = np.array([1.0, 2.4, 2.0, 5.0, 1.0, 1.0, np.nan])
    metrics = compute_depth_metrics(prediction, ground_truth)
    # Valid: the first three. Ratios 1, 1.2, 2.
    assert metrics.valid_pixels == 3
    assert metrics.delta1 == pytest.approx(2 / 3)
    assert metrics.delta2 == pytest.approx(2 / 3)  # 2 > 1.5625
    assert metrics.delta3 == pytest.approx(2 / 3)  # 2 > 1.953125
    assert metrics.abs_rel == pytest.approx((0.0 + 0.2 + 0.5) / 3)
    assert metrics.rmse == pytest.approx(math.sqrt((0.0 + 0.16 + 4.0) / 3))
    assert metrics.rmse_log == pytest.approx(
        math.sqrt((math.log(1.2) ** 2 + math.log(0.5) ** 2) / 3)
    )


def test_thresholds_are_strict_and_powers_of_1_25():
    ground_truth = np.ones(3)
    prediction = np.array([1.25, 1.25**2, 1.25**3]) * 0.999
    metrics = compute_depth_metrics(prediction, ground_truth)
    assert (metrics.delta1, metrics.delta2, metrics.delta3) == pytest.approx((1 / 3, 2 / 3, 1.0))


def test_perfect_prediction_and_extra_mask():
    ground_truth = np.linspace(0.5, 10.0, 12).reshape(3, 4)
    metrics = compute_depth_metrics(ground_truth.copy(), ground_truth)
    assert metrics.delta1 == 1.0 and metrics.abs_rel == 0.0 and metrics.rmse == 0.0
    near = ground_truth < 5.0
    assert compute_depth_metrics(ground_truth, ground_truth, near).valid_pixels == near.sum()
    assert metrics.as_dict()['valid_pixels'] == 12


def test_no_valid_pixel_gives_nan():
    metrics = compute_depth_metrics(np.ones(2), np.array([np.nan, np.inf]))
    assert metrics.valid_pixels == 0
    assert math.isnan(metrics.delta1) and math.isnan(metrics.rmse)


def test_shape_mismatch_is_an_error():
    with pytest.raises(ValueError, match='shape'):
        compute_depth_metrics(np.ones(3), np.ones(4))


def test_valid_mask_rejects_non_positive_predictions():
    mask = valid_depth_mask(np.array([1.0, 1.0, 1.0]), np.array([1.0, 0.0, -1.0]))
    np.testing.assert_array_equal(mask, [True, False, False])
