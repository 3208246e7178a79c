"""Train FastDepth on synthetic scenes (CPU or GPU) and export it as OpenVINO IR (FP16 weights).

Run ``python -m edge_perception.training.train_fastdepth --help`` for the options;
``docs/fastdepth.md`` has the command that produced the shipped model.

Steps: render (or load from the cache) a deterministic dataset with disjoint training and
validation seeds; train at a low input size first, then at 224×224; evaluate on the held-out
scenes and on scenes of the texture family training did not see, each beside trivial priors
(:mod:`edge_perception.training.depth_evaluation`); export ``fastdepth.xml``/``.bin`` with input
``image`` (N×3×224×224 float32, normalised RGB) and output ``depth`` (N×1×224×224 metres);
evaluate the exported IR through OpenVINO on the validation scenes and, optionally, frame by
frame on RGB-D frames from outside (:mod:`edge_perception.training.frame_scores`); write
``fastdepth_metrics.json`` and the training set's row prior (``fastdepth_row_prior.json``)
beside the IR.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
from pathlib import Path
import time

# isort: off
# First: it sets how torch's OpenMP threads wait, which must come before torch is imported.
from edge_perception.training.run_setup import run_record, set_up_torch, warmup_cosine
# isort: on
import numpy as np  # noqa: E402
import openvino as ov  # noqa: E402
import torch  # noqa: E402

from edge_perception.core.metrics import compute_depth_metrics, DepthMetrics  # noqa: E402
from edge_perception.core.model_info import DEPTH_ESTIMATION, ModelInfo  # noqa: E402
from edge_perception.networks.fastdepth import (  # noqa: E402
    count_multiply_accumulates,
    count_parameters,
    FastDepth,
    INPUT_SIZE,
)
from edge_perception.training.augmentation import (  # noqa: E402
    augment_batch,
    PhotometricAugmentation,
)
from edge_perception.training.depth_evaluation import (  # noqa: E402
    generalisation_report,
    median_depth,
    summary_line,
)
from edge_perception.training.export import export_ir  # noqa: E402
from edge_perception.training.frame_scores import format_frame_report, frame_report  # noqa: E402
from edge_perception.training.rgbd_frames import read_rgbd_frames, RgbdFrame  # noqa: E402
from edge_perception.training.row_prior import fit_row_prior  # noqa: E402
from edge_perception.training.scenes import (  # noqa: E402
    SCENE_STYLES,
    TEXTURE_FAMILIES,
)
from edge_perception.training.synthetic_dataset import (  # noqa: E402
    cache_name,
    concatenate_datasets,
    DepthDataset,
    FULL_SIZE_SHARE,
    HELD_OUT_FAMILY_SEED_START,
    HORIZONTAL_FOV_RANGE_DEG,
    INPUT_MEAN,
    INPUT_SCALE,
    load_or_build_datasets,
    normalise_image,
    seed_ranges,
)
from edge_perception.training.warm_start import fastdepth_from_ir  # noqa: E402

#: --scene-style: the styles of :data:`SCENE_STYLES` each set's seeds are shared between.
STYLE_MIXES = {
    **{style: (style,) for style in SCENE_STYLES},
    'mixed': ('classic', 'indoor-robot'),
}
IR_INPUT_NAME = 'image'
IR_OUTPUT_NAME = 'depth'
IR_FILE_NAME = 'fastdepth.xml'
# Training images whose statistics the batch norms of --initial-weights start from.
CALIBRATION_IMAGES = 32
#: What the IR says about itself: the nodes and tools feed it by this.
MODEL_INFO = ModelInfo(model_type=DEPTH_ESTIMATION, mean=INPUT_MEAN, scale=INPUT_SCALE,
                       color_order='RGB',
                       output_unit='metres', title='FastDepth (MobileNet v1 + NNConv5), metres')
METRICS_FILE_NAME = 'fastdepth_metrics.json'
ROW_PRIOR_FILE_NAME = 'fastdepth_row_prior.json'
#: The exported IR's contract, as the metrics file states it.
IR_DESCRIPTION = {
    'xml': IR_FILE_NAME,
    'weights': 'FP16',
    'input': {
        'name': IR_INPUT_NAME,
        'shape': [-1, 3, INPUT_SIZE, INPUT_SIZE],
        'type': 'f32',
        'layout': 'NCHW',
        'channel_order': 'RGB',
        'normalisation': '(pixel_0_255 - mean) / scale, not inside the IR',
        'mean': [round(float(value), 3) for value in INPUT_MEAN],
        'scale': [round(float(value), 3) for value in INPUT_SCALE],
        'resize': '4:3 camera image squashed to 224x224, bilinear',
    },
    'output': {
        'name': IR_OUTPUT_NAME,
        'shape': [-1, 1, INPUT_SIZE, INPUT_SIZE],
        'type': 'f32',
        'unit': 'metres',
    },
}

# Weight of the gradient-matching term relative to the log-depth L1 term. It sharpens depth
# edges at object boundaries, which the pixel-wise term alone blurs.
_GRADIENT_LOSS_WEIGHT = 0.5

#: The learning rate: 3 % linear warm-up (from scratch, BN statistics are wild in the first steps
#: and a full learning rate can blow them up), then cosine decay.
learning_rate_at = warmup_cosine(warmup_share=0.03)


def parse_arguments(argv: list[str] | None = None) -> argparse.Namespace:
    """Command-line options.

    :param argv: arguments without the program name; ``sys.argv[1:]`` when ``None``.
    :returns: parsed options.
    """
    parser = argparse.ArgumentParser(
        description=__doc__.split('\n\n')[0],
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    for add_options in (_add_file_options, _add_dataset_options, _add_evaluation_options,
                        _add_optimisation_options):
        add_options(parser)
    arguments = parser.parse_args(argv)
    _check_arguments(parser, arguments)
    return arguments


def _add_file_options(parser: argparse.ArgumentParser) -> None:
    """Add where the model, the metrics and the dataset cache go."""
    parser.add_argument(
        '--output-dir',
        type=Path,
        default=Path('models/fastdepth'),
        help='where fastdepth.xml/.bin and the metrics JSON are written',
    )
    parser.add_argument(
        '--cache-dir',
        type=Path,
        default=Path('.training_cache'),
        help='where rendered datasets are cached as .npz (git-ignored)',
    )
    parser.add_argument(
        '--no-cache',
        action='store_true',
        help='render without reading or writing the dataset cache',
    )


def _add_dataset_options(parser: argparse.ArgumentParser) -> None:
    """Add which scenes are rendered, in which style, and how many."""
    parser.add_argument(
        '--train-scenes', type=int, default=4000, help='number of training scenes (seeds 0..N-1)'
    )
    parser.add_argument(
        '--validation-scenes',
        type=int,
        default=200,
        help='number of held-out scenes (seeds from 1e9)',
    )
    parser.add_argument(
        '--render-workers',
        type=int,
        default=os.cpu_count() or 1,
        help='processes rendering the dataset (the data do not depend on it)',
    )
    parser.add_argument(
        '--scene-style',
        choices=sorted(STYLE_MIXES),
        default='classic',
        help="scene randomisation: classic (the shipped model's scenes), indoor-robot "
        '(furniture, clutter, close views, camera 0.2-1.5 m high pitched 0-30 deg down, '
        'natural textures) or mixed (every other seed of each set in each style)',
    )
    parser.add_argument(
        '--texture-family',
        choices=TEXTURE_FAMILIES,
        default='A',
        help='texture and lighting family to train on; the other one is held out for evaluation',
    )


def _add_evaluation_options(parser: argparse.ArgumentParser) -> None:
    """Add what the trained model is judged on besides its validation scenes."""
    parser.add_argument(
        '--held-out-family-scenes',
        type=int,
        default=None,
        help='scenes of the other texture family to evaluate on (seeds from 1.2e9); 0 for none; '
        'as many as --validation-scenes when not given',
    )
    parser.add_argument(
        '--real-rgbd',
        type=Path,
        default=None,
        help='folder of real RGB-D pairs to evaluate on: NAME_rgb.png beside NAME_depth.png '
        '(16-bit mm) or NAME_depth.npy (metres)',
    )


def _add_optimisation_options(parser: argparse.ArgumentParser) -> None:
    """Add the device, the losses, augmentation and the schedule."""
    parser.add_argument('--threads', type=int, default=2, help='torch CPU threads')
    parser.add_argument(
        '--device',
        default='cpu',
        help='torch device to train on, e.g. cpu or cuda; rendering and the IR stay on the CPU',
    )
    parser.add_argument(
        '--photometric-augmentation',
        action=argparse.BooleanOptionalAction,
        default=False,
        help='camera effects on training images: blur, motion blur, shot and read noise, JPEG, '
        'exposure, gamma, white balance, vignetting (flips, brightness and contrast always apply)',
    )
    parser.add_argument(
        '--ssi-loss-weight',
        type=float,
        default=0.0,
        help='weight of the scale-and-shift-invariant log-depth loss beside the metric log loss',
    )
    parser.add_argument(
        '--initial-weights',
        type=Path,
        default=None,
        help='an exported FastDepth IR (e.g. models/fastdepth/fastdepth.xml) to fine-tune '
        'instead of starting from random weights',
    )
    parser.add_argument(
        '--steps',
        type=int,
        default=6000,
        help='total optimiser steps (both phases); training also ends when '
        '--time-budget-minutes runs out, whichever comes first',
    )
    parser.add_argument(
        '--time-budget-minutes',
        type=float,
        default=0.0,
        help='wall-clock budget for the optimisation; 0 for none. The learning '
        'rate schedule and the phase switch follow whichever of steps and time '
        'is further along',
    )
    parser.add_argument(
        '--warmup-size',
        type=int,
        default=160,
        help=f'input side length of the first phase (multiple of 32); {INPUT_SIZE} skips it',
    )
    parser.add_argument(
        '--warmup-share',
        type=float,
        default=0.55,
        help='share of the schedule spent at --warmup-size',
    )
    parser.add_argument('--warmup-batch-size', type=int, default=16)
    parser.add_argument('--batch-size', type=int, default=8, help=f'batch size at {INPUT_SIZE}')
    parser.add_argument('--learning-rate', type=float, default=2e-3, help='peak AdamW rate')
    parser.add_argument('--weight-decay', type=float, default=1e-4)
    parser.add_argument('--seed', type=int, default=0, help='seed of weights and batch order')
    parser.add_argument('--log-every', type=int, default=50, help='steps between log lines')


def _check_arguments(parser: argparse.ArgumentParser, arguments: argparse.Namespace) -> None:
    """Refuse what cannot run (exit 2 with the reason); fill in defaults derived from others."""
    if arguments.warmup_size % 32 or arguments.warmup_size <= 0:
        parser.error('--warmup-size must be a positive multiple of 32')
    if arguments.held_out_family_scenes is None:
        arguments.held_out_family_scenes = arguments.validation_scenes
    try:
        device = torch.device(arguments.device)
    except RuntimeError as error:
        parser.error(f'--device {arguments.device}: {error}')
    if device.type == 'cuda' and not torch.cuda.is_available():
        parser.error(f'--device {arguments.device}: this torch build sees no CUDA device')
    if arguments.ssi_loss_weight < 0:
        parser.error('--ssi-loss-weight must not be negative')
    if arguments.initial_weights is not None and not arguments.initial_weights.is_file():
        parser.error(f'--initial-weights {arguments.initial_weights} is not a file')
    if arguments.real_rgbd is not None and not arguments.real_rgbd.is_dir():
        parser.error(f'--real-rgbd {arguments.real_rgbd} is not a folder')


def _augmented_batch(
    dataset: DepthDataset,
    indices: np.ndarray,
    rng: np.random.Generator,
    photometric: PhotometricAugmentation | None = None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Draw a normalised image batch (N×3×S×S) and its depth (N×1×S×S), randomly augmented.

    Horizontal flips are exact for these cameras (principal point in the centre). Brightness,
    contrast and per-channel gain changes mimic exposure and white balance differences.
    ``photometric`` adds the camera effects of :mod:`edge_perception.training.augmentation`
    first; without it no further random numbers are drawn, so older runs replay unchanged.
    """
    images = dataset.images[indices]
    if photometric is not None:
        images = augment_batch(images, rng, photometric)
    images = images.astype(np.float32)
    depths = dataset.depths[indices].astype(np.float32)
    flip = rng.uniform(size=len(indices)) < 0.5
    images[flip] = images[flip, :, ::-1]
    depths[flip] = depths[flip, :, ::-1]
    count = len(indices)
    gain = rng.uniform(0.75, 1.25, (count, 1, 1, 1)) * rng.uniform(0.9, 1.1, (count, 1, 1, 3))
    contrast = rng.uniform(0.8, 1.2, (count, 1, 1, 1))
    mean = images.mean(axis=(1, 2, 3), keepdims=True)
    images = np.clip(((images - mean) * contrast + mean) * gain, 0.0, 255.0)
    normalised = ((images - INPUT_MEAN) / INPUT_SCALE).astype(np.float32)
    image_tensor = torch.from_numpy(np.ascontiguousarray(normalised.transpose(0, 3, 1, 2)))
    depth_tensor = torch.from_numpy(np.ascontiguousarray(depths[:, None]))
    return image_tensor.contiguous(memory_format=torch.channels_last), depth_tensor


