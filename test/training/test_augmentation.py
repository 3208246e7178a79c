"""Photometric camera augmentation: shapes, ranges, determinism and each effect doing its job."""

import dataclasses

import numpy as np
import pytest

from edge_perception.training.augmentation import (
    augment_batch,
    augment_image,
    PhotometricAugmentation,
)
from edge_perception.training.synthetic_dataset import render_sample

NOTHING = PhotometricAugmentation(
    blur_probability=0.0,
    motion_blur_probability=0.0,
    exposure_probability=0.0,
    white_balance_probability=0.0,
    vignetting_probability=0.0,
    noise_probability=0.0,
    gamma_probability=0.0,
    jpeg_probability=0.0,
)
EVERYTHING = dataclasses.replace(
    NOTHING,
    blur_probability=1.0,
    motion_blur_probability=1.0,
    exposure_probability=1.0,
    white_balance_probability=1.0,
    vignetting_probability=1.0,
    noise_probability=1.0,
    gamma_probability=1.0,
    jpeg_probability=1.0,
)


@pytest.fixture(scope='module')
def images():
    return np.stack([render_sample(seed, (64,))[0][0] for seed in range(3)])


@pytest.mark.parametrize('settings', [NOTHING, PhotometricAugmentation(), EVERYTHING])
def test_batch_keeps_shape_dtype_and_range(images, settings):
    augmented = augment_batch(images, np.random.default_rng(0), settings)
    assert augmented.shape == images.shape and augmented.dtype == np.uint8
    assert augmented.flags['C_CONTIGUOUS']
    # The input is not changed in place.
    rendered = np.stack([render_sample(seed, (64,))[0][0] for seed in range(3)])
    np.testing.assert_array_equal(images, rendered)


def test_same_seed_gives_the_same_batch_and_other_seeds_differ(images):
    first = augment_batch(images, np.random.default_rng(5), PhotometricAugmentation())
    again = augment_batch(images, np.random.default_rng(5), PhotometricAugmentation())
    other = augment_batch(images, np.random.default_rng(6), PhotometricAugmentation())
    np.testing.assert_array_equal(first, again)
    assert not np.array_equal(first, other)


def test_no_effect_round_trips_through_linear_light_within_one_grey_level(images):
    augmented = augment_batch(images, np.random.default_rng(0), NOTHING)
    assert np.abs(augmented.astype(int) - images).max() <= 1


def _only(**probabilities):
    return dataclasses.replace(NOTHING, **probabilities)


def test_each_effect_changes_the_image_the_way_a_camera_would():
    grey = np.full((48, 64, 3), 128, np.uint8)
    rng = np.random.default_rng(1)

    vignetted = augment_image(grey, rng, _only(vignetting_probability=1.0)).astype(float)
    assert vignetted[0, 0].mean() < vignetted[24, 32].mean() - 5

    noisy = augment_image(grey, rng, _only(noise_probability=1.0)).astype(float)
    assert noisy.std() > 1.0 and abs(noisy.mean() - 128) < 3

    brighter = augment_image(grey, rng, dataclasses.replace(
        _only(exposure_probability=1.0), exposure_stops=(1.0, 1.0)))
    assert brighter.mean() > 160

    balanced = augment_image(grey, rng, _only(white_balance_probability=1.0)).astype(float)
    assert np.ptp(balanced.mean(axis=(0, 1))) > 1.0

    edge = np.zeros((48, 64, 3), np.uint8)
    edge[:, 32:] = 255
    for effect in ('blur_probability', 'motion_blur_probability'):
        settings = _only(**{effect: 1.0})
        if effect == 'motion_blur_probability':
            settings = dataclasses.replace(settings, motion_blur_length=(7.0, 9.0))
        blurred = augment_image(edge, np.random.default_rng(2), settings)
        assert np.any((blurred > 10) & (blurred < 245)), effect

    checker = ((np.indices((48, 64)).sum(axis=0) % 2) * 255).astype(np.uint8)
    checker = np.repeat(checker[:, :, None], 3, axis=2)
    compressed = augment_image(checker, rng, dataclasses.replace(
        _only(jpeg_probability=1.0), jpeg_quality=(30, 30)))
    assert np.abs(compressed.astype(int) - checker).mean() > 5
