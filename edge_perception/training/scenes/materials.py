"""What a surface looks like: procedural textures (synthetic patterns and natural ones) and
the colour of a material at a texture coordinate.
"""

from __future__ import annotations

import math

import numpy as np

from edge_perception.training.scenes.scene import Material

# Side of the square lattice behind the value noise; textures repeat after this many cells, far
# more than is visible in one scene.
_NOISE_LATTICE_SIZE = 64




def value_noise(u: np.ndarray, v: np.ndarray, seed: int, octaves: int = 3) -> np.ndarray:
    """Smooth fractal value noise in [0, 1] at texture coordinates ``(u, v)`` (in cells)."""
    lattice = np.random.default_rng(seed).uniform(0.0, 1.0, (_NOISE_LATTICE_SIZE,) * 2)
    total = np.zeros_like(u)
    amplitude_sum = 0.0
    amplitude = 1.0
    frequency = 1.0
    for _ in range(octaves):
        su, sv = u * frequency, v * frequency
        iu, iv = np.floor(su), np.floor(sv)
        fu, fv = su - iu, sv - iv
        fu, fv = fu * fu * (3.0 - 2.0 * fu), fv * fv * (3.0 - 2.0 * fv)
        i0 = iu.astype(np.int64) % _NOISE_LATTICE_SIZE
        j0 = iv.astype(np.int64) % _NOISE_LATTICE_SIZE
        i1 = (i0 + 1) % _NOISE_LATTICE_SIZE
        j1 = (j0 + 1) % _NOISE_LATTICE_SIZE
        top = lattice[i0, j0] * (1.0 - fu) + lattice[i1, j0] * fu
        bottom = lattice[i0, j1] * (1.0 - fu) + lattice[i1, j1] * fu
        total += amplitude * (top * (1.0 - fv) + bottom * fv)
        amplitude_sum += amplitude
        amplitude *= 0.5
        frequency *= 2.03
    return total / amplitude_sum


def _pink_noise(cu: np.ndarray, v_cells: np.ndarray, seed: int) -> np.ndarray:
    """Value noise over seven octaves with amplitude halving as frequency doubles.

    Amplitude proportional to 1/frequency is the spectrum of natural images and of most real
    surfaces (plaster, concrete, carpet, dirt): detail at every scale from the cell size down to
    a hundredth of it.
    """
    return value_noise(cu, v_cells, seed, octaves=7)


def _pink_noise_texture(cu: np.ndarray, cv: np.ndarray, material: Material) -> np.ndarray:
    """1/f noise with its contrast stretched, so the two colours are both reached."""
    return np.clip((_pink_noise(cu, cv, material.noise_seed) - 0.5) * 2.5 + 0.5, 0.0, 1.0)


def _along_and_across(cu: np.ndarray, cv: np.ndarray, angle: float) -> tuple[np.ndarray, ...]:
    """Texture coordinates rotated so the first runs along ``angle``."""
    cos_angle, sin_angle = math.cos(angle), math.sin(angle)
    return cu * cos_angle + cv * sin_angle, -cu * sin_angle + cv * cos_angle


def _wood_texture(cu: np.ndarray, cv: np.ndarray, material: Material) -> np.ndarray:
    """Growth rings cut lengthwise: bands across the grain, warped by noise, with fine fibres."""
    along, across = _along_and_across(cu, cv, material.stripe_angle)
    warp = value_noise(along * 0.15, across * 0.6, material.noise_seed, octaves=3)
    rings = (across * 3.0 + 2.5 * warp) % 1.0
    # Late wood (the dark part of a ring) is narrow and sharp-edged, early wood broad.
    late_wood = np.clip((rings - 0.7) / 0.3, 0.0, 1.0) ** 2
    fibres = value_noise(along * 0.8, across * 25.0, material.noise_seed + 2, octaves=2)
    return np.clip(0.75 * late_wood + 0.35 * (fibres - 0.5) + 0.1, 0.0, 1.0)