def depth_loss(prediction: torch.Tensor, ground_truth: torch.Tensor) -> torch.Tensor:
    """L1 of log depth plus gradient matching of the log-depth error, over valid pixels.

    Log depth makes the loss relative (a 10 cm error matters more at 1 m than at 8 m), like the
    δ and AbsRel metrics the model is judged by.

    :param prediction: N×1×H×W predicted depth, metres, > 0.
    :param ground_truth: N×1×H×W depth, metres; non-finite where unknown (sky).
    :returns: scalar loss.
    """
    valid = torch.isfinite(ground_truth) & (ground_truth > 0)
    safe_truth = torch.where(valid, ground_truth, torch.ones_like(ground_truth))
    error = torch.where(valid, torch.log(prediction) - torch.log(safe_truth), 0.0)
    pixel_term = error.abs().sum() / valid.sum().clamp(min=1)
    valid_x = valid[..., 1:] & valid[..., :-1]
    valid_y = valid[..., 1:, :] & valid[..., :-1, :]
    gradient_x = (error[..., 1:] - error[..., :-1]).abs() * valid_x
    gradient_y = (error[..., 1:, :] - error[..., :-1, :]).abs() * valid_y
    gradient_term = gradient_x.sum() / valid_x.sum().clamp(min=1) + gradient_y.sum() / (
        valid_y.sum().clamp(min=1)
    )
    return pixel_term + _GRADIENT_LOSS_WEIGHT * gradient_term


