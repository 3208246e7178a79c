"""Training samples for FastDepth, built from synthetic scenes exactly as the node feeds images.

The model's input contract (the node reproduces it, partly inside the OpenVINO graph):

1. The 4:3 camera image is resized to 224×224 with bilinear interpolation, *without* keeping the
   aspect ratio (``cv2.resize(..., interpolation=cv2.INTER_LINEAR)``), channel order RGB.
2. Each channel becomes ``(pixel_0_255 - INPUT_MEAN) / INPUT_SCALE``, laid out NCHW float32.

Ground truth is the render's z-depth resized to the same square with nearest-neighbour
interpolation (so no depth is invented across object edges); the sky stays ``+inf``.

Only numpy and OpenCV are used here, no torch.
"""

from __future__ import annotations

from collections.abc import Iterable
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from edge_perception.core.depth_geometry import PinholeIntrinsics
from edge_perception.training.scenes import render_scene, SceneRandomisation

#: Per-channel mean subtracted from RGB pixel values in 0-255 (ImageNet statistics).
INPUT_MEAN = (123.675, 116.28, 103.53)
#: Per-channel divisor applied after subtracting the mean.
INPUT_SCALE = (58.395, 57.12, 57.375)

#: Horizontal field of view range the training cameras are drawn from, degrees. The demo bag's
#: camera (65°) lies in the middle.
HORIZONTAL_FOV_RANGE_DEG = (60.0, 70.0)

#: Share of samples rendered at 640×480 rather than 320×240, so the model also sees the stronger
#: aliasing a bilinear 640→224 resize produces on a full-size camera image.
FULL_SIZE_SHARE = 0.25


#: First validation seed; training seeds stay below it.
VALIDATION_SEED_START = 1_000_000_000
#: First seed of the held-out texture family's evaluation scenes, apart from both other ranges.
HELD_OUT_FAMILY_SEED_START = 1_200_000_000


def resize_image_for_model(rgb: np.ndarray, size: int) -> np.ndarray:
    """Squash an RGB image to ``size``×``size`` with bilinear interpolation (the node's resize).

    :param rgb: H×W×3 uint8 RGB image of any aspect ratio.
    :param size: output side length, pixels.
    :returns: size×size×3 uint8.
    """
    return cv2.resize(rgb, (size, size), interpolation=cv2.INTER_LINEAR)


def resize_depth_for_model(depth: np.ndarray, size: int) -> np.ndarray:
    """Squash a depth image to ``size``×``size`` with nearest-neighbour interpolation.

    :param depth: H×W float32 depth, metres (``inf``/NaN kept as they are).
    :param size: output side length, pixels.
    :returns: size×size float32.
    """
    return cv2.resize(depth, (size, size), interpolation=cv2.INTER_NEAREST)


def normalise_image(rgb: np.ndarray) -> np.ndarray:
    """Turn H×W×3 (or N×H×W×3) uint8 RGB into normalised channels-first float32.

    :param rgb: uint8 RGB, channels last.
    :returns: float32 array, 3×H×W (or N×3×H×W).
    """
    normalised = (rgb.astype(np.float32) - np.asarray(INPUT_MEAN, np.float32)) / np.asarray(
        INPUT_SCALE, np.float32)
    return np.moveaxis(normalised, -1, -3)


@dataclass
class DepthDataset:
    """Pre-rendered samples at one input size.

    :param images: N×S×S×3 uint8 RGB, already squashed to the input size S.
    :param depths: N×S×S float16 metres, ``inf`` for sky.
    :param seeds: N scene seeds the samples were rendered from.
    """

    images: np.ndarray
    depths: np.ndarray
    seeds: np.ndarray

    def __len__(self) -> int:
        """Return the number of samples."""
        return len(self.seeds)


def camera_for_seed(seed: int) -> PinholeIntrinsics:
    """Return the camera a training sample is rendered with; fixed by the seed.

    :param seed: scene seed.
    :returns: 4:3 intrinsics, 320×240 or (for :data:`FULL_SIZE_SHARE` of seeds) 640×480.
    """
    # A generator separate from the scene's, so the camera choice does not change the scene.
    rng = np.random.default_rng([seed, 0xCA3E7A])
    horizontal_fov = rng.uniform(*HORIZONTAL_FOV_RANGE_DEG)
    width, height = (640, 480) if rng.uniform() < FULL_SIZE_SHARE else (320, 240)
    return PinholeIntrinsics.from_horizontal_fov(width, height, horizontal_fov)


def render_sample(
    seed: int, sizes: tuple[int, ...], randomisation: SceneRandomisation | None = None
) -> list[tuple[np.ndarray, np.ndarray]]:
    """Render the scene for ``seed`` and squash it to each input size.

    :param seed: scene seed.
    :param sizes: input side lengths to produce.
    :param randomisation: ranges the scene is drawn from; the defaults when ``None``.
    :returns: one ``(rgb uint8, depth float16)`` pair per size.
    """
    frame = render_scene(seed, camera_for_seed(seed), randomisation)
    return [
        (
            resize_image_for_model(frame.rgb, size),
            resize_depth_for_model(frame.depth, size).astype(np.float16),
        )
        for size in sizes
    ]


def _render_sample_for_pool(
    arguments: tuple[int, tuple[int, ...], SceneRandomisation | None],
) -> list[tuple[np.ndarray, np.ndarray]]:
    """Unpack arguments for :meth:`ProcessPoolExecutor.map`."""
    return render_sample(*arguments)