def _fabric_texture(cu: np.ndarray, cv: np.ndarray, material: Material) -> np.ndarray:
    """Plain weave: threads over and under each other, with uneven (slubbed) yarn."""
    threads = 12.0
    su, sv = cu * threads, cv * threads
    warp_on_top = (np.floor(su) + np.floor(sv)) % 2.0 == 0.0
    # Each thread is brightest along its middle, where it faces the light.
    warp_profile = np.sin(np.pi * (su % 1.0))
    weft_profile = np.sin(np.pi * (sv % 1.0))
    weave = np.where(warp_on_top, warp_profile, weft_profile)
    slubs = _pink_noise(cu * 0.5, cv * 0.5, material.noise_seed)
    return np.clip(0.6 * (1.0 - weave) + 0.6 * (slubs - 0.5) + 0.2, 0.0, 1.0)


def _marble_texture(cu: np.ndarray, cv: np.ndarray, material: Material) -> np.ndarray:
    """Veins: thin sharp lines along a direction, strongly warped by 1/f turbulence."""
    along, _ = _along_and_across(cu, cv, material.stripe_angle)
    turbulence = _pink_noise(cu * 0.7, cv * 0.7, material.noise_seed)
    veins = np.abs(np.sin(np.pi * (along * 1.5 + 5.0 * turbulence)))
    return np.clip(1.0 - veins**0.25 + 0.3 * (turbulence - 0.5), 0.0, 1.0)


def _granite_texture(cu: np.ndarray, cv: np.ndarray, material: Material) -> np.ndarray:
    """Grains: fine speckles of the second colour over a mottled 1/f ground."""
    grains = value_noise(cu * 40.0, cv * 40.0, material.noise_seed + 3, octaves=1)
    ground = _pink_noise(cu, cv, material.noise_seed)
    return np.clip((grains > 0.72) + 0.5 * (ground - 0.5) + 0.15, 0.0, 1.0)


# Natural patterns by name: texture coordinates in cells (and the material) to a 0-1 weight of the
# second colour.
_NATURAL_TEXTURES = {
    'pink_noise': _pink_noise_texture,
    'wood': _wood_texture,
    'fabric': _fabric_texture,
    'marble': _marble_texture,
    'granite': _granite_texture,
}


def albedo_at(material: Material, u: np.ndarray, v: np.ndarray) -> np.ndarray:
    """Surface colour (N×3) of ``material`` at texture coordinates ``(u, v)`` in metres."""
    a = np.asarray(material.colour_a)
    b = np.asarray(material.colour_b)
    cu, cv = u / material.cell_size, v / material.cell_size
    if material.pattern == 'checker':
        weight = ((np.floor(cu) + np.floor(cv)) % 2.0).astype(np.float64)
    elif material.pattern == 'stripes':
        along = cu * math.cos(material.stripe_angle) + cv * math.sin(material.stripe_angle)
        weight = ((along % 1.0) < 0.5).astype(np.float64)
    elif material.pattern == 'bricks':
        row = np.floor(cv * 2.0)
        shifted = cu + 0.5 * (row % 2.0)
        mortar = ((shifted % 1.0) < 0.06) | (((cv * 2.0) % 1.0) < 0.1)
        weight = mortar.astype(np.float64)
    elif material.pattern == 'noise':
        weight = value_noise(cu, cv, material.noise_seed)
    elif material.pattern in _NATURAL_TEXTURES:
        weight = _NATURAL_TEXTURES[material.pattern](cu, cv, material)
    else:
        weight = np.zeros_like(u)
    colour = a[None, :] * (1.0 - weight[:, None]) + b[None, :] * weight[:, None]
    # Large, soft blotches (dirt, uneven paint) on every surface.
    variation = value_noise(u / 1.7, v / 1.7, material.noise_seed + 1, octaves=2)
    colour *= 1.0 + material.variation * (variation[:, None] - 0.5) * 2.0
    return np.clip(colour, 0.0, 1.0)
