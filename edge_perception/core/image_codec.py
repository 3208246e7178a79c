"""Conversion between the raw fields of a ``sensor_msgs/Image`` and numpy arrays, in every
common camera encoding.

No rclpy here: callers pass the message fields, so the same code serves live messages,
bag records and tests. Reading is zero-copy whenever the buffer layout allows it.

Encodings are named as ``sensor_msgs/image_encodings`` names them. Those that are not already
8-bit RGB, BGR, RGBA, BGRA or gray (16-bit, YUV and Bayer) are turned into 8-bit images with
OpenCV as ROS 2's ``cv_bridge`` converts them (:func:`convert_camera_image`).
"""

import array
from dataclasses import dataclass, field
from typing import NamedTuple

import cv2
import numpy as np

# Default largest width and height of a camera frame a node takes (parameters max_width and
# max_height).
DEFAULT_MAX_SIDE = 4096


class ImageFormatError(ValueError):
    """An Image message whose fields cannot describe a valid image of a supported encoding."""


class FrameTooLargeError(ImageFormatError):
    """A frame larger than a node accepts (``max_width`` x ``max_height``)."""


def check_frame_size(width, height, max_width, max_height):
    """Refuse a frame larger than ``max_width`` x ``max_height`` pixels, before anything is
    allocated for it.

    :raises FrameTooLargeError: naming the frame's size and the limits.
    """
    if width > max_width or height > max_height:
        raise FrameTooLargeError(f'{width}x{height} frame is larger than {max_width}x'
                                 f'{max_height} (max_width x max_height)')


class ImageFrame(NamedTuple):
    """The pixels of one ``sensor_msgs/Image``: its fields but the header, in the message's order.

    The one shape a frame has between a message and an array: what
    :func:`array_to_image_fields`, :meth:`ImageBuffer.frame` and compressed decoding return,
    what :meth:`~edge_perception.core.pipeline.ImagePipeline.process` takes and what
    :func:`~edge_perception.messages.image_msg_from_fields` builds a message of.

    :param data: the buffer (bytes, ``array.array('B')``, a numpy array or anything with the
        buffer protocol), ``step`` bytes a row.
    """

    height: int
    width: int
    encoding: str
    is_bigendian: bool
    step: int
    data: object

    @classmethod
    def of(cls, message):
        """Return the frame of an Image message object (rclpy's or a ``rosbags`` one)."""
        return cls(message.height, message.width, message.encoding, bool(message.is_bigendian),
                   message.step, message.data)

    @property
    def image(self):
        """The pixels as an array (:func:`image_to_array`; a view where the layout allows)."""
        return image_to_array(*self)


@dataclass(frozen=True)
class EncodingInfo:
    """How one ``sensor_msgs/Image`` encoding lays out its pixels, and what they are.

    :param channels: values per element of the array :func:`image_to_array` returns: per pixel
        for packed encodings (2 for 4:2:2 YUV: a Y and, alternately, a U or a V), 1 for Bayer
        and planar 4:2:0 YUV.
    :param dtype: numpy type of one value (native byte order).
    :param color_order: order of the colour channels ('RGB', 'BGR', 'GRAY', 'RGBA', 'BGRA') of
        an RGB, BGR or gray camera image (8 or 16 bits); None for YUV and Bayer, and for data
        that is not a camera image, such as depth.
    :param opencv_codes: for YUV and Bayer: the OpenCV ``cvtColor`` code to each of 'RGB',
        'BGR' and 'GRAY'.
    :param subsampling: chroma subsampling ``(horizontal, vertical)``: the width and height
        must be multiples of these.
    :param planar: 4:2:0 planes in one buffer: ``height`` rows of Y, then ``height / 2`` rows of
        chroma, so the buffer holds ``height * 3 / 2`` rows of ``step`` bytes.
    :param padded_rows: whether ``step`` may exceed a row (I420's half-width chroma rows have
        no agreed stride, so its rows must be unpadded).
    """

    channels: int
    dtype: np.dtype
    color_order: str | None
    opencv_codes: dict = field(default_factory=dict)
    subsampling: tuple = (1, 1)
    planar: bool = False
    padded_rows: bool = True

    @property
    def pixel_bytes(self):
        """Bytes of one element of a row (a pixel, or a Y value of a planar encoding)."""
        return self.channels * np.dtype(self.dtype).itemsize

    @property
    def is_camera_image(self):
        """True for camera images, False for data such as depth (16UC1, 32FC1)."""
        return self.color_order is not None or bool(self.opencv_codes)

    @property
    def is_direct(self):
        """True when the preprocessing takes the pixels as they are (8-bit RGB, BGR, gray)."""
        return self.color_order is not None and self.dtype == np.uint8


