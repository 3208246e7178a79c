"""Building messages and waiting on a real rclpy graph in tests."""

import numpy as np

from edge_perception.replay.graph import spin_until


def counter_grows(read):
    """Return a predicate that becomes true once ``read()`` exceeds its value now."""
    start = read()
    return lambda: read() > start


def depth_array(msg):
    """Return the float32 depth image of a 32FC1 ``Image``."""
    assert msg.encoding == '32FC1'
    return np.frombuffer(msg.data, dtype='<f4').reshape(msg.height, msg.width)


class RosGraph:
    """A private rclpy context with a probe node: start nodes under test, publish, collect."""

    def __init__(self):
        import rclpy
        from rclpy.executors import SingleThreadedExecutor
        self._rclpy = rclpy
        self.context = rclpy.Context()
        rclpy.init(context=self.context)
        self.executor = SingleThreadedExecutor(context=self.context)
        self.probe = rclpy.create_node('probe', context=self.context)
        self.executor.add_node(self.probe)
        self.nodes = []

    def start(self, node_class, **parameters):
        """Create ``node_class`` in this context with parameter overrides and spin it."""
        from rclpy.parameter import Parameter
        node = node_class(context=self.context, parameter_overrides=[
            Parameter(name, value=value) for name, value in parameters.items()])
        self.nodes.append(node)
        self.executor.add_node(node)
        return node

    def publisher(self, message_type, topic, qos=None):
        """Return a probe publisher, once the node under test has subscribed to it."""
        from rclpy.qos import qos_profile_sensor_data
        publisher = self.probe.create_publisher(message_type, topic,
                                                qos or qos_profile_sensor_data)
        assert self.wait_for(lambda: publisher.get_subscription_count() > 0), topic
        return publisher

    def collect(self, message_type, topic, wait_for_publisher=True):
        """Subscribe the probe to ``topic``; return the list its messages are appended to."""
        received = []
        subscription = self.probe.create_subscription(message_type, topic, received.append, 10)
        if wait_for_publisher:
            assert self.wait_for(lambda: subscription.get_publisher_count() > 0), topic
        return received

    def wait_for(self, predicate, timeout_s=10.0):
        """Spin until ``predicate()`` is true; return whether it became true in time."""
        return spin_until(self.executor, predicate, timeout_s)

    def spin_for(self, seconds):
        """Spin for ``seconds`` (to let messages that should not come show that they don't)."""
        spin_until(self.executor, lambda: False, seconds)

    def close(self):
        for node in self.nodes:
            node.destroy_node()
        self.executor.shutdown()
        self.probe.destroy_node()
        self._rclpy.shutdown(context=self.context)
