"""``camera_node``: a camera driver for webcams, video files and image folders.

Published: ``image`` (sensor_msgs/Image, rgb8) and ``camera_info`` (sensor_msgs/CameraInfo),
with the same header: the capture time (strictly increasing) and ``frame_id``; sensor-data QoS,
as camera drivers publish. Frames come from :mod:`edge_perception.camera.sources` (OpenCV's
``VideoCapture``), camera_info from a calibration file in camera_calibration's format, scaled
to the granted resolution, or a pinhole model of ``hfov`` without one.

A capture thread reads, paces and publishes (a device read blocks until the camera has a
frame); the main thread spins the node. The node finishes when a file or folder has played
to its end (exit code 0) or a device stops giving frames without ``reconnect`` (exit code 1).
"""

import threading

import rclpy
from rclpy.exceptions import ParameterException
from rclpy.executors import ExternalShutdownException, SingleThreadedExecutor
from rclpy.node import Node
from rclpy.qos import qos_profile_sensor_data
from rclpy.task import Future
from sensor_msgs.msg import CameraInfo, Image

from edge_perception.camera.calibration import (
    CalibrationError,
    CameraCalibration,
    load_calibration,
)
from edge_perception.camera.sources import (
    EndOfSource,
    FramePacer,
    MonotonicStamper,
    open_source,
    SourceError,
    SourceLost,
)
from edge_perception.messages import (
    calibrated_camera_info_msg,
    header_msg,
    image_msg,
)
from edge_perception.nodes.parameter_tables import CAMERA_PARAMETERS
from edge_perception.nodes.parameters import declare_parameters
from edge_perception.nodes.spinning import start_node

RECONNECT_PERIOD_S = 1.0
JOIN_TIMEOUT_S = 2.0
# Errors that stop the node at start with one clear message instead of a traceback.
CAMERA_START_ERRORS = (SourceError, CalibrationError, ParameterException, ValueError)


