"""Building and reading the standard messages, one way for a live graph and for bag files.

Message classes come from a :class:`MessageTypes`: rclpy's generated classes for a live graph
(:func:`ros_types`, imported on first use, so this module loads without ROS), or a ``rosbags``
type store for bag files (:func:`bag_types`, no ROS needed). Both take every field as a keyword,
so one builder serves both; they differ only in what a ``uint8[]`` or ``float64[]`` field takes
(rclpy: ``bytes`` and lists, which it stores without a per-element copy; rosbags: numpy arrays).
"""

from dataclasses import dataclass
import importlib

import numpy as np

from edge_perception.core.image_codec import array_to_image_fields

NANOSECONDS_PER_SECOND = 1_000_000_000
DEFAULT_FRAME_ID = 'camera_optical_frame'

IMAGE_TYPE = 'sensor_msgs/msg/Image'
CAMERA_INFO_TYPE = 'sensor_msgs/msg/CameraInfo'
POINT_CLOUD_TYPE = 'sensor_msgs/msg/PointCloud2'
POINT_FIELD_TYPE = 'sensor_msgs/msg/PointField'
REGION_OF_INTEREST_TYPE = 'sensor_msgs/msg/RegionOfInterest'
HEADER_TYPE = 'std_msgs/msg/Header'
TIME_TYPE = 'builtin_interfaces/msg/Time'


def stamp_ns(stamped):
    """Return a stamp in nanoseconds.

    :param stamped: a ``builtin_interfaces/Time``, a ``std_msgs/Header``, or a message with a
        header (rclpy or rosbags).
    """
    stamp = getattr(stamped, 'header', stamped)
    stamp = getattr(stamp, 'stamp', stamp)
    return stamp.sec * NANOSECONDS_PER_SECOND + stamp.nanosec


def header_stamp_ns(message):
    """Return a message's header stamp in nanoseconds, or None when it has no header."""
    return stamp_ns(message) if hasattr(message, 'header') else None


@dataclass(frozen=True)
class MessageTypes:
    """Where message classes come from, and what their array fields take.

    :param lookup: ``type name -> class``, e.g. ``'sensor_msgs/msg/Image'``.
    :param byte_array: ``bytes-like -> value`` for a ``uint8[]`` field.
    :param float_array: ``sequence -> value`` for a ``float64[]`` field.
    """

    lookup: object
    byte_array: object
    float_array: object

    def __getitem__(self, type_name):
        return self.lookup(type_name)


def message_class(type_name):
    """Return the rclpy message class of a type name such as 'sensor_msgs/msg/Image'."""
    package, interface, name = type_name.split('/')
    return getattr(importlib.import_module(f'{package}.{interface}'), name)


def ros_types():
    """Return the :class:`MessageTypes` of rclpy's generated classes.

    ``uint8[]`` data passes as it is: rclpy takes ``bytes`` and ``array.array('B')`` without a
    per-element copy (a numpy array or memoryview would be iterated element by element).
    """
    return MessageTypes(message_class, lambda data: data,
                        lambda values: [float(value) for value in values])


def bag_types(typestore=None):
    """Return the :class:`MessageTypes` of a ``rosbags`` type store (default: ROS 2 Kilted's)."""
    if typestore is None:
        from rosbags.typesys import get_typestore, Stores
        typestore = get_typestore(Stores.ROS2_KILTED)
    return MessageTypes(typestore.types.__getitem__,
                        lambda data: np.frombuffer(data, dtype=np.uint8),
                        lambda values: np.asarray(values, dtype=np.float64))


def time_msg(stamp, types=None):
    """Return a ``builtin_interfaces/Time`` for a stamp in nanoseconds."""
    types = types or ros_types()
    sec, nanosec = divmod(int(stamp), NANOSECONDS_PER_SECOND)
    return types[TIME_TYPE](sec=sec, nanosec=nanosec)


def header_msg(stamp=0, frame_id=DEFAULT_FRAME_ID, types=None):
    """Return a ``std_msgs/Header``; ``stamp`` in nanoseconds."""
    types = types or ros_types()
    return types[HEADER_TYPE](stamp=time_msg(stamp, types), frame_id=frame_id)


