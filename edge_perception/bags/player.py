"""Publishing recorded camera topics from a rosbag2 directory into a live ROS graph.

``ros2 bag play`` does this on a robot; here (and in CI) rosbag2 is not available, so the
package replays bags itself: :mod:`edge_perception.bags.reader` reads them and rclpy decodes and
publishes the messages. Messages are deserialised so that header stamps can be rewritten to the
current time: latencies measured downstream then mean what they say.
"""

from rclpy.qos import qos_profile_sensor_data, QoSProfile, QoSReliabilityPolicy
from rclpy.serialization import deserialize_message

from edge_perception.bags import reader
from edge_perception.messages import message_class


def ros_decoder():
    """Return ``decode(raw, type name) -> rclpy message``, for the bag reader."""
    classes = {}

    def decode(raw, type_name):
        if type_name not in classes:
            classes[type_name] = message_class(type_name)
        return deserialize_message(raw, classes[type_name])

    return decode


def read_frames(bag_path, topics):
    """Read ``topics`` as rclpy messages, grouped into frames by bag timestamp.

    :return: :class:`~edge_perception.bags.reader.RecordedFrame` list in time order, and
        ``{topic: message class}`` of the topics found.
    :raises ~edge_perception.bags.reader.BagError: when the bag cannot be read.
    """
    frames = reader.read_frames(bag_path, topics, decode=ros_decoder())
    types = {topic: message_class(type_name)
             for topic, type_name in reader.topic_types(bag_path).items() if topic in topics}
    return frames, types


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
