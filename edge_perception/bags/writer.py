"""Writing rosbag2 recordings without rclpy: the ``rosbags`` writer, MCAP (zstd chunks) or
sqlite3, rosbag2 metadata version 8 by default (:data:`ROSBAG2_VERSION`).

Version 9 writes ``offered_qos_profiles`` as a YAML sequence; Humble's rosbag2 (metadata
version 5) reads that key as a string for every version from 4 on, so ``ros2 bag info`` and
``ros2 bag play`` fail on it there. Version 8 keeps it a string; Humble ignores its other keys.

A depth recording holds, per frame, one message on each of three topics with identical header
stamps (equal to the bag timestamp) and frame id: an ``rgb8`` ``sensor_msgs/Image``, the
matching ``sensor_msgs/CameraInfo`` (``plumb_bob``, K/R/P/D filled) and a ``32FC1``
``sensor_msgs/Image`` of z-depth in metres, NaN where no depth is known.
"""

from rosbags.rosbag2 import CompressionFormat, CompressionMode, StoragePlugin, Writer

from edge_perception.bags.types import (
    CAMERA_INFO_TYPE,
    DEFAULT_CAMERA_INFO_TOPIC,
    DEFAULT_DEPTH_TOPIC,
    DEFAULT_IMAGE_TOPIC,
    IMAGE_TYPE,
    TYPESTORE,
)
from edge_perception.core.depth_geometry import PinholeIntrinsics
from edge_perception.messages import bag_types, camera_info_msg, image_msg

#: Metadata version of the bags written: what Humble, Jazzy and Kilted's ``ros2 bag`` all read.
ROSBAG2_VERSION = 8
#: ``--storage`` choices: rosbags storage plugins by their ``ros2 bag`` names.
STORAGE_PLUGINS = {'mcap': StoragePlugin.MCAP, 'sqlite3': StoragePlugin.SQLITE3}


def open_bag_writer(path, storage='mcap', compress=True, version=ROSBAG2_VERSION):
    """Return a rosbags ``Writer`` for a new rosbag2 directory, unopened.

    :param path: bag directory to create; it must not exist yet.
    :param storage: ``mcap`` or ``sqlite3``.
    :param version: rosbag2 metadata version, 8 (read by every distribution) or 9.
    :param compress: zstd chunk compression; MCAP's own (``metadata.yaml`` lists no
        compression, ``ros2 bag`` and other MCAP readers decompress transparently). Ignored
        for sqlite3, which has no per-chunk compression.
    """
    writer = Writer(path, version=version, storage_plugin=STORAGE_PLUGINS[storage])
    if compress and storage == 'mcap':
        writer.set_compression(CompressionMode.STORAGE, CompressionFormat.ZSTD)
    return writer


def write_mcap_bag(path, topic_types, records, compress=True, typestore=TYPESTORE):
    """Write messages to a new rosbag2 directory (MCAP storage).

    :param path: bag directory to create; it must not exist yet.
    :param topic_types: ``{topic: message type name}``, e.g. ``sensor_msgs/msg/Image``.
    :param records: ``(topic, bag timestamp in ns, rosbags message)`` in time order.
    :param compress: zstd chunk compression (see :func:`open_bag_writer`).
    :param typestore: rosbags type store the messages belong to
        (:func:`edge_perception.bags.types.package_typestore` for the package's own messages).
    """
    with open_bag_writer(path, 'mcap', compress) as writer:
        connections = {topic: writer.add_connection(topic, message_type, typestore=typestore)
                       for topic, message_type in topic_types.items()}
        for topic, timestamp, message in records:
            writer.write(connections[topic], timestamp,
                         typestore.serialize_cdr(message, topic_types[topic]))


def write_depth_bag(path, frames, image_topic=DEFAULT_IMAGE_TOPIC,
                    camera_info_topic=DEFAULT_CAMERA_INFO_TOPIC, depth_topic=DEFAULT_DEPTH_TOPIC,
                    compress=True):
    """Write :class:`~edge_perception.bags.types.DepthFrame` s to a new rosbag2 directory (MCAP).

    :param path: bag directory to create; it must not exist yet.
    :param frames: frames in time order.
    :param compress: zstd chunk compression (see :func:`open_bag_writer`).
    """
    types = bag_types(TYPESTORE)
    records = []
    for frame in frames:
        height, width = frame.rgb.shape[:2]
        intrinsics = PinholeIntrinsics.from_camera_info(frame.camera_matrix.reshape(9), width,
                                                        height)
        stamped = {'stamp': frame.stamp_ns, 'frame_id': frame.frame_id, 'types': types}
        records += [
            (image_topic, frame.stamp_ns, image_msg(frame.rgb, 'rgb8', **stamped)),
            (camera_info_topic, frame.stamp_ns, camera_info_msg(intrinsics, **stamped)),
            (depth_topic, frame.stamp_ns, image_msg(frame.depth, '32FC1', **stamped)),
        ]
    topic_types = {image_topic: IMAGE_TYPE, camera_info_topic: CAMERA_INFO_TYPE,
                   depth_topic: IMAGE_TYPE}
    write_mcap_bag(path, topic_types, records, compress)