class CameraNode(Node):
    """Publishes frames of a device, video file or image folder with their camera_info.

    :ivar finished: a future whose result is the exit code, once the capture has ended.
    :raises SourceError: when the source cannot be opened.
    :raises CalibrationError: when the calibration cannot be read or does not fit the frames.
    """

    def __init__(self, **kwargs):
        super().__init__('camera', **kwargs)
        # Set first: rclpy destroys a node whose constructor failed when it shuts down.
        self._stopping = threading.Event()
        self._capture_thread = None
        self.parameter_values = values = declare_parameters(self, CAMERA_PARAMETERS)
        self.calibration = None
        if values['camera_info_url']:
            self.calibration = load_calibration(values['camera_info_url'])
        self.source = self._open_source()
        self.get_logger().info(self.source.granted.description)
        self._calibrations = {}
        granted = self.source.granted
        try:
            calibration = self._calibration_for(granted.width, granted.height)
        except CalibrationError:
            self.source.close()
            raise
        if not calibration.calibrated:
            self.get_logger().warning(
                f'no calibration (camera_info_url): camera_info is a pinhole model of '
                f"{values['hfov']:g} deg horizontal field of view, so depth-to-cloud geometry "
                'is approximate; calibrate with camera_calibration for metric clouds')
        elif (calibration.width, calibration.height) != \
                (self.calibration.width, self.calibration.height):
            self.get_logger().info(
                f"calibration '{self.calibration.camera_name}' "
                f'({self.calibration.width}x{self.calibration.height}) scaled to '
                f'{calibration.width}x{calibration.height} (K and P; principal point about '
                'pixel centres)')
        self.image_publisher = self.create_publisher(Image, 'image', qos_profile_sensor_data)
        self.camera_info_publisher = self.create_publisher(CameraInfo, 'camera_info',
                                                           qos_profile_sensor_data)
        self.frames_published = 0
        self.finished = Future()
        self.context.on_shutdown(self._stopping.set)
        self._capture_thread = threading.Thread(target=self._capture, daemon=True)
        self._capture_thread.start()

    def _open_source(self):
        values = self.parameter_values
        return open_source(str(values['device']), values['video'], values['images'],
                           values['width'], values['height'], values['fps'], values['rate'],
                           values['loop'])

    def _calibration_for(self, width, height):
        """Return the calibration of frames of ``width`` x ``height`` (made once per size)."""
        key = (width, height)
        if key not in self._calibrations:
            if self.calibration is None:
                self._calibrations[key] = CameraCalibration.from_horizontal_fov(
                    width, height, self.parameter_values['hfov'])
            else:
                self._calibrations[key] = self.calibration.scaled_to(width, height)
        return self._calibrations[key]

    def _capture(self):
        try:
            exit_code = self._capture_frames()
        except CalibrationError as error:
            self.get_logger().error(f'{error}; stopping')
            exit_code = 1
        except Exception as error:
            # Ctrl-C shuts the context down under a publish: that is the end, not a failure.
            if self.context.ok():
                self.get_logger().error(f'capture failed: {error!r}')
            exit_code = 1 if self.context.ok() else 0
        self.source.close()
        self.finished.set_result(exit_code)

    def _capture_frames(self):
        """Read, pace and publish until the source ends or the node stops; return the exit
        code.
        """
        # Waits between frames end early when the node stops.
        pacer = FramePacer(self.source.granted.rate_hz, sleep=self._stopping.wait) \
            if self.source.paced else None
        stamper = MonotonicStamper()
        awaited = self.parameter_values['wait_for_subscribers']
        while self.image_publisher.get_subscription_count() < awaited:
            if self._stopping.wait(0.01):
                return 0
        while not self._stopping.is_set():
            try:
                frame = self.source.read()
            except EndOfSource:
                self.get_logger().info(f'{self.source.granted.description}: played to the '
                                       f'end, {self.frames_published} frames published')
                return 0
            except SourceLost as error:
                if not self.parameter_values['reconnect']:
                    self.get_logger().error(f'{error}; exiting (reconnect: true waits for it)')
                    return 1
                self.get_logger().warning(f'{error}; reconnecting')
                if not self._reconnect():
                    return 0
                continue
            if pacer is not None:
                pacer.wait()
            self._publish(frame, stamper.stamp(self.get_clock().now().nanoseconds))
        return 0

    def _reconnect(self):
        """Reopen the source every :data:`RECONNECT_PERIOD_S` until it opens; return False
        when the node stops first.
        """
        self.source.close()
        while not self._stopping.wait(RECONNECT_PERIOD_S):
            try:
                self.source = self._open_source()
            except SourceError as error:
                self.get_logger().warning(f'still waiting: {error}', throttle_duration_sec=10.0)
                continue
            self.get_logger().info(f'reconnected: {self.source.granted.description}')
            return True
        return False

    def _publish(self, frame, stamp_ns):
        header = header_msg(stamp_ns, self.parameter_values['frame_id'])
        calibration = self._calibration_for(frame.shape[1], frame.shape[0])
        self.camera_info_publisher.publish(calibrated_camera_info_msg(calibration, header))
        self.image_publisher.publish(image_msg(frame, 'rgb8', header=header))
        self.frames_published += 1

    def destroy_node(self):
        self._stopping.set()
        if self._capture_thread is not None:
            # Bounded: a device read may block until its next frame, or for good when the
            # camera hangs (the thread is a daemon and dies with the process).
            self._capture_thread.join(timeout=JOIN_TIMEOUT_S)
        return super().destroy_node()


def spin_camera(node):
    """Spin ``node`` until its capture ends or the process is interrupted; destroy it and shut
    rclpy down.

    :return: the exit code: the capture's, or 0 after Ctrl-C.
    """
    executor = SingleThreadedExecutor()
    executor.add_node(node)
    exit_code = 0
    try:
        # Polled: the capture thread completes the future outside the executor.
        while not node.finished.done():
            executor.spin_once(timeout_sec=0.1)
        exit_code = node.finished.result()
    except (KeyboardInterrupt, ExternalShutdownException):
        pass
    finally:
        node.destroy_node()
        executor.shutdown()
        rclpy.try_shutdown()
    return exit_code


def main(args=None):
    """Run the camera node; the ``camera_node`` command."""
    node = start_node(CameraNode, CAMERA_START_ERRORS, 'camera', args)
    return 1 if node is None else spin_camera(node)
