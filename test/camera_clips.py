"""Video clips and image folders written by the tests, each frame telling its index by its
grey level (flat frames survive lossy codecs within a few levels).
"""

import cv2
import numpy as np

GREY_STEP = 10


def frame_of(index, width, height):
    """Return frame ``index`` (BGR, flat grey ``GREY_STEP * index``; index 25 at most)."""
    assert GREY_STEP * index <= 255, f'frame {index}: a clip of grey levels has 26 frames at most'
    return np.full((height, width, 3), GREY_STEP * index, np.uint8)


def index_of(rgb):
    """Return the index a frame of :func:`frame_of` shows."""
    return int(round(float(np.mean(rgb)) / GREY_STEP))


def write_clip(path, frames, width, height, fps):
    """Write ``frames`` frames as an MPEG-4 video at ``fps``; return its path as a string."""
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*'mp4v'), fps, (width, height))
    assert writer.isOpened(), f'OpenCV cannot write {path}'
    for index in range(frames):
        writer.write(frame_of(index, width, height))
    writer.release()
    return str(path)


def write_image_folder(folder, frames, width, height):
    """Write ``frames`` PNG images into ``folder``; return its path as a string."""
    folder.mkdir(parents=True, exist_ok=True)
    for index in range(frames):
        cv2.imwrite(str(folder / f'frame_{index:04d}.png'), frame_of(index, width, height))
    return str(folder)