def _opencv_codes(template):
    """OpenCV codes to RGB, BGR and GRAY from a name template such as 'COLOR_YUV2{}_YUY2'."""
    return {order: getattr(cv2, template.format(order)) for order in ('RGB', 'BGR', 'GRAY')}


_U8, _U16, _F32 = np.dtype(np.uint8), np.dtype(np.uint16), np.dtype(np.float32)
_YUYV = EncodingInfo(2, _U8, None, _opencv_codes('COLOR_YUV2{}_YUY2'), subsampling=(2, 1))
_UYVY = EncodingInfo(2, _U8, None, _opencv_codes('COLOR_YUV2{}_UYVY'), subsampling=(2, 1))

ENCODINGS = {
    'rgb8': EncodingInfo(3, _U8, 'RGB'),
    'bgr8': EncodingInfo(3, _U8, 'BGR'),
    'rgba8': EncodingInfo(4, _U8, 'RGBA'),
    'bgra8': EncodingInfo(4, _U8, 'BGRA'),
    'mono8': EncodingInfo(1, _U8, 'GRAY'),
    '8UC1': EncodingInfo(1, _U8, 'GRAY'),
    '8UC3': EncodingInfo(3, _U8, 'BGR'),
    'mono16': EncodingInfo(1, _U16, 'GRAY'),
    'rgb16': EncodingInfo(3, _U16, 'RGB'),
    'bgr16': EncodingInfo(3, _U16, 'BGR'),
    # 4:2:2 packed YUV. 'yuv422' is UYVY (cv_bridge converts it with the *_UYVY codes);
    # 'yuv422' and 'yuv422_yuy2' are the older names of 'uyvy' and 'yuyv'.
    'yuyv': _YUYV,
    'yuv422_yuy2': _YUYV,
    'uyvy': _UYVY,
    'yuv422': _UYVY,
    # 4:2:0 planar YUV: a Y plane, then interleaved UV (NV12) or VU (NV21) rows, or a U plane
    # then a V plane (I420, which sensor_msgs does not name; GStreamer and V4L2 do).
    'nv12': EncodingInfo(1, _U8, None, _opencv_codes('COLOR_YUV2{}_NV12'), (2, 2), True),
    'nv21': EncodingInfo(1, _U8, None, _opencv_codes('COLOR_YUV2{}_NV21'), (2, 2), True),
    'i420': EncodingInfo(1, _U8, None, _opencv_codes('COLOR_YUV2{}_I420'), (2, 2), True,
                         padded_rows=False),
    # OpenCV names a Bayer pattern after the 2x2 block starting at the second row and column,
    # so the first row's colours are shifted: ROS's RGGB is OpenCV's BG, and so on (as
    # cv_bridge and image_proc map them).
    'bayer_rggb8': EncodingInfo(1, _U8, None, _opencv_codes('COLOR_BayerBG2{}')),
    'bayer_bggr8': EncodingInfo(1, _U8, None, _opencv_codes('COLOR_BayerRG2{}')),
    'bayer_gbrg8': EncodingInfo(1, _U8, None, _opencv_codes('COLOR_BayerGR2{}')),
    'bayer_grbg8': EncodingInfo(1, _U8, None, _opencv_codes('COLOR_BayerGB2{}')),
    '16UC1': EncodingInfo(1, _U16, None),
    '32FC1': EncodingInfo(1, _F32, None),
}

