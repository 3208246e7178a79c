"""The end of every node command: spin until the node is done or the process is stopped."""

import rclpy
from rclpy.executors import ExternalShutdownException


def spin_until_shutdown(node, done=None):
    """Spin ``node`` until ``done`` (an ``rclpy.task.Future``, or None for never) completes,
    Ctrl-C or an external shutdown; then destroy the node and shut rclpy down.

    :param node: the node, created after ``rclpy.init``.
    :param done: completed by the node when its process should end (after a lifecycle
        ``shutdown``, for example).
    """
    try:
        if done is None:
            rclpy.spin(node)
        else:
            rclpy.spin_until_future_complete(node, done)
    except (KeyboardInterrupt, ExternalShutdownException):
        pass
    finally:
        node.destroy_node()
        rclpy.try_shutdown()
