"""Publishing recorded camera topics from a rosbag2 directory into a live ROS graph.

``ros2 bag play`` does this on a robot; here (and in CI) rosbag2 is not available, so the
package replays bags itself with the ``rosbags`` reader and rclpy publishers. Messages are
deserialised so that header stamps can be rewritten to the current time: latencies measured
downstream then mean what they say.
"""

from dataclasses import dataclass
import importlib

from rclpy.qos import qos_profile_sensor_data, QoSProfile, QoSReliabilityPolicy
from rclpy.serialization import deserialize_message
from rosbags.rosbag2 import Reader


@dataclass
class RecordedFrame:
    """Messages of one recorded instant, keyed by topic, and the bag time in nanoseconds."""

    timestamp_ns: int
    messages: dict


def read_frames(bag_path, topics):
    """Read ``topics`` from a bag and group messages recorded at the same time into frames.

    Messages of one camera frame (image, camera info, ground truth) share a bag timestamp;
    grouping by it also works for ground truth without a header (a label per frame).

    :param bag_path: rosbag2 directory (mcap or sqlite3).
    :param topics: topic names to read; other topics are ignored.
    :return: list of :class:`RecordedFrame` in time order, and ``{topic: message type}``.
    """
    frames = {}
    types = {}
    with Reader(bag_path) as reader:
        connections = [connection for connection in reader.connections
                       if connection.topic in topics]
        for connection in connections:
            types[connection.topic] = message_class(connection.msgtype)
        for connection, timestamp, raw in reader.messages(connections=connections):
            frame = frames.setdefault(timestamp, RecordedFrame(timestamp, {}))
            frame.messages[connection.topic] = deserialize_message(raw, types[connection.topic])
    return sorted(frames.values(), key=lambda frame: frame.timestamp_ns), types


def message_class(type_name):
    """Return the rclpy message class of a type name such as 'sensor_msgs/msg/Image'."""
    package, interface, name = type_name.split('/')
    return getattr(importlib.import_module(f'{package}.{interface}'), name)


class FramePublisher:
    """Publishes recorded frames, remapping topics and restamping headers.

    :param node: rclpy node to publish from.
    :param types: ``{recorded topic: message class}``.
    :param remap: ``{recorded topic: topic to publish on}``; unmapped topics keep their name.
    :param reliable: reliable QoS instead of sensor-data (best-effort) QoS.
    """

    def __init__(self, node, types, remap=None, reliable=False):
        remap = remap or {}
        qos = QoSProfile(depth=5, reliability=QoSReliabilityPolicy.RELIABLE) if reliable \
            else qos_profile_sensor_data
        self.publishers = {topic: node.create_publisher(message_type, remap.get(topic, topic),
                                                        qos)
                           for topic, message_type in types.items()}

    def subscriber_count(self, topic):
        """Return how many subscribers the publisher of recorded ``topic`` has matched."""
        return self.publishers[topic].get_subscription_count()

    def publish(self, frame, stamp=None):
        """Publish every message of ``frame`` it has a publisher for.

        :param stamp: ``builtin_interfaces/Time`` written into every header, or None to keep
            the recorded stamps.
        """
        for topic, message in frame.messages.items():
            publisher = self.publishers.get(topic)
            if publisher is None:
                continue
            if stamp is not None and hasattr(message, 'header'):
                message.header.stamp = stamp
            publisher.publish(message)