# Encodings the preprocessing takes as they are (8-bit RGB, BGR, RGBA, BGRA and gray).
COLOR_ENCODINGS = tuple(name for name, info in ENCODINGS.items() if info.is_direct)
CAMERA_ENCODINGS = tuple(name for name, info in ENCODINGS.items() if info.is_camera_image)
# The 8-bit encoding of pixels in each order, what the other camera encodings are converted to.
EIGHT_BIT_ENCODINGS = {'RGB': 'rgb8', 'BGR': 'bgr8', 'GRAY': 'mono8'}
# cv_bridge scales 16-bit to 8-bit images by 255 / 65535 (convertTo, rounding to nearest).
SIXTEEN_TO_EIGHT_BITS = 255.0 / 65535.0

# Above this many pixels a frame is treated as corrupt rather than allocated (16k x 16k).
MAX_PIXELS = 1 << 28


def encoding_info(encoding):
    """Return the :class:`EncodingInfo` of ``encoding`` or raise :class:`ImageFormatError`."""
    try:
        return ENCODINGS[encoding]
    except KeyError:
        raise ImageFormatError(
            f"unsupported encoding '{encoding}'; supported: {', '.join(ENCODINGS)}") from None


def camera_encoding_info(encoding):
    """Return the :class:`EncodingInfo` of a camera image encoding.

    :raises ImageFormatError: for an unsupported encoding, or one of data that is not a camera
        image (depth: 16UC1, 32FC1).
    """
    info = encoding_info(encoding)
    if not info.is_camera_image:
        raise ImageFormatError(
            f"'{encoding}' is not a camera image encoding (it holds data such as depth); "
            f"camera encodings: {', '.join(CAMERA_ENCODINGS)}")
    return info


def image_to_array(height, width, encoding, is_bigendian, step, data):
    """View the pixel buffer of an Image message as an array.

    The array is ``(height, width[, channels])``, except for planar 4:2:0 YUV (nv12, nv21,
    i420): ``(height * 3 / 2, width)``, the Y plane then the chroma rows, as OpenCV takes them.
    Rows padded beyond ``width`` pixels (``step`` larger than a row) are skipped with strides,
    and big-endian data is byte-swapped, so the result may be a non-contiguous view or a copy.

    :param height: image rows.
    :param width: image columns.
    :param encoding: ``sensor_msgs/image_encodings`` name.
    :param is_bigendian: byte order flag of the message (only matters for multi-byte types).
    :param step: bytes per row, padding included (per Y row for planar YUV).
    :param data: the buffer (bytes, ``array.array('B')`` or anything with the buffer protocol).
    :raises ImageFormatError: on an unsupported encoding, inconsistent sizes, or a width or
        height that the encoding's chroma subsampling does not allow.
    """
    info = encoding_info(encoding)
    if height <= 0 or width <= 0:
        raise ImageFormatError(f'zero-sized image ({width}x{height})')
    if height * width > MAX_PIXELS:
        raise ImageFormatError(f'image of {width}x{height} pixels exceeds the supported size')
    _check_subsampling(encoding, info, height, width)
    row_bytes = width * info.pixel_bytes
    if step < row_bytes:
        raise ImageFormatError(
            f'step {step} is smaller than one row of {width} {encoding} pixels ({row_bytes} bytes)')
    if step != row_bytes and not info.padded_rows:
        raise ImageFormatError(f'step {step} must equal one row of {width} {encoding} pixels '
                               f'({row_bytes} bytes): {encoding} rows cannot be padded')
    buffer = np.frombuffer(data, dtype=np.uint8)
    rows = height * 3 // 2 if info.planar else height
    if buffer.size != step * rows:
        expected = f'step x height x 3/2 = {step} x {height} x 3/2' if info.planar else \
            f'step x height = {step} x {height}'
        raise ImageFormatError(f'data holds {buffer.size} bytes but {expected} = {step * rows}')
    dtype = info.dtype.newbyteorder('>' if is_bigendian else '<')
    if step % dtype.itemsize:
        raise ImageFormatError(f'step {step} is not a multiple of the {encoding} value size')
    values = np.lib.stride_tricks.as_strided(
        buffer.view(dtype),
        shape=(rows, width, info.channels),
        strides=(step, info.pixel_bytes, dtype.itemsize),
        writeable=buffer.flags.writeable)
    if info.channels == 1:
        values = values[:, :, 0]
    if not dtype.isnative:
        values = values.astype(info.dtype)
    return values


