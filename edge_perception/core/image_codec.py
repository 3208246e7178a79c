"""Conversion between the raw fields of a ``sensor_msgs/Image`` and numpy arrays.

No rclpy here: callers pass the message fields, so the same code serves live messages,
bag records and tests. Reading is zero-copy whenever the buffer layout allows it.
"""

import array
from dataclasses import dataclass

import numpy as np


class ImageFormatError(ValueError):
    """An Image message whose fields cannot describe a valid image of a supported encoding."""


@dataclass(frozen=True)
class EncodingInfo:
    """How one ``sensor_msgs/Image`` encoding lays out a pixel.

    :param channels: values per pixel.
    :param dtype: numpy type of one value (native byte order).
    :param color_order: order of the colour channels ('RGB', 'BGR', 'GRAY', 'RGBA', 'BGRA'),
        or None for non-colour data such as depth.
    """

    channels: int
    dtype: np.dtype
    color_order: str | None

    @property
    def pixel_bytes(self):
        return self.channels * np.dtype(self.dtype).itemsize


ENCODINGS = {
    'rgb8': EncodingInfo(3, np.dtype(np.uint8), 'RGB'),
    'bgr8': EncodingInfo(3, np.dtype(np.uint8), 'BGR'),
    'rgba8': EncodingInfo(4, np.dtype(np.uint8), 'RGBA'),
    'bgra8': EncodingInfo(4, np.dtype(np.uint8), 'BGRA'),
    'mono8': EncodingInfo(1, np.dtype(np.uint8), 'GRAY'),
    '8UC1': EncodingInfo(1, np.dtype(np.uint8), 'GRAY'),
    '8UC3': EncodingInfo(3, np.dtype(np.uint8), 'BGR'),
    'mono16': EncodingInfo(1, np.dtype(np.uint16), None),
    '16UC1': EncodingInfo(1, np.dtype(np.uint16), None),
    '32FC1': EncodingInfo(1, np.dtype(np.float32), None),
}

COLOR_ENCODINGS = tuple(name for name, info in ENCODINGS.items()
                        if info.color_order is not None)

# Above this many pixels a frame is treated as corrupt rather than allocated (16k x 16k).
MAX_PIXELS = 1 << 28


def encoding_info(encoding):
    """Return the :class:`EncodingInfo` of ``encoding`` or raise :class:`ImageFormatError`."""
    try:
        return ENCODINGS[encoding]
    except KeyError:
        raise ImageFormatError(
            f"unsupported encoding '{encoding}'; supported: {', '.join(ENCODINGS)}") from None


def image_to_array(height, width, encoding, is_bigendian, step, data):
    """View the pixel buffer of an Image message as an ``(height, width[, channels])`` array.

    Rows padded beyond ``width`` pixels (``step`` larger than a row) are skipped with strides,
    and big-endian data is byte-swapped, so the result may be a non-contiguous view or a copy.

    :param height: image rows.
    :param width: image columns.
    :param encoding: ``sensor_msgs/image_encodings`` name.
    :param is_bigendian: byte order flag of the message (only matters for multi-byte types).
    :param step: bytes per row, padding included.
    :param data: the buffer (bytes, ``array.array('B')`` or anything with the buffer protocol).
    :raises ImageFormatError: on an unsupported encoding or inconsistent sizes.
    """
    info = encoding_info(encoding)
    if height <= 0 or width <= 0:
        raise ImageFormatError(f'zero-sized image ({width}x{height})')
    if height * width > MAX_PIXELS:
        raise ImageFormatError(f'image of {width}x{height} pixels exceeds the supported size')
    row_bytes = width * info.pixel_bytes
    if step < row_bytes:
        raise ImageFormatError(
            f'step {step} is smaller than one row of {width} {encoding} pixels ({row_bytes} bytes)')
    buffer = np.frombuffer(data, dtype=np.uint8)
    if buffer.size != step * height:
        raise ImageFormatError(
            f'data holds {buffer.size} bytes but step x height = {step} x {height} = '
            f'{step * height}')
    dtype = info.dtype.newbyteorder('>' if is_bigendian else '<')
    if step % dtype.itemsize:
        raise ImageFormatError(f'step {step} is not a multiple of the {encoding} value size')
    values = np.lib.stride_tricks.as_strided(
        buffer.view(dtype),
        shape=(height, width, info.channels),
        strides=(step, info.pixel_bytes, dtype.itemsize),
        writeable=buffer.flags.writeable)
    if info.channels == 1:
        values = values[:, :, 0]
    if not dtype.isnative:
        values = values.astype(info.dtype)
    return values


def message_to_array(message):
    """:func:`image_to_array` of an Image message object (rclpy's or a ``rosbags`` one)."""
    return image_to_array(message.height, message.width, message.encoding,
                          bool(message.is_bigendian), message.step, message.data)


def array_to_image_fields(array, encoding):
    """Pack an array into Image fields: ``(height, width, step, is_bigendian, data)``.

    ``data`` is ``bytes`` because assigning bytes to a ``uint8[]`` message field is about 100
    times faster in rclpy than assigning an array.

    :param array: ``(height, width)`` or ``(height, width, channels)`` array.
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
    height, width = array.shape[:2]
    data = np.ascontiguousarray(array, dtype=info.dtype.newbyteorder('<')).tobytes()
    return height, width, width * info.pixel_bytes, False, data


def as_rgb8(image, encoding):
    """Return a ``height x width x 3`` uint8 RGB view or copy of a camera image array.

    :param image: array as returned by :func:`image_to_array`.
    :param encoding: its encoding (a colour or mono 8-bit encoding).
    """
    order = encoding_info(encoding).color_order
    if order is None or image.dtype != np.uint8:
        raise ImageFormatError(f"'{encoding}' is not an 8-bit camera image encoding")
    if order == 'GRAY':
        return np.repeat(image.reshape(image.shape[0], image.shape[1], 1), 3, axis=2)
    channel_index = {'RGB': [0, 1, 2], 'RGBA': [0, 1, 2], 'BGR': [2, 1, 0], 'BGRA': [2, 1, 0]}
    return image[:, :, channel_index[order]]


class ImageBuffer:
    """Pixel memory for one published image stream, reused from frame to frame.

    The memory is an ``array.array('B')``, which rclpy takes into a ``uint8[]`` field without
    copying: write the pixels through :meth:`array`, then assign :meth:`fields` to the
    message and publish it before the next frame (rclpy serialises synchronously).
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

    def fields(self):
        """Return ``(height, width, step, is_bigendian, data)`` for the Image message."""
        height, width = self._array.shape[:2]
        return height, width, width * self._info.pixel_bytes, False, self._data