def build_datasets(
    seeds: Iterable[int],
    sizes: tuple[int, ...],
    workers: int = 1,
    randomisation: SceneRandomisation | None = None,
) -> dict[int, DepthDataset]:
    """Render every seed once and return a dataset per input size.

    Every sample depends on its seed alone, so a pool of processes produces the same bytes as
    one process, in the same order.

    :param seeds: scene seeds, in order.
    :param sizes: input side lengths.
    :param workers: rendering processes; results do not depend on it.
    :param randomisation: ranges the scenes are drawn from; the defaults when ``None``.
    :returns: ``{size: dataset}``.
    """
    seed_list = [int(seed) for seed in seeds]
    jobs = [(seed, tuple(sizes), randomisation) for seed in seed_list]
    if workers > 1 and len(jobs) > 1:
        # Small chunks keep every worker busy to the end; a scene takes 0.1-0.5 s, far more
        # than sending it back.
        chunk_size = max(1, min(8, len(jobs) // (4 * workers)))
        with ProcessPoolExecutor(max_workers=workers) as pool:
            rendered = list(pool.map(_render_sample_for_pool, jobs, chunksize=chunk_size))
    else:
        rendered = [_render_sample_for_pool(job) for job in jobs]
    datasets = {}
    for index, size in enumerate(sizes):
        datasets[size] = DepthDataset(
            images=np.stack([sample[index][0] for sample in rendered]),
            depths=np.stack([sample[index][1] for sample in rendered]),
            seeds=np.asarray(seed_list, dtype=np.int64),
        )
    return datasets


def load_or_build_datasets(
    cache_path: Path | None,
    seeds: Iterable[int],
    sizes: tuple[int, ...],
    workers: int = 1,
    randomisation: SceneRandomisation | None = None,
) -> dict[int, DepthDataset]:
    """Like :func:`build_datasets`, but reuse an ``.npz`` cache made from the same seeds and sizes.

    The cache file name must tell randomisations apart (see :func:`cache_name`); the file itself
    only records seeds and sizes.

    :param cache_path: cache file, or ``None`` to always render.
    :param seeds: scene seeds.
    :param sizes: input side lengths.
    :param workers: rendering processes.
    :param randomisation: ranges the scenes are drawn from; the defaults when ``None``.
    :returns: ``{size: dataset}``.
    """
    seed_array = np.asarray(list(seeds), dtype=np.int64)
    if cache_path is not None and cache_path.exists():
        cached = read_cached_datasets(cache_path, sizes, seed_array)
        if cached is not None:
            return cached
    datasets = build_datasets(seed_array, sizes, workers, randomisation)
    if cache_path is not None:
        cache_path.parent.mkdir(parents=True, exist_ok=True)
        arrays = {'seeds': seed_array}
        for size, dataset in datasets.items():
            arrays[f'images_{size}'] = dataset.images
            arrays[f'depths_{size}'] = dataset.depths
        # Write then rename, so an interrupted run never leaves a truncated cache behind.
        partial = cache_path.with_name(cache_path.name + '.partial.npz')
        np.savez(partial, **arrays)
        partial.replace(cache_path)
    return datasets


def read_cached_datasets(
    cache_path: Path, sizes: tuple[int, ...], seeds: np.ndarray | None = None
) -> dict[int, DepthDataset] | None:
    """Read the samples of ``sizes`` from an ``.npz`` cache :func:`load_or_build_datasets` wrote.

    :param seeds: the seeds the cache must hold (checked before any image is read); None
        takes whatever it holds.
    :returns: ``{size: dataset}``, or None when the cache holds other seeds or lacks a size.
    """
    with np.load(cache_path) as cached:
        if seeds is not None and not np.array_equal(cached['seeds'], seeds):
            return None
        if not all(f'images_{size}' in cached for size in sizes):
            return None
        return {
            size: DepthDataset(
                images=cached[f'images_{size}'],
                depths=cached[f'depths_{size}'],
                seeds=cached['seeds'],
            )
            for size in sizes
        }


def concatenate_datasets(parts: list[DepthDataset]) -> DepthDataset:
    """Return one dataset holding the samples of ``parts`` in order (one part: itself)."""
    if len(parts) == 1:
        return parts[0]
    return DepthDataset(
        images=np.concatenate([part.images for part in parts]),
        depths=np.concatenate([part.depths for part in parts]),
        seeds=np.concatenate([part.seeds for part in parts]),
    )


def cache_name(prefix: str, scene_style: str, texture_family: str) -> str:
    """File name stem of a cached dataset; the classic family-A scenes keep their old names.

    :param prefix: what the file holds, e.g. ``train_3500_160_224``.
    :param scene_style: key of :data:`~edge_perception.training.scenes.SCENE_STYLES`.
    :param texture_family: ``A`` or ``B``.
    :returns: e.g. ``train_3500_160_224`` or ``train_3500_160_224_indoor-robot_B``.
    """
    if scene_style == 'classic' and texture_family == 'A':
        return prefix
    return f'{prefix}_{scene_style}_{texture_family}'


def seed_ranges(train_count: int, validation_count: int) -> tuple[range, range]:
    """Disjoint scene seeds for training and validation.

    Validation seeds start at one billion, far above any training seed, so the two sets never
    overlap however many training scenes are asked for.

    :param train_count: number of training scenes.
    :param validation_count: number of validation scenes.
    :returns: ``(train_seeds, validation_seeds)``.
    :raises ValueError: when the training seeds would reach the validation seeds.
    """
    validation_start = VALIDATION_SEED_START
    if train_count > validation_start:
        raise ValueError(f'at most {validation_start} training scenes')
    return range(train_count), range(validation_start, validation_start + validation_count)