#: Log-depth spread (std over an image) below which the SSI term stops rescaling the
#: prediction: 0.05 is a 5 % depth variation, far less than any scene has.
SSI_MIN_LOG_STD = 0.05


def scale_shift_invariant_loss(
    prediction: torch.Tensor, ground_truth: torch.Tensor
) -> torch.Tensor:
    """Mean |s·log d̂ + t − log d| after the least-squares scale s and shift t of each image.

    MiDaS (Ranftl et al., TPAMI 2022) aligns each prediction to its truth before comparing, so
    the loss judges structure alone. Aligning *log* depth rather than inverse depth: a shift of
    log depth is exactly the global scale of a scene, the ambiguity one image cannot resolve
    (camera height, room size), and the scale of log depth is how strongly depth contrasts are
    compressed; inverse depth would also weigh near pixels far above distant ones, which the
    metric log loss beside it does not. s and t are closed-form functions of the prediction, so
    gradients flow through them as in MiDaS.

    :param prediction: N×1×H×W predicted depth, metres, > 0.
    :param ground_truth: N×1×H×W depth, metres; non-finite where unknown (sky).
    :returns: scalar loss, averaged over the images that have valid pixels; invariant to
        scale and shift of log d̂ while its spread over the image is above
        :data:`SSI_MIN_LOG_STD`.
    """
    valid = (torch.isfinite(ground_truth) & (ground_truth > 0)).to(prediction.dtype)
    safe_truth = torch.where(valid > 0, ground_truth, torch.ones_like(ground_truth))
    log_prediction = torch.log(prediction)
    log_truth = torch.log(safe_truth)
    dims = (1, 2, 3)
    count = valid.sum(dim=dims)
    denominator = count.clamp(min=1.0)
    prediction_mean = (log_prediction * valid).sum(dim=dims) / denominator
    truth_mean = (log_truth * valid).sum(dim=dims) / denominator
    # Centred values make the 2×2 normal equations one division and keep float32 accurate.
    centred_prediction = (log_prediction - prediction_mean[:, None, None, None]) * valid
    centred_truth = (log_truth - truth_mean[:, None, None, None]) * valid
    variance = (centred_prediction * centred_prediction).sum(dim=dims)
    covariance = (centred_prediction * centred_truth).sum(dim=dims)
    # s = cov / var grows as 1 / var for a nearly flat prediction, and so does its gradient:
    # an untrained network's log depth varies by ~0.1 %, and that gradient (20x the metric
    # term's) killed the decoder's ReLUs in the first hundred steps of a real run, leaving a
    # constant output. Below a log-depth spread of SSI_MIN_LOG_STD the variance is floored,
    # which bounds s; above it the loss is exactly scale-and-shift invariant.
    scale = covariance / torch.maximum(variance, SSI_MIN_LOG_STD**2 * denominator)
    residual = (scale[:, None, None, None] * centred_prediction - centred_truth).abs() * valid
    per_image = residual.sum(dim=dims) / denominator
    has_pixels = count > 0
    return (per_image * has_pixels).sum() / has_pixels.sum().clamp(min=1)


