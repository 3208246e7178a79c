"""Write and read rosbag2 recordings of a camera with ground-truth depth, without rclpy.

Uses the pure-Python ``rosbags`` library (MCAP storage, ROS 2 Kilted message definitions) and
turns messages into numpy arrays and back. A recording holds, per frame, one message on each of
three topics with identical header stamps (equal to the bag timestamp) and frame id:

* an ``rgb8`` ``sensor_msgs/Image``,
* the matching ``sensor_msgs/CameraInfo`` (``plumb_bob``, K/R/P/D filled),
* a ``32FC1`` ``sensor_msgs/Image`` of z-depth in metres, NaN where no depth is known.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from rosbags.rosbag2 import CompressionFormat, CompressionMode, Reader, StoragePlugin, Writer
from rosbags.typesys import get_typestore, Stores

from edge_perception.core.depth_geometry import depth_in_metres
from edge_perception.core.image_codec import array_to_image_fields, as_rgb8, message_to_array

#: Message definitions written into and read from bags.
TYPESTORE = get_typestore(Stores.ROS2_KILTED)

IMAGE_TYPE = 'sensor_msgs/msg/Image'
CAMERA_INFO_TYPE = 'sensor_msgs/msg/CameraInfo'

DEFAULT_IMAGE_TOPIC = '/camera/image_raw'
DEFAULT_CAMERA_INFO_TOPIC = '/camera/camera_info'
DEFAULT_DEPTH_TOPIC = '/camera/depth/ground_truth'
DEFAULT_FRAME_ID = 'camera_optical_frame'

_NANOSECONDS_PER_SECOND = 1_000_000_000

@dataclass
class DepthFrame:
    """One camera frame with its calibration and ground-truth depth.

    :param stamp_ns: time of the frame (header stamp and bag timestamp), nanoseconds.
    :param rgb: H×W×3 uint8 RGB image.
    :param depth: H×W float32 z-depth, metres; NaN where unknown.
    :param camera_matrix: 3×3 float64 intrinsics ``K``.
    :param frame_id: optical frame of the camera.
    """

    stamp_ns: int
    rgb: np.ndarray
    depth: np.ndarray
    camera_matrix: np.ndarray
    frame_id: str = DEFAULT_FRAME_ID


def _header(stamp_ns: int, frame_id: str):
    """Build a ``std_msgs/Header`` for a stamp in nanoseconds."""
    stamp = TYPESTORE.types['builtin_interfaces/msg/Time'](
        sec=stamp_ns // _NANOSECONDS_PER_SECOND, nanosec=stamp_ns % _NANOSECONDS_PER_SECOND
    )
    return TYPESTORE.types['std_msgs/msg/Header'](stamp=stamp, frame_id=frame_id)


def image_message(array: np.ndarray, encoding: str, stamp_ns: int, frame_id: str):
    """Build a ``sensor_msgs/Image`` holding ``array`` without row padding."""
    height, width, step, is_bigendian, data = array_to_image_fields(array, encoding)
    return TYPESTORE.types[IMAGE_TYPE](
        header=_header(stamp_ns, frame_id),
        height=height,
        width=width,
        encoding=encoding,
        is_bigendian=int(is_bigendian),
        step=step,
        data=np.frombuffer(data, dtype=np.uint8),
    )


def _camera_info_message(
    camera_matrix: np.ndarray, width: int, height: int, stamp_ns: int, frame_id: str
):
    """Build a ``sensor_msgs/CameraInfo`` for an undistorted camera (R = I, P = [K | 0])."""
    projection = np.zeros((3, 4))
    projection[:, :3] = camera_matrix
    return TYPESTORE.types[CAMERA_INFO_TYPE](
        header=_header(stamp_ns, frame_id),
        height=height,
        width=width,
        distortion_model='plumb_bob',
        d=np.zeros(5),
        k=np.asarray(camera_matrix, dtype=np.float64).reshape(9),
        r=np.eye(3).reshape(9),
        p=projection.reshape(12),
        binning_x=0,
        binning_y=0,
        roi=TYPESTORE.types['sensor_msgs/msg/RegionOfInterest'](
            x_offset=0, y_offset=0, height=0, width=0, do_rectify=False
        ),
    )


def write_depth_bag(
    path: Path,
    frames: Iterable[DepthFrame],
    image_topic: str = DEFAULT_IMAGE_TOPIC,
    camera_info_topic: str = DEFAULT_CAMERA_INFO_TOPIC,
    depth_topic: str = DEFAULT_DEPTH_TOPIC,
    compress: bool = True,
) -> None:
    """Write frames to a new rosbag2 directory (MCAP storage).

    :param path: bag directory to create; it must not exist yet.
    :param frames: frames in time order.
    :param image_topic: topic of the ``rgb8`` images.
    :param camera_info_topic: topic of the camera info.
    :param depth_topic: topic of the ``32FC1`` depth.
    :param compress: compress MCAP chunks with zstd. This is MCAP's own chunk compression
        (``metadata.yaml`` lists no compression), which ``ros2 bag`` and other MCAP readers
        decompress transparently.
    """
    records = []
    for frame in frames:
        height, width = frame.rgb.shape[:2]
        records += [
            (image_topic, frame.stamp_ns,
             image_message(frame.rgb, 'rgb8', frame.stamp_ns, frame.frame_id)),
            (camera_info_topic, frame.stamp_ns, _camera_info_message(
                frame.camera_matrix, width, height, frame.stamp_ns, frame.frame_id)),
            (depth_topic, frame.stamp_ns,
             image_message(frame.depth, '32FC1', frame.stamp_ns, frame.frame_id)),
        ]
    topic_types = {image_topic: IMAGE_TYPE, camera_info_topic: CAMERA_INFO_TYPE,
                   depth_topic: IMAGE_TYPE}
    write_mcap_bag(path, topic_types, records, compress)


#: ``--storage`` choices: rosbags storage plugins by their ``ros2 bag`` names.
STORAGE_PLUGINS = {'mcap': StoragePlugin.MCAP, 'sqlite3': StoragePlugin.SQLITE3}


def open_bag_writer(path: Path, storage: str = 'mcap', compress: bool = True) -> Writer:
    """Return a rosbags ``Writer`` for a new rosbag2 directory (format version 9), unopened.

    :param path: bag directory to create; it must not exist yet.
    :param storage: ``mcap`` or ``sqlite3``.
    :param compress: zstd chunk compression; MCAP's own (``metadata.yaml`` lists no
        compression, ``ros2 bag`` and other MCAP readers decompress transparently). Ignored
        for sqlite3, which has no per-chunk compression.
    """
    writer = Writer(path, version=9, storage_plugin=STORAGE_PLUGINS[storage])
    if compress and storage == 'mcap':
        writer.set_compression(CompressionMode.STORAGE, CompressionFormat.ZSTD)
    return writer


def write_mcap_bag(path: Path, topic_types: dict, records: Iterable, compress: bool = True,
                   typestore=TYPESTORE):
    """Write messages to a new rosbag2 directory (MCAP storage, ROS 2 Kilted types).

    :param path: bag directory to create; it must not exist yet.
    :param topic_types: ``{topic: message type name}``, e.g. ``sensor_msgs/msg/Image``.
    :param records: ``(topic, bag timestamp in ns, rosbags message)`` in time order.
    :param compress: compress MCAP chunks with zstd. This is MCAP's own chunk compression
        (``metadata.yaml`` lists no compression), which ``ros2 bag`` and other MCAP readers
        decompress transparently.
    :param typestore: rosbags type store the messages belong to
        (:func:`edge_perception.bags.types.package_typestore` for the package's own messages).
    """
    with open_bag_writer(path, 'mcap', compress) as writer:
        connections = {topic: writer.add_connection(topic, message_type, typestore=typestore)
                       for topic, message_type in topic_types.items()}
        for topic, timestamp, message in records:
            writer.write(connections[topic], timestamp,
                         typestore.serialize_cdr(message, topic_types[topic]))


def _stamp_ns(message) -> int:
    """Header stamp of a message in nanoseconds."""
    return message.header.stamp.sec * _NANOSECONDS_PER_SECOND + message.header.stamp.nanosec


def read_depth_bag(
    path: Path,
    image_topic: str = DEFAULT_IMAGE_TOPIC,
    camera_info_topic: str = DEFAULT_CAMERA_INFO_TOPIC,
    depth_topic: str = DEFAULT_DEPTH_TOPIC,
) -> list[DepthFrame]:
    """Read a recording back, pairing image, camera info and depth by header stamp.

    Frames lacking any of the three messages are skipped. ``bgr8`` images are converted to RGB.

    :param path: rosbag2 directory.
    :param image_topic: colour image topic.
    :param camera_info_topic: camera info topic.
    :param depth_topic: ``32FC1`` (metres) or ``16UC1`` (millimetres, 0 = unknown) depth topic.
    :returns: frames in time order.
    """
    images: dict[int, tuple[np.ndarray, str]] = {}
    matrices: dict[int, np.ndarray] = {}
    depths: dict[int, np.ndarray] = {}
    topics = {image_topic, camera_info_topic, depth_topic}
    with Reader(path) as reader:
        connections = [c for c in reader.connections if c.topic in topics]
        for connection, _, raw in reader.messages(connections=connections):
            message = TYPESTORE.deserialize_cdr(raw, connection.msgtype)
            stamp = _stamp_ns(message)
            if connection.topic == image_topic:
                pixels = np.ascontiguousarray(as_rgb8(message_to_array(message), message.encoding))
                images[stamp] = (pixels, message.header.frame_id)
            elif connection.topic == camera_info_topic:
                matrices[stamp] = np.asarray(message.k, dtype=np.float64).reshape(3, 3)
            else:
                depth = message_to_array(message)
                if message.encoding == '16UC1':
                    depth = depth_in_metres(depth, message.encoding)
                depths[stamp] = depth.astype(np.float32, copy=False)
    return [
        DepthFrame(
            stamp_ns=stamp,
            rgb=images[stamp][0],
            depth=depths[stamp],
            camera_matrix=matrices[stamp],
            frame_id=images[stamp][1],
        )
        for stamp in sorted(images)
        if stamp in matrices and stamp in depths
    ]
