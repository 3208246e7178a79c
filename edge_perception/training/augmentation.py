"""Photometric augmentation: make rendered images look as if a real camera had taken them.

The renderer's images are clean: sharp, noise-free apart from a faint Gaussian, perfectly exposed
and never compressed. A real robot camera blurs (focus, motion), adds shot and read noise, gets
exposure, gamma and white balance wrong, darkens the corners and often hands over JPEG frames.
Each effect is applied with its own probability, on the fly, in an order that follows the camera:
optics (vignetting, blur) on linear light, then the sensor (exposure, white balance, noise), then
the image pipeline (gamma, 8-bit quantisation, JPEG).

Geometry is untouched, so the depth of a sample stays valid. numpy and OpenCV only, no torch;
every random draw comes from the generator passed in, so a seed fixes the result.
"""

from __future__ import annotations

from dataclasses import dataclass
import math

import cv2
import numpy as np

# Display gamma used to go from 8-bit pixel values to linear light and back (sRGB-like).
_DISPLAY_GAMMA = 2.2


@dataclass(frozen=True)
class PhotometricAugmentation:
    """Probability of each effect, per image, and the ranges they are drawn from.

    :param blur_probability: Gaussian (defocus) blur.
    :param blur_sigma: range of its standard deviation, pixels.
    :param motion_blur_probability: linear motion blur in a random direction.
    :param motion_blur_length: range of the streak length, pixels.
    :param exposure_probability: exposure error, a gain on linear light.
    :param exposure_stops: range of the error, photographic stops (±1 = half or double).
    :param white_balance_probability: wrong white balance, a gain per channel on linear light.
    :param white_balance_spread: largest relative deviation of a channel gain.
    :param vignetting_probability: darker corners.
    :param vignetting_strength: range of the relative fall-off at the image corners.
    :param noise_probability: sensor noise, shot (Poisson-like) plus read (Gaussian) noise.
    :param full_well: range of the photo-electrons a full-white pixel collects (fewer = noisier).
    :param read_noise_electrons: range of the read noise's standard deviation, electrons.
    :param gamma_probability: tone curve other than the display gamma.
    :param gamma_range: range of the exponent applied on top of the display gamma.
    :param jpeg_probability: JPEG re-compression.
    :param jpeg_quality: inclusive range of the JPEG quality.
    """

    blur_probability: float = 0.25
    blur_sigma: tuple[float, float] = (0.4, 1.5)
    motion_blur_probability: float = 0.15
    motion_blur_length: tuple[float, float] = (3.0, 9.0)
    exposure_probability: float = 0.5
    exposure_stops: tuple[float, float] = (-1.0, 0.7)
    white_balance_probability: float = 0.4
    white_balance_spread: float = 0.15
    vignetting_probability: float = 0.3
    vignetting_strength: tuple[float, float] = (0.1, 0.5)
    noise_probability: float = 0.5
    full_well: tuple[float, float] = (300.0, 5000.0)
    read_noise_electrons: tuple[float, float] = (2.0, 20.0)
    gamma_probability: float = 0.3
    gamma_range: tuple[float, float] = (0.8, 1.25)
    jpeg_probability: float = 0.4
    jpeg_quality: tuple[int, int] = (35, 95)


def _motion_blur_kernel(length: float, angle: float) -> np.ndarray:
    """Normalised line kernel of ``length`` pixels at ``angle`` radians."""
    size = int(math.ceil(length)) | 1
    kernel = np.zeros((size, size), np.float32)
    centre = (size - 1) / 2.0
    half = (length - 1.0) / 2.0
    start = (centre - half * math.cos(angle), centre - half * math.sin(angle))
    end = (centre + half * math.cos(angle), centre + half * math.sin(angle))
    # Draw at 8x resolution with sub-pixel precision, so short streaks keep their direction.
    shift = 3
    cv2.line(kernel, tuple(int(round(c * (1 << shift))) for c in start),
             tuple(int(round(c * (1 << shift))) for c in end), 1.0, 1, cv2.LINE_AA, shift)
    return kernel / kernel.sum()


