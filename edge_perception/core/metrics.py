"""Standard monocular-depth error metrics (Eigen et al., NeurIPS 2014), numpy only.

A pixel counts when its ground truth is finite and positive and its prediction is finite and
positive; everything else (sky, holes, NaN from a sensor) is ignored. All metrics are computed over
the pooled valid pixels of whatever is passed in, so a batch of images gives pixel-weighted
averages.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np

#: Base of the δ accuracy thresholds: δk counts pixels with max(pred/gt, gt/pred) < 1.25**k.
DELTA_BASE = 1.25


@dataclass(frozen=True)
class DepthMetrics:
    """Depth errors over the valid pixels.

    :param delta1: fraction of pixels with max(pred/gt, gt/pred) < 1.25.
    :param delta2: same with threshold 1.25².
    :param delta3: same with threshold 1.25³.
    :param abs_rel: mean of |pred - gt| / gt.
    :param rmse: root mean squared error, metres.
    :param rmse_log: root mean squared error of natural logarithms.
    :param valid_pixels: number of pixels the metrics were computed over.
    """

    delta1: float
    delta2: float
    delta3: float
    abs_rel: float
    rmse: float
    rmse_log: float
    valid_pixels: int

    def as_dict(self) -> dict[str, float | int]:
        """Return the metrics as a plain dictionary (for JSON)."""
        return asdict(self)


def valid_depth_mask(ground_truth: np.ndarray, prediction: np.ndarray) -> np.ndarray:
    """Pixels where both depths are finite and positive.

    :param ground_truth: reference depth, any shape.
    :param prediction: predicted depth, same shape.
    :returns: boolean mask of that shape.
    """
    with np.errstate(invalid='ignore'):
        return (
            np.isfinite(ground_truth)
            & (ground_truth > 0)
            & np.isfinite(prediction)
            & (prediction > 0)
        )


def compute_depth_metrics(
    prediction: np.ndarray,
    ground_truth: np.ndarray,
    valid_mask: np.ndarray | None = None,
) -> DepthMetrics:
    """Compare predicted depth with ground truth.

    :param prediction: predicted depth, metres, any shape.
    :param ground_truth: reference depth, metres, same shape; non-finite or ≤ 0 means unknown.
    :param valid_mask: optional extra mask (same shape) of pixels to consider, e.g. a depth range;
        it is combined with the validity test above.
    :returns: the metrics; all NaN with ``valid_pixels == 0`` when no pixel is valid.
    :raises ValueError: when the shapes differ.
    """
    prediction = np.asarray(prediction)
    ground_truth = np.asarray(ground_truth)
    if prediction.shape != ground_truth.shape:
        raise ValueError(
            f'prediction shape {prediction.shape} differs from ground truth {ground_truth.shape}'
        )
    mask = valid_depth_mask(ground_truth, prediction)
    if valid_mask is not None:
        mask &= np.asarray(valid_mask, dtype=bool)
    count = int(mask.sum())
    if count == 0:
        nan = float('nan')
        return DepthMetrics(nan, nan, nan, nan, nan, nan, 0)

    # float64 so that sums over many megapixels stay exact enough.
    pred = prediction[mask].astype(np.float64)
    gt = ground_truth[mask].astype(np.float64)
    ratio = np.maximum(pred / gt, gt / pred)
    log_difference = np.log(pred) - np.log(gt)
    return DepthMetrics(
        delta1=float(np.mean(ratio < DELTA_BASE)),
        delta2=float(np.mean(ratio < DELTA_BASE**2)),
        delta3=float(np.mean(ratio < DELTA_BASE**3)),
        abs_rel=float(np.mean(np.abs(pred - gt) / gt)),
        rmse=float(np.sqrt(np.mean((pred - gt) ** 2))),
        rmse_log=float(np.sqrt(np.mean(log_difference**2))),
        valid_pixels=count,
    )