def predict_with_torch(model: FastDepth, images: np.ndarray, batch_size: int = 16) -> np.ndarray:
    """Depth for uint8 RGB images that are already squashed to the input size.

    :param model: the network (switched to eval mode), on any device.
    :param images: N×S×S×3 uint8 RGB.
    :param batch_size: images per forward pass.
    :returns: N×S×S float32 depth, metres.
    """
    model.eval()
    device = next(model.parameters()).device
    outputs = []
    with torch.no_grad():
        for start in range(0, len(images), batch_size):
            batch = torch.from_numpy(normalise_image(images[start : start + batch_size]))
            outputs.append(model(batch.to(device))[:, 0].cpu().numpy())
    return np.concatenate(outputs)


def predict_with_openvino(
    compiled: ov.CompiledModel, images: np.ndarray, batch_size: int = 16
) -> np.ndarray:
    """Depth from a compiled IR for uint8 RGB images squashed to the input size.

    :param compiled: the compiled FastDepth IR.
    :param images: N×S×S×3 uint8 RGB.
    :param batch_size: images per inference.
    :returns: N×S×S float32 depth, metres.
    """
    outputs = []
    for start in range(0, len(images), batch_size):
        batch = normalise_image(images[start : start + batch_size])
        outputs.append(compiled(batch)[IR_OUTPUT_NAME][:, 0])
    return np.concatenate(outputs)


