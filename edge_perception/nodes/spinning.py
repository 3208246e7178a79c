"""The start and end of every node command: create the node, spin until it is done or the
process is stopped.
"""

import rclpy
from rclpy.executors import ExternalShutdownException
from rclpy.impl.implementation_singleton import rclpy_implementation

from edge_perception.nodes.dds_profile import apply_large_message_profile

RCLError = rclpy_implementation.RCLError


def start_node(node_class, start_errors, logger_name, args=None):
    """Initialise rclpy and create ``node_class()``; return it, or None when it cannot start.

    :param start_errors: exception types that mean bad settings or hardware, not a bug: logged
        fatal as ``cannot start: ...`` (rclpy is then shut down), not raised.
    :param logger_name: the logger that says so (the node has none yet).
    """
    apply_large_message_profile()
    rclpy.init(args=args)
    try:
        return node_class()
    except start_errors as error:
        rclpy.logging.get_logger(logger_name).fatal(f'cannot start: {error}')
        rclpy.try_shutdown()
        return None


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
    except RCLError:
        # Ctrl-C shuts the context down between two waits: the next wait set cannot be made.
        if node.context.ok():
            raise
    finally:
        node.destroy_node()
        rclpy.try_shutdown()