def image_msg(array, encoding, stamp=0, frame_id=DEFAULT_FRAME_ID, types=None, header=None):
    """Return a ``sensor_msgs/Image`` holding ``array`` without row padding.

    :param array: H x W or H x W x C array matching ``encoding`` (planar YUV: its H*3/2 x W
        rows).
    :param stamp: header stamp in nanoseconds (unless ``header`` is given).
    :param header: a header to use as it is (the input's, for an output image).
    """
    return image_msg_from_fields(header or header_msg(stamp, frame_id, types),
                                 array_to_image_fields(array, encoding), types)


def image_msg_from_fields(header, frame, types=None):
    """Return a ``sensor_msgs/Image`` of an
    :class:`~edge_perception.core.image_codec.ImageFrame` (as
    :func:`~edge_perception.core.image_codec.array_to_image_fields` or
    :meth:`~edge_perception.core.image_codec.ImageBuffer.frame` return it).
    """
    types = types or ros_types()
    return types[IMAGE_TYPE](header=header, height=frame.height, width=frame.width,
                             encoding=frame.encoding, is_bigendian=int(frame.is_bigendian),
                             step=frame.step, data=types.byte_array(frame.data))


def camera_info_msg(intrinsics, stamp=0, frame_id=DEFAULT_FRAME_ID, types=None, header=None):
    """Return the ``sensor_msgs/CameraInfo`` of an undistorted pinhole camera.

    :param intrinsics: :class:`~edge_perception.core.depth_geometry.PinholeIntrinsics`.
    :return: ``plumb_bob`` with zero distortion, ``R`` = identity, ``P`` = ``[K | 0]``.
    """
    types = types or ros_types()
    camera_matrix = intrinsics.matrix()
    projection = np.zeros((3, 4))
    projection[:, :3] = camera_matrix
    return types[CAMERA_INFO_TYPE](
        header=header or header_msg(stamp, frame_id, types),
        height=intrinsics.height, width=intrinsics.width, distortion_model='plumb_bob',
        d=types.float_array(np.zeros(5)), k=types.float_array(camera_matrix.reshape(9)),
        r=types.float_array(np.eye(3).reshape(9)), p=types.float_array(projection.reshape(12)),
        binning_x=0, binning_y=0,
        roi=types[REGION_OF_INTEREST_TYPE](x_offset=0, y_offset=0, height=0, width=0,
                                           do_rectify=False))


def calibrated_camera_info_msg(calibration, header, types=None):
    """Return the ``sensor_msgs/CameraInfo`` of a calibration, as a camera driver publishes it.

    :param calibration: :class:`~edge_perception.camera.calibration.CameraCalibration` (its
        size is the images').
    :param header: the header of the image it describes.
    """
    types = types or ros_types()
    return types[CAMERA_INFO_TYPE](
        header=header, height=calibration.height, width=calibration.width,
        distortion_model=calibration.distortion_model, d=types.float_array(calibration.d),
        k=types.float_array(calibration.k), r=types.float_array(calibration.r),
        p=types.float_array(calibration.p), binning_x=0, binning_y=0,
        roi=types[REGION_OF_INTEREST_TYPE](x_offset=0, y_offset=0, height=0, width=0,
                                           do_rectify=False))


def cloud_msg(cloud, header, types=None):
    """Return the ``sensor_msgs/PointCloud2`` of a packed cloud.

    :param cloud: :class:`~edge_perception.core.pointcloud_layout.PackedCloud`.
    :param header: the header to use (the input image's).
    """
    types = types or ros_types()
    point_field = types[POINT_FIELD_TYPE]
    return types[POINT_CLOUD_TYPE](
        header=header, height=cloud.height, width=cloud.width,
        fields=[point_field(name=field.name, offset=field.offset, datatype=field.datatype,
                            count=field.count) for field in cloud.fields],
        is_bigendian=cloud.is_bigendian, point_step=cloud.point_step, row_step=cloud.row_step,
        data=types.byte_array(cloud.data),
        is_dense=cloud.is_dense)