def _check_subsampling(encoding, info, height, width):
    across, down = info.subsampling
    if width % across or height % down:
        if down > 1:
            rule = f'an even width and height (its chroma covers {across}x{down} pixel blocks)'
        else:
            rule = 'an even width (its chroma covers pairs of pixels)'
        raise ImageFormatError(f'{encoding} needs {rule}; got {width}x{height}')


def message_to_array(message):
    """:func:`image_to_array` of an Image message object (rclpy's or a ``rosbags`` one)."""
    return ImageFrame.of(message).image


def array_to_image_fields(array, encoding):
    """Pack an array into the :class:`ImageFrame` of an Image message.

    ``data`` is ``bytes`` because assigning bytes to a ``uint8[]`` message field is about 100
    times faster in rclpy than assigning an array.

    :param array: ``(height, width)`` or ``(height, width, channels)`` array; for planar YUV
        ``(height * 3 / 2, width)``, as :func:`image_to_array` returns it.
    :param encoding: target encoding; its value type and channel count must match the array.
    :raises ImageFormatError: when the array does not fit the encoding.
    """
    info = encoding_info(encoding)
    if array.ndim == 2:
        array = array[:, :, None]
    if array.ndim != 3 or array.shape[2] != info.channels:
        raise ImageFormatError(
            f'array of shape {array.shape} does not fit {encoding} ({info.channels} channels)')
    if array.dtype != info.dtype:
        raise ImageFormatError(f'array of {array.dtype} does not fit {encoding} ({info.dtype})')
    rows, width = array.shape[:2]
    height = rows * 2 // 3 if info.planar else rows
    if info.planar and rows != height * 3 // 2:
        raise ImageFormatError(f'array of {rows} rows does not fit {encoding} (height x 3/2 '
                               'rows: a Y plane, then half as many chroma rows)')
    data = np.ascontiguousarray(array, dtype=info.dtype.newbyteorder('<')).tobytes()
    return ImageFrame(height, width, encoding, False, width * info.pixel_bytes, data)


# OpenCV codes between the channel orders of 8-bit images (cv_bridge's getConversionCode).
COLOR_CONVERSIONS = {
    ('RGB', 'BGR'): cv2.COLOR_RGB2BGR,
    ('BGR', 'RGB'): cv2.COLOR_BGR2RGB,
    ('RGBA', 'RGB'): cv2.COLOR_RGBA2RGB,
    ('RGBA', 'BGR'): cv2.COLOR_RGBA2BGR,
    ('BGRA', 'BGR'): cv2.COLOR_BGRA2BGR,
    ('BGRA', 'RGB'): cv2.COLOR_BGRA2RGB,
    ('GRAY', 'RGB'): cv2.COLOR_GRAY2RGB,
    ('GRAY', 'BGR'): cv2.COLOR_GRAY2BGR,
    ('RGB', 'GRAY'): cv2.COLOR_RGB2GRAY,
    ('BGR', 'GRAY'): cv2.COLOR_BGR2GRAY,
    ('RGBA', 'GRAY'): cv2.COLOR_RGBA2GRAY,
    ('BGRA', 'GRAY'): cv2.COLOR_BGRA2GRAY,
}


