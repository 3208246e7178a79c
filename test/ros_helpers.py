"""Building messages and waiting on a real rclpy graph in tests."""

import time

import numpy as np
from sensor_msgs.msg import CameraInfo, Image

from edge_perception.image_codec import array_to_image_fields


def image_msg(array, encoding, stamp_ns=0, frame_id='camera_optical_frame'):
    """Return a ``sensor_msgs/Image`` holding ``array``."""
    msg = Image()
    msg.header.stamp.sec, msg.header.stamp.nanosec = divmod(int(stamp_ns), 1_000_000_000)
    msg.header.frame_id = frame_id
    msg.encoding = encoding
    msg.height, msg.width, msg.step, msg.is_bigendian, msg.data = \
        array_to_image_fields(array, encoding)
    return msg


def camera_info_msg(width, height, fx, fy, cx, cy, frame_id='camera_optical_frame'):
    """Return a ``sensor_msgs/CameraInfo`` of a distortion-free pinhole camera."""
    msg = CameraInfo()
    msg.header.frame_id = frame_id
    msg.width, msg.height = width, height
    msg.distortion_model = 'plumb_bob'
    msg.d = [0.0] * 5
    msg.k = [fx, 0.0, cx, 0.0, fy, cy, 0.0, 0.0, 1.0]
    msg.r = [1.0, 0.0, 0.0, 0.0, 1.0, 0.0, 0.0, 0.0, 1.0]
    msg.p = [fx, 0.0, cx, 0.0, 0.0, fy, cy, 0.0, 0.0, 0.0, 1.0, 0.0]
    return msg


def depth_array(msg):
    """Return the float32 depth image of a 32FC1 ``Image``."""
    assert msg.encoding == '32FC1'
    return np.frombuffer(msg.data, dtype='<f4').reshape(msg.height, msg.width)


def spin_until(executor, predicate, timeout_s=10.0):
    """Spin ``executor`` until ``predicate()`` is true; return whether it became true."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if predicate():
            return True
        executor.spin_once(timeout_sec=0.02)
    return predicate()

