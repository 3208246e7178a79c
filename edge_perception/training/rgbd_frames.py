"""RGB-D frames from outside the project, read from a folder as untrusted data.

Two layouts are understood:

* a ``frames.json`` describing each frame (the layout of ``../shared/data/real_rgbd_dev``)::

      {"frames": [{"color": "a.jpg", "depth": "a_depth.png", "depth_scale": 1000,
                   "real": true, "fx": 525.0, "fy": 525.0, "cx": 319.5, "cy": 239.5}, ...]}

  ``color`` is an 8-bit JPEG or PNG, ``depth`` a 16-bit single-channel PNG aligned with it
  (0 = no measurement, metres = value / ``depth_scale``); ``real`` says whether a camera took
  the frame (false: a render); the intrinsics are optional;
* without ``frames.json``: ``NAME_rgb.png`` (or ``.jpg``) beside ``NAME_depth.png`` (16-bit,
  millimetres) or ``NAME_depth.npy`` (float metres, non-finite or 0 = unknown), all real.

Every file is a plain name inside the folder; its size is checked before it is read and an
image's width and height are read from its header before it is decoded
(:func:`~edge_perception.core.compressed_image.decode_compressed_image`). ``.npy`` files are
read without pickles. No torch, no rclpy.
"""

from __future__ import annotations

from dataclasses import dataclass
import json
import math
from pathlib import Path

import cv2
import numpy as np

from edge_perception.core.compressed_image import decode_compressed_image
from edge_perception.core.depth_geometry import IntrinsicsError, PinholeIntrinsics
from edge_perception.core.image_codec import ImageFormatError

#: Name of the description file of a folder of frames.
DESCRIPTION_FILE = 'frames.json'
#: Largest description read, bytes.
MAX_DESCRIPTION_BYTES = 1 << 20
#: Largest image or depth file read, bytes.
MAX_FILE_BYTES = 64 << 20
#: Widest and tallest frame decoded, pixels.
MAX_SIDE = 4096
#: Most frames one folder may describe.
MAX_FRAMES = 10_000
#: Suffixes of the colour image of a pair, tried in order (folders without ``frames.json``).
RGB_SUFFIXES = ('_rgb.png', '_rgb.jpg', '_rgb.jpeg')
#: Suffixes of the depth of a pair: 16-bit PNG in millimetres, or numpy float in metres.
DEPTH_SUFFIXES = ('_depth.png', '_depth.npy')
_SIGNATURES = {b'\xff\xd8\xff': 'jpeg', b'\x89PNG\r\n\x1a\n': 'png'}
_INTRINSICS_KEYS = ('fx', 'fy', 'cx', 'cy')


class RgbdFolderError(ValueError):
    """A folder of RGB-D frames, or one of its files, that cannot be read."""


@dataclass(frozen=True)
class RgbdFrame:
    """One colour image with its aligned depth.

    :param name: the colour file's stem.
    :param rgb: H×W×3 uint8, RGB order.
    :param depth: H×W float32 metres, NaN where unknown.
    :param real: True for a camera frame, False for a render.
    :param intrinsics: the camera's, when the description gives them.
    """

    name: str
    rgb: np.ndarray
    depth: np.ndarray
    real: bool
    intrinsics: PinholeIntrinsics | None = None


def read_rgbd_frames(folder: Path) -> list[RgbdFrame]:
    """Read every frame of a folder (``frames.json`` when present, else ``NAME_rgb`` pairs).

    :param folder: the folder.
    :returns: the frames, in the description's order (pairs: in name order).
    :raises RgbdFolderError: naming the file and what is wrong with it.
    """
    folder = Path(folder)
    if not folder.is_dir():
        raise RgbdFolderError(f'{folder} is not a folder')
    if (folder / DESCRIPTION_FILE).exists():
        return [_described_frame(folder, entry, index)
                for index, entry in enumerate(_read_description(folder))]
    frames = [_paired_frame(folder, rgb_path) for rgb_path in sorted(
        path for path in folder.iterdir() if path.name.endswith(RGB_SUFFIXES))]
    frames = [frame for frame in frames if frame is not None]
    if not frames:
        raise RgbdFolderError(
            f'{folder} holds neither {DESCRIPTION_FILE} nor an RGB-D pair: expected '
            f'NAME{RGB_SUFFIXES[0]} beside NAME{DEPTH_SUFFIXES[0]} (16-bit mm) or '
            f'NAME{DEPTH_SUFFIXES[1]} (metres)')
    return frames


def _read_description(folder: Path) -> list[dict]:
    path = folder / DESCRIPTION_FILE
    try:
        description = json.loads(_read_bytes(path, MAX_DESCRIPTION_BYTES))
    except (UnicodeDecodeError, json.JSONDecodeError) as error:
        raise RgbdFolderError(f'{path}: not JSON ({error})') from error
    frames = description.get('frames') if isinstance(description, dict) else None
    if not isinstance(frames, list) or not frames:
        raise RgbdFolderError(f"{path}: expected an object with a non-empty list 'frames'")
    if len(frames) > MAX_FRAMES:
        raise RgbdFolderError(f'{path}: {len(frames)} frames, at most {MAX_FRAMES} are read')
    return frames