def evaluate(predictions: np.ndarray, dataset: DepthDataset) -> DepthMetrics:
    """Metrics of predictions against the dataset's depth, pooled over all valid pixels.

    :param predictions: N×S×S depth, metres.
    :param dataset: the samples that were predicted.
    :returns: the metrics.
    """
    return compute_depth_metrics(predictions, dataset.depths.astype(np.float32))


def export_openvino(model: FastDepth, xml_path: Path) -> ov.Model:
    """Export FastDepth: input ``image`` ?×3×224×224 (dynamic batch), output ``depth`` in
    metres, FP16 weights.
    """
    return export_ir(model, [-1, 3, INPUT_SIZE, INPUT_SIZE], xml_path, IR_INPUT_NAME,
                     IR_OUTPUT_NAME, MODEL_INFO)


def train(
    model: FastDepth,
    datasets: dict[int, DepthDataset],
    arguments: argparse.Namespace,
) -> dict[str, float | int]:
    """Optimise ``model`` in two phases (``warmup_size``, then 224) and return a summary.

    :param model: the network, updated in place.
    :param datasets: training samples keyed by input size.
    :param arguments: options from :func:`parse_arguments`.
    :returns: steps per phase and wall time.
    """
    rng = np.random.default_rng(arguments.seed)
    device = torch.device(arguments.device)
    photometric = PhotometricAugmentation() if arguments.photometric_augmentation else None
    model.to(device)
    optimiser = torch.optim.AdamW(
        model.parameters(), lr=arguments.learning_rate, weight_decay=arguments.weight_decay
    )
    model.train()
    model.to(memory_format=torch.channels_last)
    budget_seconds = arguments.time_budget_minutes * 60.0
    has_warmup_phase = arguments.warmup_size != INPUT_SIZE
    steps_per_phase = {arguments.warmup_size: 0, INPUT_SIZE: 0}
    start = time.monotonic()
    running_loss = 0.0
    step = 0
    while True:
        elapsed = time.monotonic() - start
        progress = step / arguments.steps
        if budget_seconds > 0:
            progress = max(progress, elapsed / budget_seconds)
        if progress >= 1.0:
            break
        in_warmup = has_warmup_phase and progress < arguments.warmup_share
        size = arguments.warmup_size if in_warmup else INPUT_SIZE
        batch_size = arguments.warmup_batch_size if in_warmup else arguments.batch_size
        dataset = datasets[size]
        indices = rng.choice(len(dataset), size=min(batch_size, len(dataset)), replace=False)
        images, depths = _augmented_batch(dataset, indices, rng, photometric)
        images, depths = images.to(device), depths.to(device)
        for group in optimiser.param_groups:
            group['lr'] = learning_rate_at(progress, arguments.learning_rate)
        prediction = model(images)
        loss = depth_loss(prediction, depths)
        if arguments.ssi_loss_weight > 0:
            loss = loss + arguments.ssi_loss_weight * scale_shift_invariant_loss(
                prediction, depths
            )
        optimiser.zero_grad(set_to_none=True)
        loss.backward()
        optimiser.step()
        running_loss += loss.item()
        step += 1
        steps_per_phase[size] += 1
        if step % arguments.log_every == 0:
            print(
                f"step {step:6d}  size {size}  progress {progress:5.3f}  "
                f"lr {optimiser.param_groups[0]['lr']:.2e}  "
                f"loss {running_loss / arguments.log_every:.4f}  {elapsed:7.1f} s",
                flush=True,
            )
            running_loss = 0.0
    model.eval()
    model.to('cpu')
    return {
        'steps': step,
        'steps_at_warmup_size': steps_per_phase[arguments.warmup_size] if has_warmup_phase else 0,
        'steps_at_224': steps_per_phase[INPUT_SIZE],
        'seconds': round(time.monotonic() - start, 1),
    }


