"""Camera frames with optional ground truth, from a folder of images or a rosbag2 bag.

What calibration (INT8 quantisation) and accuracy evaluation read. No rclpy here: bags are
read with :mod:`edge_perception.bags.reader`, images decoded with
:mod:`edge_perception.core.image_codec`.
"""

from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from edge_perception.bags.reader import BagError, read_frames, rosbags_decoder
from edge_perception.bags.types import (
    DEFAULT_DEPTH_TOPIC,
    DEFAULT_IMAGE_TOPIC,
    DEFAULT_LABEL_TOPIC,
    TYPESTORE,
)
from edge_perception.core.depth_geometry import depth_in_metres
from edge_perception.core.image_codec import as_rgb8, message_to_array

IMAGE_SUFFIXES = ('.png', '.jpg', '.jpeg', '.bmp', '.pgm', '.ppm')


class DataError(ValueError):
    """Data that cannot be read as labelled camera frames."""


@dataclass(frozen=True)
class LabelledFrame:
    """One RGB frame and, where known, its class or ground-truth depth (metres, NaN unknown)."""

    rgb: np.ndarray
    label: int | None = None
    depth: np.ndarray | None = None


def load_frames(path, image_topic=DEFAULT_IMAGE_TOPIC, label_topic=DEFAULT_LABEL_TOPIC,
                depth_topic=DEFAULT_DEPTH_TOPIC):
    """Read frames from a rosbag2 directory or a folder of images.

    Bags: images on ``image_topic``; a ``std_msgs/UInt8``-like label (``data``) on
    ``label_topic`` and a depth image on ``depth_topic`` recorded at the same time are
    attached when present. Folders: every image file; in a folder of class folders named by
    class index (``0/``, ``1/``, ...) each image gets its folder's class.

    :raises DataError: when the path holds no readable frame.
    """
    path = Path(path)
    if (path / 'metadata.yaml').is_file():
        frames = _bag_frames(path, image_topic, label_topic, depth_topic)
    elif path.is_dir():
        frames = _folder_frames(path)
    else:
        raise DataError(f"'{path}' is neither a rosbag2 directory nor a folder of images")
    if not frames:
        raise DataError(f"no camera frames in '{path}' (bag topic {image_topic} or image "
                        f"files {', '.join(IMAGE_SUFFIXES)})")
    return frames


def _folder_frames(folder):
    frames = []
    for file in sorted(folder.rglob('*')):
        if file.suffix.lower() not in IMAGE_SUFFIXES:
            continue
        image = cv2.imread(str(file), cv2.IMREAD_COLOR)
        if image is None:
            raise DataError(f"cannot read image '{file}'")
        parent = file.parent.name
        label = int(parent) if file.parent != folder and parent.isdigit() else None
        frames.append(LabelledFrame(cv2.cvtColor(image, cv2.COLOR_BGR2RGB), label))
    return frames


def _bag_frames(bag, image_topic, label_topic, depth_topic):
    try:
        recorded = read_frames(bag, (image_topic, label_topic, depth_topic),
                               decode=rosbags_decoder(TYPESTORE))
    except BagError as error:
        raise DataError(str(error)) from error
    frames = []
    for frame in recorded:
        image = frame.messages.get(image_topic)
        if image is None:
            continue
        rgb = as_rgb8(message_to_array(image), image.encoding)
        label = frame.messages.get(label_topic)
        depth = frame.messages.get(depth_topic)
        frames.append(LabelledFrame(
            np.ascontiguousarray(rgb),
            None if label is None else int(label.data),
            None if depth is None else depth_in_metres(message_to_array(depth), depth.encoding)))
    return frames
