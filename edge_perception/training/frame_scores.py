"""A depth model scored frame by frame on RGB-D frames from outside, beside two trivial priors.

Each frame (:mod:`edge_perception.training.rgbd_frames`) goes through the node's own steps at
camera resolution: host preprocessing with the IR's normalisation and the centred
``input_crop``, inference (in f32 on the CPU), the depth resized back into the crop box
(:class:`~edge_perception.core.heads.DepthHead`, no range cut). Scored on the box's pixels with
measured depth, per frame:

* ``model``: metric, and after median scaling (the prediction times the frame's median of
  truth / prediction: the shape of the depth, not its scale);
* ``constant_prior``: the frame's own median depth everywhere (an oracle constant; scaled or not
  it is the same);
* ``row_prior``: depth by image row, fitted on training data
  (:class:`~edge_perception.training.row_prior.RowPrior`), never on the test frame.

Means over frames (each frame weighs the same) are kept apart for real and rendered frames.
Two scorings: the whole frame (``input_crop`` 1.0, the node's default) and the FastDepth
authors' centre crop (0.912, the network seeing and being scored on the central 91.2 % of each
side). No torch, no rclpy.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from edge_perception.core.engine import compile_model, create_core, load_model
from edge_perception.core.heads import DepthHead
from edge_perception.core.input_crop import centred_crop, FULL_FRAME
from edge_perception.core.metrics import compute_depth_metrics, valid_depth_mask
from edge_perception.core.model_info import read_model_info
from edge_perception.core.preprocessing import HostPreprocessor, resolve_normalisation
from edge_perception.training.rgbd_frames import RgbdFrame
from edge_perception.training.row_prior import RowPrior

#: The FastDepth authors' evaluation crop: 228×304 of NYU frames scaled to 250 px high.
AUTHORS_CENTRE_CROP = 0.912
#: The two scorings: name -> ``input_crop``.
SCORINGS = {'whole_frame': FULL_FRAME, 'centre_crop': AUTHORS_CENTRE_CROP}
#: Predictors scored on every frame, in table order.
PREDICTORS = ('model', 'constant_prior', 'row_prior')
#: Figures averaged over frames: (scaling, metric).
MEAN_FIGURES = (('metric', 'delta1'), ('median_scaled', 'delta1'),
                ('median_scaled', 'abs_rel'))


def predict_frames(model_path: Path, frames: list[RgbdFrame], input_crop: float,
                   device: str = 'CPU') -> list[np.ndarray]:
    """Depth of each frame as the depth node computes it, at camera resolution.

    :param model_path: depth IR (``.xml``); its ``model_info`` gives the normalisation.
    :param frames: the frames.
    :param input_crop: fraction of each side the network sees, centred.
    :param device: OpenVINO device.
    :returns: H×W float32 metres per frame, NaN outside the crop box.
    """
    core = create_core()
    model = load_model(core, model_path)
    normalisation, _ = resolve_normalisation(read_model_info(model))
    preprocess = HostPreprocessor(model, 'rgb8', normalisation, input_crop)
    # f32 on the CPU, as the regression computes: a CPU with bf16 would otherwise make the
    # figures depend on the machine.
    precision = 'f32' if device == 'CPU' else 'default'
    request = compile_model(core, model, device,
                            inference_precision=precision).create_infer_request()
    head = DepthHead(min_depth=0.0, max_depth=float('inf'))
    predictions = []
    for frame in frames:
        height, width = frame.depth.shape
        outputs = request.infer({0: preprocess(frame.rgb)})
        predictions.append(head.depth(list(outputs.values()), width, height,
                                      input_crop=input_crop).copy())
    return predictions


def median_scale(prediction: np.ndarray, truth: np.ndarray) -> np.ndarray:
    """Multiply the prediction by its median ratio to the truth over pixels where both are valid.

    :param prediction: H×W metres.
    :param truth: H×W metres, NaN/≤ 0 where unknown.
    :returns: float32; the prediction unchanged when no pixel is valid in both.
    """
    valid = valid_depth_mask(truth, prediction)
    if not np.any(valid):
        return prediction.astype(np.float32)
    ratio = np.median(truth[valid].astype(np.float64) / prediction[valid])
    return (prediction * ratio).astype(np.float32)


def score_frame(prediction: np.ndarray, truth: np.ndarray, row_prior: RowPrior,
                input_crop: float) -> dict[str, dict]:
    """Scores of the model and of both priors on one frame, inside the crop box.

    :param prediction: H×W model depth, metres (NaN outside the box).
    :param truth: H×W measured depth, metres, NaN where unknown.
    :param row_prior: the training data's depth by row.
    :param input_crop: the crop the network saw; pixels outside it are not scored.
    :returns: ``{predictor: {'metric'|'median_scaled': metrics}}``.
    """
    height, width = truth.shape
    rows, columns = centred_crop(height, width, input_crop).slices
    scored_truth = np.full(truth.shape, np.nan, dtype=np.float32)
    scored_truth[rows, columns] = truth[rows, columns]
    known = scored_truth[np.isfinite(scored_truth) & (scored_truth > 0)]
    frame_median = float(np.median(known)) if known.size else 1.0
    estimates = {
        'model': prediction,
        'constant_prior': np.full(truth.shape, frame_median, dtype=np.float32),
        'row_prior': row_prior.predict(height, width),
    }
    return {
        name: {
            'metric': compute_depth_metrics(estimate, scored_truth).as_dict(),
            'median_scaled': compute_depth_metrics(
                median_scale(estimate, scored_truth), scored_truth).as_dict(),
        }
        for name, estimate in estimates.items()
    }


def _means(frame_reports: list[dict]) -> dict:
    return {
        'frames': len(frame_reports),
        **{name: {f'{scaling}_{metric}': float(np.mean(
            [report[name][scaling][metric] for report in frame_reports]))
            for scaling, metric in MEAN_FIGURES}
           for name in PREDICTORS},
    } if frame_reports else {'frames': 0}


def frame_report(model_path: Path, frames: list[RgbdFrame], row_prior: RowPrior,
                 device: str = 'CPU') -> dict:
    """Score a depth IR on frames, whole and centre-cropped, beside both priors.

    :param model_path: depth IR (``.xml``).
    :param frames: the frames.
    :param row_prior: the row prior, fitted on training data.
    :param device: OpenVINO device.
    :returns: ``{scoring: {'input_crop', 'frames': [per frame], 'mean': {'real'|'rendered'}}}``
        plus ``row_prior`` (what it was fitted on).
    """
    report = {'row_prior': row_prior.fitted_on}
    for scoring, input_crop in SCORINGS.items():
        predictions = predict_frames(model_path, frames, input_crop, device)
        per_frame = [{'name': frame.name, 'real': frame.real,
                      **score_frame(prediction, frame.depth, row_prior, input_crop)}
                     for frame, prediction in zip(frames, predictions, strict=True)]
        report[scoring] = {
            'input_crop': input_crop,
            'frames': per_frame,
            'mean': {kind: _means([entry for entry in per_frame if entry['real'] == real])
                     for kind, real in (('real', True), ('rendered', False))},
        }
    return report


def format_frame_report(report: dict, title: str) -> str:
    """Write the report as text tables: one per scoring, a line per frame, then the means.

    :param report: a :func:`frame_report`.
    :param title: first line (what was scored on what).
    :returns: the text.
    """
    header = (f"{'frame':<22} {'model: d1':>9} {'d1 ms':>6} {'AbsRel ms':>9} | "
              f"{'constant: d1':>12} {'AbsRel':>6} | {'row prior: d1':>13} {'d1 ms':>6} "
              f"{'AbsRel ms':>9} | {'margin':>6}")
    lines = [title, f"row prior fitted on {report['row_prior']}",
             "d1 = delta1, ms = median-scaled; constant = the frame's median depth; "
             "margin = model d1 ms minus the better prior's"]
    for scoring, input_crop in SCORINGS.items():
        section = report[scoring]
        lines += ['', f"{scoring.replace('_', ' ')} (input_crop {input_crop})", header]
        rows = [(f"{entry['name']} ({'real' if entry['real'] else 'rendered'})",
                 {name: {f'{scaling}_{metric}': entry[name][scaling][metric]
                         for scaling, metric in MEAN_FIGURES} for name in PREDICTORS})
                for entry in section['frames']]
        rows += [(f"mean, {kind} ({means['frames']})", means)
                 for kind, means in section['mean'].items() if means['frames']]
        lines += [_table_row(label, figures) for label, figures in rows]
    return '\n'.join(lines)


def _table_row(label: str, figures: dict) -> str:
    model, constant, row = (figures[name] for name in PREDICTORS)
    margin = model['median_scaled_delta1'] - max(constant['median_scaled_delta1'],
                                                 row['median_scaled_delta1'])
    return (f"{label:<22} {model['metric_delta1']:>9.3f} {model['median_scaled_delta1']:>6.3f} "
            f"{model['median_scaled_abs_rel']:>9.3f} | {constant['median_scaled_delta1']:>12.3f} "
            f"{constant['median_scaled_abs_rel']:>6.3f} | {row['metric_delta1']:>13.3f} "
            f"{row['median_scaled_delta1']:>6.3f} {row['median_scaled_abs_rel']:>9.3f} | "
            f"{margin:>+6.3f}")
