"""Recording live topics into a rosbag2 directory, as ``ros2 bag record`` would.

rosbag2 is not available where the package runs from PyPI wheels, so messages are received with
rclpy, serialised with ``rclpy.serialization.serialize_message`` and written with the
``rosbags`` writer. The bag timestamp is the receive time; headers are written as received.
The package's own message types are written with their definitions (see
:mod:`edge_perception.bags.types`), so ``ros2 bag`` and MCAP tools can decode them.
"""

from functools import partial

from rclpy.qos import QoSProfile, QoSReliabilityPolicy
from rclpy.serialization import serialize_message

from edge_perception.bags.types import package_typestore
from edge_perception.bags.writer import open_bag_writer
from edge_perception.messages import header_stamp_ns, message_class

# Reliable with room for a burst: the nodes publish reliably, and a recording should not lose
# what was delivered while a large message was being written.
RECORDING_QOS = QoSProfile(depth=50, reliability=QoSReliabilityPolicy.RELIABLE)


class BagRecorder:
    """Subscribes to topics and writes what arrives into a new bag.

    Every message received is noted by header stamp in :attr:`stamps_seen` (so a caller can
    wait for the outputs of one input frame); it is written when ``accept(topic, message)``
    says so.

    :param node: rclpy node to subscribe from.
    :param topics: ``{topic: message type name}``, e.g. ``{'/depth': 'sensor_msgs/msg/Image'}``.
    :param path: bag directory to create, or None to only note what arrives.
    :param storage: ``mcap`` or ``sqlite3``.
    :param compress: zstd chunk compression (MCAP only).
    :param accept: ``(topic, message) -> bool``; None writes everything.
    """

    def __init__(self, node, topics, path=None, storage='mcap', compress=True, accept=None):
        self._node = node
        self._accept = accept
        self.path = path
        self.stamps_seen = {topic: set() for topic in topics}
        self.counts = dict.fromkeys(topics, 0)
        self._writer = None
        self._connections = {}
        if path is not None:
            typestore = package_typestore()
            self._writer = open_bag_writer(path, storage, compress)
            self._writer.open()
            self._connections = {
                topic: self._writer.add_connection(topic, type_name, typestore=typestore)
                for topic, type_name in topics.items()}
        self.subscriptions = {
            topic: node.create_subscription(message_class(type_name), topic,
                                            partial(self._on_message, topic), RECORDING_QOS)
            for topic, type_name in topics.items()}

    def set_custom_data(self, key, value):
        """Store a string in the bag's ``metadata.yaml`` ``custom_data``."""
        if self._writer is not None:
            self._writer.set_custom_data(key, value)

    def _on_message(self, topic, message):
        stamp = header_stamp_ns(message)
        if stamp is not None:
            self.stamps_seen[topic].add(stamp)
        if self._accept is not None and not self._accept(topic, message):
            return
        self.counts[topic] += 1
        if self._writer is not None:
            self._writer.write(self._connections[topic], self._node.get_clock().now().nanoseconds,
                               serialize_message(message))

    def close(self):
        """Stop subscribing and finish the bag (``metadata.yaml`` is written now)."""
        for subscription in self.subscriptions.values():
            self._node.destroy_subscription(subscription)
        self.subscriptions = {}
        if self._writer is not None:
            self._writer.close()
            self._writer = None