@dataclasses.dataclass
class _Datasets:
    """Everything a run trains and is judged on."""

    train: dict[int, DepthDataset]
    validation: DepthDataset
    validation_seeds: range
    held_out_family: str
    held_out_family_seeds: range
    held_out_family_set: DepthDataset | None
    real: list[RgbdFrame] | None
    seconds: float


def load_datasets(arguments: argparse.Namespace) -> _Datasets:
    """Render (or load from the cache) the training, validation and held-out-family sets.

    :param arguments: options from :func:`parse_arguments`.
    """
    start = time.monotonic()
    sizes = tuple(sorted({arguments.warmup_size, INPUT_SIZE}))
    train_seeds, validation_seeds = seed_ranges(arguments.train_scenes, arguments.validation_scenes)
    sizes_tag = '_'.join(str(size) for size in sizes)
    held_out_family = next(family for family in TEXTURE_FAMILIES
                           if family != arguments.texture_family)
    train = _styled_datasets(arguments, f'train_{arguments.train_scenes}_{sizes_tag}',
                             arguments.texture_family, train_seeds, sizes)
    validation = _styled_datasets(arguments, f'validation_{arguments.validation_scenes}',
                                  arguments.texture_family, validation_seeds,
                                  (INPUT_SIZE,))[INPUT_SIZE]
    held_out_family_seeds = range(
        HELD_OUT_FAMILY_SEED_START, HELD_OUT_FAMILY_SEED_START + arguments.held_out_family_scenes
    )
    held_out_family_set = None
    if arguments.held_out_family_scenes > 0:
        held_out_family_set = _styled_datasets(
            arguments, f'held_out_family_{arguments.held_out_family_scenes}', held_out_family,
            held_out_family_seeds, (INPUT_SIZE,))[INPUT_SIZE]
    real = read_rgbd_frames(arguments.real_rgbd) if arguments.real_rgbd else None
    seconds = time.monotonic() - start
    print(f'dataset: {len(train_seeds)} training / {len(validation_seeds)} validation scenes '
          f'ready in {seconds:.1f} s', flush=True)
    return _Datasets(train, validation, validation_seeds, held_out_family, held_out_family_seeds,
                     held_out_family_set, real, seconds)