def convert_camera_image(image, encoding, color_order, out=None):
    """Return a camera image as 8-bit pixels in ``color_order``, as ``cv_bridge`` converts it
    (``toCvCopy(msg, 'rgb8')``, ``'bgr8'`` or ``'mono8'``).

    16-bit values are scaled by 255/65535 and rounded to the nearest level; YUV is converted
    with OpenCV's BT.601 video-range codes and Bayer patterns with its bilinear demosaicing.

    :param image: array as :func:`image_to_array` returns it.
    :param encoding: its encoding (a camera image encoding).
    :param color_order: 'RGB', 'BGR' or 'GRAY'.
    :param out: uint8 array of the result's shape to write into, or None for a new array.
    :return: ``height x width x 3`` uint8 array, ``height x width`` for 'GRAY' (``out`` when
        given).
    :raises ImageFormatError: for an encoding that is not a camera image.
    """
    info = camera_encoding_info(encoding)
    if color_order not in EIGHT_BIT_ENCODINGS:
        raise ValueError(f"color_order '{color_order}' must be one of: "
                         f"{', '.join(EIGHT_BIT_ENCODINGS)}")
    if info.opencv_codes:
        return cv2.cvtColor(image, info.opencv_codes[color_order], dst=out)
    conversion = COLOR_CONVERSIONS.get((info.color_order, color_order))
    if info.dtype != np.uint8:
        image = cv2.convertScaleAbs(image, dst=out if conversion is None else None,
                                    alpha=SIXTEEN_TO_EIGHT_BITS)
        if conversion is None:
            return image
    if conversion is not None:
        return cv2.cvtColor(image, conversion, dst=out)
    if out is None:
        return image.copy()
    np.copyto(out, image)
    return out


def as_rgb8(image, encoding, out=None):
    """Return a ``height x width x 3`` uint8 RGB image of a camera image array (e.g. to colour
    a point cloud), for any camera encoding.

    Without ``out``, 8-bit RGB, BGR, RGBA and BGRA images give a view (gray a copy); the other
    encodings are converted (:func:`convert_camera_image`).

    :param image: array as :func:`image_to_array` returns it.
    :param encoding: its encoding (a camera image encoding).
    :param out: ``height x width x 3`` uint8 array to write into, or None.
    :raises ImageFormatError: for an encoding that is not a camera image (depth).
    """
    info = camera_encoding_info(encoding)
    if out is not None or not info.is_direct:
        return convert_camera_image(image, encoding, 'RGB', out)
    if info.color_order == 'GRAY':
        return np.repeat(image.reshape(image.shape[0], image.shape[1], 1), 3, axis=2)
    channel_index = {'RGB': [0, 1, 2], 'RGBA': [0, 1, 2], 'BGR': [2, 1, 0], 'BGRA': [2, 1, 0]}
    return image[:, :, channel_index[info.color_order]]


class ImageBuffer:
    """Pixel memory for one published image stream, reused from frame to frame.

    The memory is an ``array.array('B')``, which rclpy takes into a ``uint8[]`` field without
    copying: write the pixels through :meth:`array`, then build the message of :meth:`frame`
    and publish it before the next frame (rclpy serialises synchronously).
    """

    def __init__(self, encoding):
        self.encoding = encoding
        self._info = encoding_info(encoding)
        self._data = array.array('B')
        self._array = np.empty((0, 0, self._info.channels), dtype=self._info.dtype)

    def array(self, height, width):
        """Return the writable ``height x width[ x channels]`` array of the next frame."""
        if self._array.shape[:2] != (height, width):
            self._data = array.array('B', bytes(height * width * self._info.pixel_bytes))
            self._array = np.frombuffer(self._data, dtype=self._info.dtype.newbyteorder('<'))
            self._array = self._array.reshape(height, width, self._info.channels)
        return self._array[:, :, 0] if self._info.channels == 1 else self._array

    def frame(self):
        """Return the :class:`ImageFrame` of the buffer's pixels (its memory, not a copy)."""
        height, width = self._array.shape[:2]
        return ImageFrame(height, width, self.encoding, False, width * self._info.pixel_bytes,
                          self._data)
