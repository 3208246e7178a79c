"""The one bag reader: messages of chosen topics from a rosbag2 directory, grouped into frames.

No ROS needed: bags are read with ``rosbags`` and messages decoded with a ``rosbags`` type store
by default; a caller that publishes what it reads passes rclpy's decoder instead
(:func:`edge_perception.bags.player.read_frames`). Messages of one camera frame (image, camera
info, ground truth) are recorded at one bag timestamp, which groups them; a label per frame has
no header, so the bag timestamp, not the header stamp, is the default key.
"""

from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from rosbags.rosbag2 import Reader
import yaml

from edge_perception.bags.types import (
    DEFAULT_CAMERA_INFO_TOPIC,
    DEFAULT_DEPTH_TOPIC,
    DEFAULT_IMAGE_TOPIC,
    DepthFrame,
    package_typestore,
)
from edge_perception.core.depth_geometry import depth_in_metres
from edge_perception.core.image_codec import as_rgb8, message_to_array
from edge_perception.messages import header_stamp_ns


class BagError(ValueError):
    """A bag that cannot be read, or lacks what was asked of it."""


@dataclass
class RecordedFrame:
    """Messages of one recorded instant, keyed by topic, and the bag time in nanoseconds."""

    timestamp_ns: int
    messages: dict


def rosbags_decoder(typestore=None):
    """Return ``decode(raw, type name) -> message`` of a rosbags type store (default: the
    package's, which knows the standard messages and the package's own).
    """
    typestore = typestore or package_typestore()
    return typestore.deserialize_cdr


@contextmanager
def open_bag(bag):
    """Open a rosbag2 directory to read; any failure to open it is one :class:`BagError`."""
    try:
        reader = Reader(Path(bag))
        reader.open()
    except Exception as error:  # rosbags raises its own types for every kind of bad bag
        raise BagError(f"cannot read bag '{bag}': {_first_line(error)}") from error
    try:
        yield reader
    finally:
        reader.close()


def topic_types(bag):
    """Return ``{topic: message type name}`` of every topic in the bag."""
    with open_bag(bag) as reader:
        return {connection.topic: connection.msgtype for connection in reader.connections}


def read_messages(bag, topics, decode=None):
    """Yield ``(topic, bag timestamp ns, message)`` of ``topics`` in recording order.

    :param decode: ``decode(raw, type name) -> message``; default :func:`rosbags_decoder`.
    :raises BagError: when the bag cannot be read.
    """
    decode = decode or rosbags_decoder()
    with open_bag(bag) as reader:
        connections = [connection for connection in reader.connections
                       if connection.topic in topics]
        try:
            for connection, timestamp, raw in reader.messages(connections=connections):
                yield connection.topic, timestamp, decode(raw, connection.msgtype)
        except BagError:
            raise
        except Exception as error:  # a truncated or corrupt file fails while reading
            raise BagError(f"cannot read bag '{bag}': {_first_line(error)}") from error


def read_frames(bag, topics, decode=None, key=None):
    """Read ``topics`` and group the messages of each instant into a :class:`RecordedFrame`.

    :param key: ``key(bag timestamp, message) -> int`` grouping messages into frames; default
        the bag timestamp. :func:`by_header_stamp` pairs by header stamp instead.
    :return: frames in time order.
    """
    frames = {}
    for topic, timestamp, message in read_messages(bag, topics, decode):
        frame_key = timestamp if key is None else key(timestamp, message)
        frame = frames.setdefault(frame_key, RecordedFrame(frame_key, {}))
        frame.messages.setdefault(topic, message)
    return [frames[frame_key] for frame_key in sorted(frames)]


def by_header_stamp(timestamp, message):
    """Frame key of :func:`read_frames`: the header stamp (the bag timestamp without one)."""
    stamp = header_stamp_ns(message)
    return timestamp if stamp is None else stamp


def custom_data(bag):
    """Return the ``custom_data`` strings of a rosbag2 directory's ``metadata.yaml``."""
    try:
        metadata = yaml.safe_load((Path(bag) / 'metadata.yaml').read_text())
    except (OSError, yaml.YAMLError) as error:
        raise BagError(f"cannot read bag '{bag}': {_first_line(error)}") from error
    information = (metadata or {}).get('rosbag2_bagfile_information') or {}
    return information.get('custom_data') or {}


def read_depth_bag(bag, image_topic=DEFAULT_IMAGE_TOPIC,
                   camera_info_topic=DEFAULT_CAMERA_INFO_TOPIC,
                   depth_topic=DEFAULT_DEPTH_TOPIC):
    """Read a depth recording back, pairing image, camera info and depth by header stamp.

    Frames lacking any of the three messages are skipped; images are converted to RGB.

    :param depth_topic: ``32FC1`` (metres) or ``16UC1`` (millimetres, 0 = unknown) depth.
    :return: :class:`DepthFrame` list in time order.
    """
    frames = []
    topics = (image_topic, camera_info_topic, depth_topic)
    for frame in read_frames(bag, topics, key=by_header_stamp):
        if not all(topic in frame.messages for topic in topics):
            continue
        image, info, depth = (frame.messages[topic] for topic in topics)
        frames.append(DepthFrame(
            stamp_ns=frame.timestamp_ns,
            rgb=np.ascontiguousarray(as_rgb8(message_to_array(image), image.encoding)),
            depth=_depth_as_recorded(depth),
            camera_matrix=np.asarray(info.k, dtype=np.float64).reshape(3, 3),
            frame_id=image.header.frame_id))
    return frames


def _depth_as_recorded(message):
    """32FC1 as recorded (NaN and inf kept apart); 16UC1 millimetres in metres, 0 as NaN."""
    depth = message_to_array(message)
    if message.encoding == '16UC1':
        return depth_in_metres(depth, message.encoding)
    return depth.astype(np.float32, copy=False)


def _first_line(error):
    # YAML parsers explain with the offending line and a caret below it: one line is enough.
    return str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