def _styled_datasets(
    arguments: argparse.Namespace,
    prefix: str,
    family: str,
    seeds: range,
    sizes: tuple[int, ...],
) -> dict[int, DepthDataset]:
    """One set per input size, its seeds shared between the styles of ``--scene-style``.

    A mix takes every len(styles)-th seed in each style, so each style keeps its own cache file
    and a style's scenes are the same whatever the mix.
    """
    styles = STYLE_MIXES[arguments.scene_style]
    cache_dir = None if arguments.no_cache else arguments.cache_dir
    parts = []
    for index, style in enumerate(styles):
        part_prefix = prefix if len(styles) == 1 else f'{prefix}_part{index}of{len(styles)}'
        path = (None if cache_dir is None
                else cache_dir / f'{cache_name(part_prefix, style, family)}.npz')
        randomisation = dataclasses.replace(SCENE_STYLES[style], texture_family=family)
        parts.append(load_or_build_datasets(path, seeds[index :: len(styles)], sizes,
                                            arguments.render_workers, randomisation))
    return {size: concatenate_datasets([part[size] for part in parts]) for size in sizes}


def initial_model(arguments: argparse.Namespace, train: dict[int, DepthDataset]) -> FastDepth:
    """Random weights, or ``--initial-weights`` with batch norms calibrated on training images."""
    if arguments.initial_weights is None:
        return FastDepth()
    images = train[INPUT_SIZE].images
    calibration = np.random.default_rng(arguments.seed).choice(
        len(images), size=min(CALIBRATION_IMAGES, len(images)), replace=False)
    return fastdepth_from_ir(arguments.initial_weights, normalise_image(images[calibration]))


def judge_generalisation(
    model: FastDepth,
    datasets: _Datasets,
    texture_family: str,
    validation_predictions: np.ndarray,
) -> dict[str, dict]:
    """Each held-out synthetic set (scenes, the other texture family) beside trivial priors."""
    # One constant for every set: what a model that ignores the image would learn to say.
    constant_depth = median_depth(datasets.train[INPUT_SIZE])
    evaluation_sets = {
        f'held_out_synthetic_{texture_family}': datasets.validation,
        f'held_out_family_{datasets.held_out_family}': datasets.held_out_family_set,
    }
    generalisation = {}
    for name, dataset in evaluation_sets.items():
        if dataset is None:
            continue
        predictions = (validation_predictions if dataset is datasets.validation
                       else predict_with_torch(model, dataset.images))
        generalisation[name] = generalisation_report(predictions, dataset.depths, constant_depth)
        print(summary_line(name, generalisation[name]), flush=True)
    return generalisation