def _vignetting(height: int, width: int, strength: float) -> np.ndarray:
    """Cos⁴-like radial fall-off: 1 in the centre, ``1 - strength`` in the corners."""
    rows = (np.arange(height, dtype=np.float32) - (height - 1) / 2.0) / ((height - 1) / 2.0 or 1)
    columns = (np.arange(width, dtype=np.float32) - (width - 1) / 2.0) / ((width - 1) / 2.0 or 1)
    radius_squared = (rows[:, None] ** 2 + columns[None, :] ** 2) / 2.0
    return 1.0 - strength * radius_squared


def augment_image(
    rgb: np.ndarray, rng: np.random.Generator, settings: PhotometricAugmentation
) -> np.ndarray:
    """Apply the camera effects to one image.

    :param rgb: H×W×3 uint8 RGB.
    :param rng: source of every random choice.
    :param settings: probabilities and ranges.
    :returns: H×W×3 uint8 RGB, same shape.
    """
    height, width = rgb.shape[:2]
    linear = (rgb.astype(np.float32) / 255.0) ** _DISPLAY_GAMMA
    if rng.uniform() < settings.vignetting_probability:
        strength = rng.uniform(*settings.vignetting_strength)
        linear *= _vignetting(height, width, strength)[:, :, None]
    if rng.uniform() < settings.blur_probability:
        sigma = rng.uniform(*settings.blur_sigma)
        linear = cv2.GaussianBlur(linear, (0, 0), sigma, borderType=cv2.BORDER_REFLECT)
    if rng.uniform() < settings.motion_blur_probability:
        kernel = _motion_blur_kernel(
            rng.uniform(*settings.motion_blur_length), rng.uniform(0.0, math.pi)
        )
        linear = cv2.filter2D(linear, -1, kernel, borderType=cv2.BORDER_REFLECT)
    if rng.uniform() < settings.exposure_probability:
        linear *= 2.0 ** rng.uniform(*settings.exposure_stops)
    if rng.uniform() < settings.white_balance_probability:
        spread = settings.white_balance_spread
        linear *= rng.uniform(1.0 - spread, 1.0 + spread, 3).astype(np.float32)
    linear = np.clip(linear, 0.0, 1.0)
    if rng.uniform() < settings.noise_probability:
        # Shot noise: photo-electron counts are Poisson; their variance grows with the signal.
        full_well = rng.uniform(*settings.full_well)
        electrons = rng.poisson(linear * full_well).astype(np.float32)
        # Read noise is signal-independent and added in electrons, before the tone curve, so it
        # shows mostly in the shadows as on a real sensor.
        read_noise = rng.uniform(*settings.read_noise_electrons)
        electrons += rng.normal(0.0, read_noise, linear.shape).astype(np.float32)
        linear = np.clip(electrons / full_well, 0.0, 1.0)
    exponent = 1.0 / _DISPLAY_GAMMA
    if rng.uniform() < settings.gamma_probability:
        exponent *= rng.uniform(*settings.gamma_range)
    image = np.clip(np.rint(255.0 * linear**exponent), 0, 255).astype(np.uint8)
    if rng.uniform() < settings.jpeg_probability:
        quality = int(rng.integers(settings.jpeg_quality[0], settings.jpeg_quality[1] + 1))
        # OpenCV encodes BGR; the channel swap is undone on decoding.
        ok, encoded = cv2.imencode('.jpg', image[:, :, ::-1], [cv2.IMWRITE_JPEG_QUALITY, quality])
        if not ok:
            raise RuntimeError('OpenCV could not JPEG-encode an augmented image')
        image = cv2.imdecode(encoded, cv2.IMREAD_COLOR)[:, :, ::-1]
    return np.ascontiguousarray(image)


def augment_batch(
    images: np.ndarray, rng: np.random.Generator, settings: PhotometricAugmentation
) -> np.ndarray:
    """Apply :func:`augment_image` to every image of an N×H×W×3 uint8 batch, in order.

    :param images: N×H×W×3 uint8 RGB.
    :param rng: source of every random choice; the same state gives the same batch.
    :param settings: probabilities and ranges.
    :returns: a new N×H×W×3 uint8 array.
    """
    return np.stack([augment_image(image, rng, settings) for image in images])
