"""Does a depth model generalise? Metric and scale-free scores beside trivial priors.

A model trained on rendered scenes can learn the renderer instead of the world. Three numbers
together tell the difference, on any set of RGB-D pairs (held-out synthetic scenes, scenes of a
texture family the training renderer never drew, or a user's real recordings):

* the model's metrics as predicted (metric depth);
* the same after per-image median scaling (each prediction multiplied by the median of
  truth / prediction over its valid pixels): what is left is structure, not the global scale,
  which one image rarely determines;
* the same metrics for two trivial priors, a model that never looked at the image: a constant
  depth (the training set's median depth), and "depth as a function of image row", fitted on
  each image's own ground truth (the median depth of each row). The row prior is what floor
  geometry alone explains; a model that does not beat it after median scaling has learned little
  beyond "lower in the image is closer".

RGB-D frames from outside (``--real-rgbd``: a folder described by ``frames.json``,
:mod:`edge_perception.training.rgbd_frames`) are scored frame by frame at camera resolution,
whole and centre-cropped, beside a constant at each frame's median and a row prior fitted on
training data (:mod:`edge_perception.training.frame_scores`), means apart for real and rendered
frames.

``python -m edge_perception.training.depth_evaluation --model fastdepth.xml --real-rgbd DIR``
(and/or ``--synthetic-scenes N``) scores an exported IR; ``train_fastdepth`` writes the same
reports into its metrics JSON.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable
import dataclasses
import json
import os
from pathlib import Path

import numpy as np

from edge_perception.core.metrics import compute_depth_metrics
from edge_perception.core.openvino_compat import Core
from edge_perception.package_paths import shared_file
from edge_perception.training.frame_scores import (
    format_frame_report,
    frame_report,
    median_scale,
)
from edge_perception.training.rgbd_frames import read_rgbd_frames
from edge_perception.training.row_prior import RowPrior
from edge_perception.training.scenes import SCENE_STYLES, TEXTURE_FAMILIES
from edge_perception.training.synthetic_dataset import (
    build_datasets,
    DepthDataset,
    HELD_OUT_FAMILY_SEED_START,
    normalise_image,
    read_cached_datasets,
    VALIDATION_SEED_START,
)

#: Predicts N×S×S depth in metres from N×S×S×3 uint8 RGB squashed to the model's input size.
Predictor = Callable[[np.ndarray], np.ndarray]


def median_scaled(prediction: np.ndarray, ground_truth: np.ndarray) -> np.ndarray:
    """Scale each predicted image by its median ratio to the truth over valid pixels
    (:func:`~edge_perception.training.frame_scores.median_scale`, image by image).

    :param prediction: N×H×W depth, metres.
    :param ground_truth: N×H×W depth, metres; non-finite or ≤ 0 where unknown.
    :returns: N×H×W float32; images without a valid pixel are returned unscaled.
    """
    prediction = np.asarray(prediction, dtype=np.float32)
    scaled = np.empty(prediction.shape, dtype=np.float32)
    for index, (image, truth) in enumerate(zip(prediction, ground_truth, strict=True)):
        scaled[index] = median_scale(image, truth)
    return scaled


def constant_prior(ground_truth: np.ndarray, depth: float) -> np.ndarray:
    """Predict the same depth everywhere, as a model that ignores the image would.

    :param ground_truth: N×H×W depth; only its shape is used.
    :param depth: the constant, metres.
    :returns: N×H×W float32.
    """
    return np.full(np.shape(ground_truth), depth, dtype=np.float32)


def row_prior(ground_truth: np.ndarray) -> np.ndarray:
    """Depth as a function of image row only, fitted on each image: the median of each row.

    An oracle (it sees the truth), but one that knows nothing but the row: on a floor seen by a
    level camera it is exact, on anything else it shows what is left to learn.

    :param ground_truth: N×H×W depth, metres; non-finite or ≤ 0 where unknown.
    :returns: N×H×W float32; rows without valid truth get the image's median (never scored).
    """
    truth = np.asarray(ground_truth, dtype=np.float64)
    with np.errstate(invalid='ignore'):
        known = np.where(np.isfinite(truth) & (truth > 0), truth, np.nan)
    prior = np.empty(truth.shape, dtype=np.float32)
    for index, image in enumerate(known):
        image_median = np.nanmedian(image) if np.any(np.isfinite(image)) else 1.0
        rows_with_truth = np.any(np.isfinite(image), axis=1)
        row_depth = np.full(len(image), image_median)
        row_depth[rows_with_truth] = np.nanmedian(image[rows_with_truth], axis=1)
        prior[index] = row_depth[:, None]
    return prior


def _scores(prediction: np.ndarray, ground_truth: np.ndarray) -> dict[str, dict]:
    """Metric scores and scores after per-image median scaling."""
    return {
        'metric': compute_depth_metrics(prediction, ground_truth).as_dict(),
        'median_scaled': compute_depth_metrics(
            median_scaled(prediction, ground_truth), ground_truth
        ).as_dict(),
    }


def generalisation_report(
    predictions: np.ndarray, ground_truth: np.ndarray, constant_depth: float
) -> dict[str, dict]:
    """Score a model's predictions beside the constant and the row prior.

    :param predictions: N×H×W predicted depth, metres.
    :param ground_truth: N×H×W depth, metres; non-finite or ≤ 0 where unknown.
    :param constant_depth: the constant prior's depth (the training set's median), metres.
    :returns: ``{'model'|'constant_prior'|'row_prior': {'metric'|'median_scaled': metrics}}``
        plus ``images``; median scaling makes the constant prior each image's median.
    """
    truth = np.asarray(ground_truth, dtype=np.float32)
    return {
        'images': int(len(truth)),
        'model': _scores(np.asarray(predictions, dtype=np.float32), truth),
        'constant_prior': {**_scores(constant_prior(truth, constant_depth), truth),
                           'depth_m': float(constant_depth)},
        'row_prior': _scores(row_prior(truth), truth),
    }


def median_depth(dataset: DepthDataset) -> float:
    """Median of the valid depth of a dataset, metres (the constant prior's depth).

    :param dataset: samples with depth (``inf`` for sky).
    :returns: the median.
    """
    depths = dataset.depths.astype(np.float32)
    return float(np.median(depths[np.isfinite(depths) & (depths > 0)]))


def default_row_prior_path() -> Path:
    """Return the row prior fitted on the bundled model's training scenes, as installed."""
    return shared_file('models', 'fastdepth', 'fastdepth_row_prior.json')


def summary_line(name: str, report: dict[str, dict]) -> str:
    """One line of δ1 figures from a :func:`generalisation_report`, for logs.

    :param name: what was evaluated.
    :param report: the report.
    :returns: the line.
    """
    def delta1(entry: str, kind: str) -> str:
        return f"{report[entry][kind]['delta1']:.3f}"

    return (
        f"{name} ({report['images']} images) delta1 model {delta1('model', 'metric')} "
        f"(median-scaled {delta1('model', 'median_scaled')}), constant "
        f"{delta1('constant_prior', 'metric')} ({delta1('constant_prior', 'median_scaled')}), "
        f"row prior {delta1('row_prior', 'metric')}"
    )


def _predict_with_ir(compiled, images: np.ndarray) -> np.ndarray:
    """Depth from a compiled IR, one image at a time (IRs may have a fixed batch of one)."""
    return np.concatenate([
        compiled(normalise_image(images[index : index + 1]))[compiled.output(0)][:, 0]
        for index in range(len(images))
    ])


def main(argv: list[str] | None = None) -> None:
    """Score an exported depth IR on real RGB-D pairs and/or synthetic scenes of both families.

    :param argv: arguments without the program name; ``sys.argv[1:]`` when ``None``.
    """
    parser = argparse.ArgumentParser(description=main.__doc__.split('\n\n')[0])
    parser.add_argument('--model', type=Path, required=True, help='depth IR (.xml)')
    parser.add_argument('--real-rgbd', type=Path, default=None,
                        help='folder of RGB-D frames described by frames.json (or NAME_rgb.png + '
                        'NAME_depth.png (16-bit mm) / .npy (m) pairs), scored frame by frame '
                        'at camera resolution, whole and centre-cropped, beside the priors')
    parser.add_argument('--row-prior', type=Path, default=None,
                        help='row prior JSON fitted on training data (row_prior.py); default: '
                        'the one beside the bundled model')
    parser.add_argument('--device', default='CPU', help='OpenVINO device for --real-rgbd')
    parser.add_argument('--synthetic-scenes', type=int, default=0,
                        help='also render this many scenes of each texture family (A: the '
                        'validation seeds from 1e9, B: seeds from 1.2e9)')
    parser.add_argument('--scene-style', choices=sorted(SCENE_STYLES), default='classic',
                        help='style of the synthetic scenes')
    parser.add_argument('--render-workers', type=int, default=os.cpu_count() or 1,
                        help='processes rendering the synthetic scenes')
    parser.add_argument('--cached-set', type=Path, action='append', default=[],
                        help='a dataset file train_fastdepth cached (.npz in its --cache-dir), '
                        'e.g. the held-out sets of a run, to score models on the same images; '
                        'repeatable')
    parser.add_argument('--constant-depth', type=float, default=None,
                        help="depth of the constant prior, metres (default: each set's own "
                        'median depth, the best single constant in hindsight)')
    parser.add_argument('--output', type=Path, default=None, help='write the reports as JSON')
    arguments = parser.parse_args(argv)
    if arguments.real_rgbd is None and arguments.synthetic_scenes <= 0 and \
            not arguments.cached_set:
        parser.error('nothing to evaluate: give --real-rgbd, --synthetic-scenes and/or '
                     '--cached-set')

    compiled = Core().compile_model(str(arguments.model), 'CPU')
    size = int(compiled.input(0).get_partial_shape()[2].get_length())
    datasets = {}
    for family in TEXTURE_FAMILIES if arguments.synthetic_scenes > 0 else ():
        first_seed = VALIDATION_SEED_START if family == 'A' else HELD_OUT_FAMILY_SEED_START
        randomisation = dataclasses.replace(
            SCENE_STYLES[arguments.scene_style], texture_family=family
        )
        datasets[f'synthetic_{arguments.scene_style}_{family}'] = build_datasets(
            range(first_seed, first_seed + arguments.synthetic_scenes), (size,),
            arguments.render_workers, randomisation,
        )[size]
    for path in arguments.cached_set:
        cached = read_cached_datasets(path, (size,))
        if cached is None:
            parser.error(f'--cached-set {path} holds no {size}x{size} samples')
        datasets[path.stem] = cached[size]

    reports = {}
    for name, dataset in datasets.items():
        constant = arguments.constant_depth or median_depth(dataset)
        reports[name] = generalisation_report(
            _predict_with_ir(compiled, dataset.images), dataset.depths, constant
        )
        print(summary_line(name, reports[name]), flush=True)
    if arguments.real_rgbd is not None:
        try:
            frames = read_rgbd_frames(arguments.real_rgbd)
            row_prior = RowPrior.read(arguments.row_prior or default_row_prior_path())
        except (OSError, ValueError) as error:
            parser.error(str(error))
        reports['real_rgbd'] = frame_report(arguments.model, frames, row_prior, arguments.device)
        print(format_frame_report(reports['real_rgbd'],
                                  f'{arguments.model} on {arguments.real_rgbd}'), flush=True)
    if arguments.output:
        arguments.output.write_text(json.dumps(reports, indent=2) + '\n')


if __name__ == '__main__':
    main()
