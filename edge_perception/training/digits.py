"""Handwritten digits as a webcam sees a sheet of paper, and the classifier's input contract.

The digits are scikit-learn's bundled ``load_digits`` set (1797 images of 8×8 cells, values
0..16, bright ink on dark), split once into training and test digits with a fixed seed.
:func:`render_camera_frame` draws one digit large on a sheet of paper lying on a desk, under
uneven light, through a slightly blurry and noisy camera, and returns an RGB uint8 frame.

The classifier's input contract (the node reproduces it inside the OpenVINO graph):

1. The RGB camera frame becomes gray as ``0.299 R + 0.587 G + 0.114 B`` (float, no rounding).
2. The whole frame is resized to 32×32 with bilinear interpolation, *without* keeping the
   aspect ratio (``cv2.resize(..., interpolation=cv2.INTER_LINEAR)``).
3. ``(gray - 127.5) / 127.5``, laid out 1×1×32×32 float32.

Only numpy and OpenCV are used here; scikit-learn is imported when the digits are loaded.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace

import cv2
import numpy as np

from edge_perception.core.preprocessing import GRAY_WEIGHTS_RGB

#: Number of classes; class ``i`` is the digit ``i``.
CLASS_COUNT = 10
#: Class names, in class order.
LABELS = tuple(str(digit) for digit in range(CLASS_COUNT))

#: Side of the square model input, pixels.
INPUT_SIZE = 32
#: ``(gray - INPUT_MEAN) / INPUT_SCALE`` maps 0..255 to -1..1.
INPUT_MEAN = 127.5
INPUT_SCALE = 127.5

#: Seed of the train/test split, and the share of each class held out for testing.
SPLIT_SEED = 0
TEST_SHARE = 0.2

#: Largest value of a cell in ``load_digits`` (a count of inked pixels in a 4×4 block).
_DIGIT_MAX_VALUE = 16.0
# The 8×8 cells are padded by this many empty cells and upscaled by this factor (bicubic) before
# being warped into the frame, so rotated strokes stay smooth and are not clipped.
_DIGIT_PADDING_CELLS = 2
_DIGIT_UPSCALE = 6

# Colours (linear-ish RGB, 0..1) the paper, ink and desk are drawn from before jitter.
_PAPER_COLOURS = np.array(
    [
        [0.96, 0.96, 0.95],  # white copier paper
        [0.95, 0.93, 0.85],  # cream notebook paper
        [0.85, 0.86, 0.87],  # grey recycled paper
        [0.90, 0.93, 0.97],  # bluish white
        [0.98, 0.94, 0.62],  # yellow sticky note
        [0.80, 0.93, 0.82],  # pale green
    ],
    dtype=np.float32,
)
_PAPER_COLOUR_WEIGHTS = np.array([0.4, 0.2, 0.15, 0.1, 0.1, 0.05])
_INK_COLOURS = np.array(
    [
        [0.05, 0.05, 0.06],  # black marker
        [0.08, 0.10, 0.35],  # blue pen
        [0.20, 0.20, 0.22],  # dark grey felt tip
        [0.40, 0.40, 0.42],  # pencil
        [0.35, 0.06, 0.06],  # dark red pen
    ],
    dtype=np.float32,
)
_INK_COLOUR_WEIGHTS = np.array([0.45, 0.25, 0.12, 0.1, 0.08])
_DESK_COLOURS = np.array(
    [
        [0.45, 0.32, 0.20],  # oak
        [0.26, 0.17, 0.10],  # walnut
        [0.35, 0.35, 0.37],  # grey laminate
        [0.10, 0.10, 0.11],  # black desk mat
        [0.72, 0.72, 0.70],  # white table
        [0.20, 0.26, 0.36],  # blue cutting mat
    ],
    dtype=np.float32,
)


@dataclass(frozen=True)
class DigitSplit:
    """The ``load_digits`` images divided into disjoint training and test sets.

    :param train_images: N×8×8 float32, values 0..16, bright ink on dark.
    :param train_labels: N int64 classes 0..9.
    :param train_indices: positions of the training images in ``load_digits`` order.
    :param test_images: M×8×8 float32.
    :param test_labels: M int64 classes.
    :param test_indices: positions of the test images in ``load_digits`` order.
    """

    train_images: np.ndarray
    train_labels: np.ndarray
    train_indices: np.ndarray
    test_images: np.ndarray
    test_labels: np.ndarray
    test_indices: np.ndarray


def stratified_split(
    labels: np.ndarray, test_share: float, seed: int
) -> tuple[np.ndarray, np.ndarray]:
    """Split positions so each class gives ``round(test_share × its count)`` to the test set.

    :param labels: class of each sample.
    :param test_share: share of every class held out, 0-1.
    :param seed: seed of the shuffle; the same seed gives the same split.
    :returns: sorted training positions and sorted test positions.
    """
    rng = np.random.default_rng(seed)
    test_parts = []
    for label in np.unique(labels):
        members = rng.permutation(np.flatnonzero(labels == label))
        test_parts.append(members[: round(test_share * len(members))])
    test = np.sort(np.concatenate(test_parts))
    train = np.setdiff1d(np.arange(len(labels)), test)
    return train, test


def load_digit_split(test_share: float = TEST_SHARE, seed: int = SPLIT_SEED) -> DigitSplit:
    """Load scikit-learn's bundled digits (no download) and split them, stratified by class.

    :param test_share: share of every class held out for testing.
    :param seed: split seed; the defaults give the split the shipped model was trained on.
    :returns: the split.
    """
    from sklearn.datasets import load_digits

    digits = load_digits()
    images = digits.images.astype(np.float32)
    labels = digits.target.astype(np.int64)
    train, test = stratified_split(labels, test_share, seed)
    return DigitSplit(
        train_images=images[train],
        train_labels=labels[train],
        train_indices=train,
        test_images=images[test],
        test_labels=labels[test],
        test_indices=test,
    )


@dataclass(frozen=True)
class FrameStyle:
    """Ranges the look of a rendered frame is drawn from (uniformly unless stated).

    Lengths are relative to the frame height, so a style looks the same at any resolution.

    :param digit_size: side of the 8×8 cell grid, share of the frame height.
    :param max_rotation_deg: largest in-plane rotation of the sheet, degrees.
    :param max_offset: largest shift of the digit centre from the frame centre, share of the
        frame height.
    :param desk_probability: chance that the sheet's edge is in view and the desk shows.
    :param blur_sigma: Gaussian blur (focus, motion) sigma, share of the frame height.
    :param noise_sigma: sensor noise standard deviation in 0..255 units (luminance; chroma noise
        adds a third of it per channel).
    :param exposure: overall brightness factor.
    :param shape_distortion: largest displacement of a smooth random warp of the handwriting,
        in 8×8 cells; 0 draws the digit as it is (a training augmentation, not a camera effect).
    """

    digit_size: tuple[float, float] = (0.65, 0.88)
    max_rotation_deg: float = 12.0
    max_offset: float = 0.06
    desk_probability: float = 0.4
    blur_sigma: tuple[float, float] = (0.0, 0.006)
    noise_sigma: tuple[float, float] = (0.0, 8.0)
    exposure: tuple[float, float] = (0.6, 1.15)
    shape_distortion: float = 0.0


#: The camera conditions the classifier is tested on (the digits drawn as they are).
CAMERA_STYLE = FrameStyle()
#: The camera conditions plus handwriting variation: what the classifier is trained on.
TRAINING_STYLE = replace(CAMERA_STYLE, shape_distortion=0.4)


def _upscaled_digit(digit: np.ndarray) -> np.ndarray:
    """Pad and bicubically upscale the ink coverage (0..1) of an 8×8 ``load_digits`` image."""
    coverage = np.clip(np.asarray(digit, dtype=np.float32) / _DIGIT_MAX_VALUE, 0.0, 1.0)
    padded = np.pad(coverage, _DIGIT_PADDING_CELLS)
    side = padded.shape[0] * _DIGIT_UPSCALE
    return np.clip(cv2.resize(padded, (side, side), interpolation=cv2.INTER_CUBIC), 0.0, 1.0)


def _distorted(coverage: np.ndarray, rng: np.random.Generator, amplitude_cells: float):
    """Warp the upscaled digit by a smooth random displacement field (another hand's strokes)."""
    side = coverage.shape[0]
    amplitude = amplitude_cells * _DIGIT_UPSCALE
    grid = np.arange(side, dtype=np.float32)
    map_x = grid[None, :] + amplitude * _smooth_field(rng, side, side, (3, 3))
    map_y = grid[:, None] + amplitude * _smooth_field(rng, side, side, (3, 3))
    return cv2.remap(coverage, map_x, map_y, cv2.INTER_LINEAR, borderValue=0.0)


def _pick(rng: np.random.Generator, colours: np.ndarray, weights: np.ndarray | None = None):
    """One colour of a palette, chosen with the given weights."""
    probabilities = None if weights is None else weights / weights.sum()
    return colours[rng.choice(len(colours), p=probabilities)]


def _smooth_field(rng: np.random.Generator, width: int, height: int, cells: tuple[int, int]):
    """Low-frequency noise in about -1..1: random cells upscaled bicubically to the frame."""
    coarse = rng.uniform(-1.0, 1.0, size=(cells[1], cells[0])).astype(np.float32)
    return cv2.resize(coarse, (width, height), interpolation=cv2.INTER_CUBIC)


def _sheet_mask(rng, width, height, centre, angle_rad, digit_side, desk_visible):
    """Coverage (0..1) of the paper sheet; all ones when the sheet fills the frame."""
    if not desk_visible:
        return np.ones((height, width), dtype=np.float32)
    half_width = rng.uniform(0.62, 1.1) * digit_side
    half_height = rng.uniform(0.58, 0.9) * digit_side
    sheet_centre = np.asarray(centre) + rng.uniform(-0.12, 0.12, size=2) * digit_side
    angle = angle_rad + np.deg2rad(rng.uniform(-4.0, 4.0))
    cos, sin = np.cos(angle), np.sin(angle)
    corners = np.array([[-1, -1], [1, -1], [1, 1], [-1, 1]], dtype=np.float64)
    corners *= [half_width, half_height]
    corners = corners @ np.array([[cos, sin], [-sin, cos]]) + sheet_centre
    # Four fractional bits give the anti-aliased edge sub-pixel accuracy.
    points = np.round(corners * 16).astype(np.int32)
    mask = np.zeros((height, width), dtype=np.uint8)
    cv2.fillConvexPoly(mask, points, 255, lineType=cv2.LINE_AA, shift=4)
    return mask.astype(np.float32) / 255.0


def _desk(rng, width, height):
    """Paint a desk surface: one colour with wood-like streaks or a mottled texture."""
    colour = _pick(rng, _DESK_COLOURS) * rng.uniform(0.85, 1.15, size=3).astype(np.float32)
    if rng.uniform() < 0.5:
        # Grain along one axis: few cells along it, many across it.
        along, across = int(rng.integers(2, 5)), 40
        cells = (along, across) if rng.uniform() < 0.5 else (across, along)
        texture = 1.0 + 0.12 * _smooth_field(rng, width, height, cells)
    else:
        texture = 1.0 + 0.06 * _smooth_field(rng, width, height, (12, 9))
    return texture[..., None] * colour


def _illumination(rng, width, height):
    """Light falling on the scene: exposure × gradient × vignette × an optional soft shadow."""
    x = (np.arange(width, dtype=np.float32) + 0.5) / height - 0.5 * width / height
    y = (np.arange(height, dtype=np.float32)[:, None] + 0.5) / height - 0.5
    gradient = 1.0 + rng.uniform(-0.45, 0.45) * x + rng.uniform(-0.45, 0.45) * y
    vignette = 1.0 - rng.uniform(0.0, 0.5) * (x * x + y * y)
    light = gradient * vignette
    if rng.uniform() < 0.3:
        # The shadow of a hand or the camera: a half-plane with a soft edge.
        angle = rng.uniform(0.0, 2.0 * np.pi)
        distance = np.cos(angle) * x + np.sin(angle) * y - rng.uniform(-0.2, 0.5)
        softness = rng.uniform(0.02, 0.15)
        shade = 1.0 / (1.0 + np.exp(-distance / softness))
        light = light * (1.0 - rng.uniform(0.15, 0.45) * shade)
    return np.clip(light, 0.05, None).astype(np.float32)


def render_camera_frame(
    digit: np.ndarray,
    width: int,
    height: int,
    seed: int | Sequence[int],
    style: FrameStyle = CAMERA_STYLE,
) -> np.ndarray:
    """Draw one digit large on paper, as a webcam pointed at the sheet would see it.

    Dark ink of varying colour and stroke width on tinted paper, rotated, scaled and shifted a
    little; sometimes the desk shows at the borders; light falls unevenly (gradient, vignette,
    shadow, white balance); the camera blurs and adds noise.

    :param digit: 8×8 ``load_digits`` image, values 0..16, bright where the ink is.
    :param width: frame width, pixels.
    :param height: frame height, pixels.
    :param seed: seed (or sequence of seeds) of every random choice; the same seed, digit, size
        and style give the same frame.
    :param style: ranges of the random choices.
    :returns: height×width×3 uint8 RGB frame.
    """
    rng = np.random.default_rng(seed)
    digit_side = rng.uniform(*style.digit_size) * height
    angle = np.deg2rad(rng.uniform(-style.max_rotation_deg, style.max_rotation_deg))
    centre = np.array([width / 2.0, height / 2.0]) + rng.uniform(
        -style.max_offset, style.max_offset, size=2
    ) * height
    # A slightly non-square cell grid stands in for handwriting proportions and camera tilt.
    aspect = rng.uniform(0.88, 1.12)
    shear = rng.uniform(-0.12, 0.12)

    coverage = _upscaled_digit(digit)
    if style.shape_distortion > 0.0:
        coverage = _distorted(coverage, rng, style.shape_distortion)
    canvas_side = coverage.shape[0]
    pixels_per_canvas_pixel = digit_side / (8 * _DIGIT_UPSCALE)
    cos, sin = np.cos(angle), np.sin(angle)
    linear = np.array([[cos, -sin], [sin, cos]]) @ np.array(
        [[pixels_per_canvas_pixel * aspect, shear * pixels_per_canvas_pixel],
         [0.0, pixels_per_canvas_pixel / aspect]]
    )
    canvas_centre = np.array([canvas_side / 2.0 - 0.5, canvas_side / 2.0 - 0.5])
    translation = centre - 0.5 - linear @ canvas_centre
    warp = np.hstack([linear, translation[:, None]]).astype(np.float64)
    coverage = cv2.warpAffine(
        coverage, warp, (width, height), flags=cv2.INTER_LINEAR, borderValue=0.0
    )
    # Where the soft coverage turns into ink decides the stroke width: a low threshold gives a
    # thick marker, a high one a thin pen.
    low = rng.uniform(0.15, 0.45)
    high = low + rng.uniform(0.1, 0.3)
    ink = np.clip((coverage - low) / (high - low), 0.0, 1.0)
    ink = ink * ink * (3.0 - 2.0 * ink)

    desk_visible = rng.uniform() < style.desk_probability
    sheet = _sheet_mask(rng, width, height, centre, angle, digit_side, desk_visible)
    paper_colour = _pick(rng, _PAPER_COLOURS, _PAPER_COLOUR_WEIGHTS)
    paper_colour = paper_colour * rng.uniform(0.98, 1.02, size=3).astype(np.float32)
    paper = (1.0 + 0.03 * _smooth_field(rng, width, height, (6, 5)))[..., None] * paper_colour
    scene = paper * sheet[..., None]
    if desk_visible:
        scene += _desk(rng, width, height) * (1.0 - sheet[..., None])
    ink_colour = _pick(rng, _INK_COLOURS, _INK_COLOUR_WEIGHTS)
    ink_strength = rng.uniform(0.75, 1.0) * ink * sheet
    scene = scene + ink_strength[..., None] * (ink_colour - scene)

    # White balance errors run mostly along the warm-cool axis, with a little green-magenta.
    temperature = rng.uniform(-0.08, 0.08)
    white_balance = np.array(
        [1.0 + temperature, rng.uniform(0.98, 1.02), 1.0 - temperature], dtype=np.float32
    )
    exposure = rng.uniform(*style.exposure)
    scene = scene * (_illumination(rng, width, height)[..., None] * (exposure * white_balance))

    blur_sigma = rng.uniform(*style.blur_sigma) * height
    if blur_sigma > 0.3:
        scene = cv2.GaussianBlur(scene, (0, 0), blur_sigma)
    noise_sigma = rng.uniform(*style.noise_sigma) / 255.0
    if noise_sigma > 0.0:
        luminance_noise = rng.standard_normal((height, width, 1), dtype=np.float32)
        chroma_noise = rng.standard_normal((height, width, 3), dtype=np.float32)
        scene = scene + noise_sigma * (luminance_noise + chroma_noise / 3.0)
    return np.round(np.clip(scene, 0.0, 1.0) * 255.0).astype(np.uint8)


def render_camera_frames(
    digits: np.ndarray,
    width: int,
    height: int,
    seed: int,
    style: FrameStyle = CAMERA_STYLE,
) -> np.ndarray:
    """Render many digits, frame ``i`` with the seed ``(seed, i)``.

    A frame therefore does not depend on how the digits are batched.

    :param digits: N×8×8 ``load_digits`` images.
    :param width: frame width, pixels.
    :param height: frame height, pixels.
    :param seed: seed of the whole set.
    :param style: ranges of the random choices.
    :returns: N×height×width×3 uint8 RGB frames.
    """
    frames = np.empty((len(digits), height, width, 3), dtype=np.uint8)
    for index, digit in enumerate(digits):
        frames[index] = render_camera_frame(digit, width, height, (seed, index), style)
    return frames


def model_input(rgb: np.ndarray) -> np.ndarray:
    """Apply the input contract to one frame: gray, bilinear squash to 32×32, scale to -1..1.

    :param rgb: H×W×3 uint8 RGB frame of any size and aspect ratio.
    :returns: 1×1×32×32 float32.
    """
    gray = rgb.astype(np.float32) @ np.asarray(GRAY_WEIGHTS_RGB, dtype=np.float32)
    resized = cv2.resize(gray, (INPUT_SIZE, INPUT_SIZE), interpolation=cv2.INTER_LINEAR)
    return ((resized - INPUT_MEAN) / INPUT_SCALE)[None, None]


def model_inputs(frames: np.ndarray) -> np.ndarray:
    """Apply :func:`model_input` to each of N frames.

    :param frames: N×H×W×3 uint8 RGB.
    :returns: N×1×32×32 float32.
    """
    return np.concatenate([model_input(frame) for frame in frames])