def judge_real_frames(xml_path: Path, datasets: _Datasets, output_dir: Path) -> dict | None:
    """Fit the row prior on the training set (written beside the IR) and score the exported IR
    on ``--real-rgbd`` frame by frame beside it (:mod:`~edge_perception.training.frame_scores`).

    :returns: the report, or None without real frames.
    """
    train = datasets.train[INPUT_SIZE]
    prior = fit_row_prior(train, f'the {len(train.seeds)} training scenes of this run '
                          f'({INPUT_SIZE}x{INPUT_SIZE})')
    (output_dir / ROW_PRIOR_FILE_NAME).write_text(prior.to_json())
    if datasets.real is None:
        return None
    report = frame_report(xml_path, datasets.real, prior)
    print(format_frame_report(report, f'{xml_path} on the real RGB-D frames'), flush=True)
    return report


def main(argv: list[str] | None = None) -> None:
    """Entry point: dataset, training, evaluation, export, metrics JSON.

    :param argv: arguments without the program name; ``sys.argv[1:]`` when ``None``.
    """
    arguments = parse_arguments(argv)
    set_up_torch(arguments.threads, arguments.seed)
    run_start = time.monotonic()
    datasets = load_datasets(arguments)
    model = initial_model(arguments, datasets.train)
    training_summary = train(model, datasets.train, arguments)
    validation_predictions = predict_with_torch(model, datasets.validation.images)
    torch_metrics = evaluate(validation_predictions, datasets.validation)
    print(f'held-out (torch, FP32): {torch_metrics}', flush=True)
    generalisation = judge_generalisation(model, datasets, arguments.texture_family,
                                          validation_predictions)

    xml_path = arguments.output_dir / IR_FILE_NAME
    export_openvino(model, xml_path)
    compiled = ov.Core().compile_model(xml_path, 'CPU')
    ir_metrics = evaluate(predict_with_openvino(compiled, datasets.validation.images),
                          datasets.validation)
    print(f'held-out (OpenVINO IR, FP16 weights): {ir_metrics}', flush=True)
    real_report = judge_real_frames(xml_path, datasets, arguments.output_dir)
    if real_report is not None:
        generalisation['real_rgbd'] = real_report

    report = {
        'model': 'FastDepth: MobileNet v1 (width 1.0) encoder + NNConv5 decoder, additive skips',
        'parameters': count_parameters(model),
        'multiply_accumulates': count_multiply_accumulates(model, (1, 3, INPUT_SIZE, INPUT_SIZE)),
        'ir': IR_DESCRIPTION,
        'dataset': _dataset_record(arguments, datasets),
        'training': run_record(arguments, training_summary),
        'held_out_metrics_torch_fp32': torch_metrics.as_dict(),
        'held_out_metrics_openvino_fp16': ir_metrics.as_dict(),
        'generalisation': generalisation,
        'openvino_version': ov.get_version(),
        'total_seconds': round(time.monotonic() - run_start, 1),
    }
    metrics_path = arguments.output_dir / METRICS_FILE_NAME
    metrics_path.write_text(json.dumps(report, indent=2) + '\n')
    print(f'wrote {xml_path} and {metrics_path}', flush=True)


def _dataset_record(arguments: argparse.Namespace, datasets: _Datasets) -> dict:
    """Describe the scenes, seeds and sets for the metrics file."""
    held_out_seeds = datasets.held_out_family_seeds
    return {
        'train_scenes': arguments.train_scenes,
        'train_seeds': f'0..{arguments.train_scenes - 1}',
        'validation_scenes': arguments.validation_scenes,
        'validation_seeds': f'{datasets.validation_seeds.start}..'
                            f'{datasets.validation_seeds.stop - 1}',
        'scene_style': arguments.scene_style,
        'texture_family': arguments.texture_family,
        'held_out_family': datasets.held_out_family,
        'held_out_family_scenes': arguments.held_out_family_scenes,
        'held_out_family_seeds': (f'{held_out_seeds.start}..{held_out_seeds.stop - 1}'
                                  if arguments.held_out_family_scenes else None),
        'real_rgbd': str(arguments.real_rgbd) if arguments.real_rgbd else None,
        'horizontal_fov_deg': list(HORIZONTAL_FOV_RANGE_DEG),
        'render_sizes': {'320x240': 1.0 - FULL_SIZE_SHARE, '640x480': FULL_SIZE_SHARE},
        'seconds_to_render_or_load': round(datasets.seconds, 1),
    }


if __name__ == '__main__':
    main()