def _described_frame(folder: Path, entry, index: int) -> RgbdFrame:
    where = f'{folder / DESCRIPTION_FILE}, frame {index}'
    if not isinstance(entry, dict):
        raise RgbdFolderError(f'{where}: expected an object')
    color_path = _member(folder, entry.get('color'), f'{where}: color')
    depth_path = _member(folder, entry.get('depth'), f'{where}: depth')
    depth_scale = _positive_number(entry.get('depth_scale'), f'{where}: depth_scale')
    real = entry.get('real')
    if not isinstance(real, bool):
        raise RgbdFolderError(f"{where}: 'real' must be true or false")
    rgb = _read_colour(color_path)
    depth = _read_depth_png(depth_path, depth_scale)
    _check_aligned(color_path.stem, rgb, depth)
    intrinsics = None
    if any(key in entry for key in _INTRINSICS_KEYS):
        values = [_positive_number(entry.get(key), f'{where}: {key}') for key in _INTRINSICS_KEYS]
        intrinsics = PinholeIntrinsics(*values, rgb.shape[1], rgb.shape[0])
        try:
            intrinsics.validate()
        except IntrinsicsError as error:
            raise RgbdFolderError(f'{where}: {error}') from error
    return RgbdFrame(color_path.stem, rgb, depth, real, intrinsics)


def _paired_frame(folder: Path, rgb_path: Path) -> RgbdFrame | None:
    stem = rgb_path.name[: rgb_path.name.rindex('_rgb')]
    depth_path = next((folder / f'{stem}{suffix}' for suffix in DEPTH_SUFFIXES
                       if (folder / f'{stem}{suffix}').exists()), None)
    if depth_path is None:
        return None
    rgb = _read_colour(rgb_path)
    if depth_path.suffix == '.npy':
        depth = _read_depth_npy(depth_path)
    else:
        depth = _read_depth_png(depth_path, 1000.0)
    _check_aligned(stem, rgb, depth)
    return RgbdFrame(stem, rgb, depth, True)


def _member(folder: Path, name, where: str) -> Path:
    if not isinstance(name, str) or not name or Path(name).name != name or name in ('.', '..'):
        raise RgbdFolderError(f'{where}: {name!r} is not a file name inside the folder')
    path = folder / name
    if not path.resolve().is_relative_to(folder.resolve()):
        raise RgbdFolderError(f'{where}: {name!r} leads outside the folder')
    return path


def _positive_number(value, where: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or \
            not math.isfinite(value) or value <= 0:
        raise RgbdFolderError(f'{where}: {value!r} is not a positive number')
    return float(value)


def _read_bytes(path: Path, limit: int) -> bytes:
    if not path.is_file():
        raise RgbdFolderError(f'{path}: no such file')
    size = path.stat().st_size
    if size > limit:
        raise RgbdFolderError(f'{path}: {size} bytes, more than the {limit} read')
    with path.open('rb') as stream:
        data = stream.read(limit + 1)
    if len(data) > limit:  # grew since stat
        raise RgbdFolderError(f'{path}: more than the {limit} bytes read')
    return data


def _decode(path: Path):
    data = _read_bytes(path, MAX_FILE_BYTES)
    codec = next((codec for signature, codec in _SIGNATURES.items()
                  if data.startswith(signature)), None)
    if codec is None:
        raise RgbdFolderError(f'{path}: neither a JPEG nor a PNG')
    try:
        return decode_compressed_image(codec, data, MAX_SIDE, MAX_SIDE)
    except ImageFormatError as error:
        raise RgbdFolderError(f'{path}: {error}') from error


def _read_colour(path: Path) -> np.ndarray:
    decoded = _decode(path)
    conversions = {'bgr8': cv2.COLOR_BGR2RGB, 'bgra8': cv2.COLOR_BGRA2RGB,
                   'mono8': cv2.COLOR_GRAY2RGB}
    if decoded.image.dtype != np.uint8 or decoded.encoding not in conversions:
        raise RgbdFolderError(f'{path}: expected an 8-bit colour or grey image, got '
                              f'{decoded.encoding}')
    return cv2.cvtColor(decoded.image, conversions[decoded.encoding])


def _read_depth_png(path: Path, depth_scale: float) -> np.ndarray:
    image = _decode(path).image
    if image.dtype != np.uint16 or image.ndim != 2:
        raise RgbdFolderError(f'{path}: expected a single-channel 16-bit PNG of depth')
    depth = image.astype(np.float32) / np.float32(depth_scale)
    depth[image == 0] = np.nan
    return depth


def _read_depth_npy(path: Path) -> np.ndarray:
    _read_bytes(path, MAX_FILE_BYTES)  # size check before numpy reads it
    try:
        depth = np.load(path, allow_pickle=False)
    except ValueError as error:
        raise RgbdFolderError(f'{path}: not a plain numpy array ({error})') from error
    if depth.ndim != 2 or not np.issubdtype(depth.dtype, np.number) or \
            max(depth.shape) > MAX_SIDE:
        raise RgbdFolderError(f'{path}: depth must be H×W numbers, at most {MAX_SIDE} a side; '
                              f'got {depth.dtype} {depth.shape}')
    depth = depth.astype(np.float32)
    with np.errstate(invalid='ignore'):
        return np.where(np.isfinite(depth) & (depth > 0), depth, np.nan).astype(np.float32)


def _check_aligned(name: str, rgb: np.ndarray, depth: np.ndarray) -> None:
    if depth.shape != rgb.shape[:2]:
        raise RgbdFolderError(
            f'{name}: colour is {rgb.shape[1]}x{rgb.shape[0]} but depth is '
            f'{depth.shape[1]}x{depth.shape[0]}')
