"""Decoding a ``sensor_msgs/CompressedImage`` as image_transport's ``compressed`` plugin
publishes it, into pixels the pipeline takes.

No rclpy here: callers pass the message's ``format`` and ``data``. Formats understood:

* ``'jpeg'`` (or ``'jpg'``) and ``'png'``, as older publishers and many camera drivers write them;
* ``'<encoding>; <jpeg|png> compressed <encoding>'``, as the ``compressed`` plugin writes them:
  the original image's encoding, the codec, and what was compressed, e.g.
  ``'rgb8; jpeg compressed bgr8'``, ``'mono8; png compressed mono8'``,
  ``'mono16; png compressed mono16'``.

A frame is measured before it is decoded: its width and height are read from its header
(:mod:`~edge_perception.core.image_header`) and checked against the node's ``max_width`` and
``max_height``, so a small file that states a huge image never reaches ``cv2.imdecode``.

Images are decoded with OpenCV as the plugin's subscriber decodes them (``imdecode``, depth and
channels unchanged, EXIF orientation ignored) and come back with the encoding of their pixels:
'bgr8', 'bgra8', 'mono8', 'bgr16' or 'mono16'. The plugin's subscriber then reorders BGR to the
original encoding's order; the pipeline takes BGR as it is, so that copy is skipped.
"""

from dataclasses import dataclass
import sys

import cv2
import numpy as np

from edge_perception.core.image_codec import (
    check_frame_size,
    DEFAULT_MAX_SIDE,
    encoding_info,
    ImageFormatError,
    ImageFrame,
)
from edge_perception.core.image_header import compressed_image_size, ImageHeaderError

CODECS = {'jpeg': 'jpeg', 'jpg': 'jpeg', 'png': 'png'}
# A codec's first bytes, and the marker that ends a complete image (JPEG's EOI, PNG's IEND
# chunk): without it the data was truncated, which some decoders accept silently (OpenCV 4.8
# fills the missing JPEG rows with gray).
_SIGNATURES = {'jpeg': b'\xff\xd8\xff', 'png': b'\x89PNG\r\n\x1a\n'}
_END_MARKERS = {'jpeg': b'\xff\xd9', 'png': b'IEND'}
# Bytes at the end searched for the end marker: encoders may pad after it.
_END_SEARCH_BYTES = 64
_PIXEL_ENCODINGS = {
    (np.dtype(np.uint8), 1): 'mono8',
    (np.dtype(np.uint8), 3): 'bgr8',
    (np.dtype(np.uint8), 4): 'bgra8',
    (np.dtype(np.uint16), 1): 'mono16',
    (np.dtype(np.uint16), 3): 'bgr16',
}
_FORMAT_HELP = ("expected 'jpeg', 'png' or '<encoding>; <jpeg|png> compressed <encoding>' "
                "(image_transport's compressed transport)")


class CompressedImageError(ImageFormatError):
    """A CompressedImage that cannot be decoded: unknown format, corrupt or truncated data."""


@dataclass(frozen=True)
class CompressedFormat:
    """A parsed ``CompressedImage.format``.

    :param codec: 'jpeg' or 'png'.
    :param original_encoding: encoding of the image before compression; '' when not stated.
    :param compressed_encoding: encoding of the pixels that were compressed; '' when not stated.
    """

    codec: str
    original_encoding: str = ''
    compressed_encoding: str = ''


def parse_format(compressed_format):
    """Parse a ``CompressedImage.format`` string.

    :return: :class:`CompressedFormat`.
    :raises CompressedImageError: for a format that is not a JPEG or PNG one image_transport's
        ``compressed`` transport (or a camera driver) writes.
    """
    original, separator, rest = compressed_format.partition(';')
    if not separator:
        original, rest = '', compressed_format
    words = rest.lower().split()
    codec = CODECS.get(words[0]) if words else None
    if 'compresseddepth' in compressed_format.lower():
        raise CompressedImageError(
            f"CompressedImage format '{compressed_format}' is compressed_depth_image_transport's "
            'depth format, not a camera image')
    if codec is None or len(words) > 3 or (len(words) > 1 and words[1] != 'compressed'):
        raise CompressedImageError(
            f"unknown CompressedImage format '{compressed_format}'; {_FORMAT_HELP}")
    return CompressedFormat(codec, original.strip(), words[2] if len(words) == 3 else '')


def decode_compressed_image(compressed_format, data, max_width=DEFAULT_MAX_SIDE,
                            max_height=DEFAULT_MAX_SIDE):
    """Decode a ``sensor_msgs/CompressedImage`` given as its ``format`` and ``data`` fields.

    :param compressed_format: the ``format`` field, e.g. ``'rgb8; jpeg compressed bgr8'``.
    :param data: the ``data`` field (bytes, ``array.array('B')`` or another buffer).
    :param max_width: widest image decoded, pixels (read from the header first).
    :param max_height: tallest image decoded, pixels.
    :return: the :class:`~edge_perception.core.image_codec.ImageFrame` of the decoded pixels:
        its ``data`` is a new C-contiguous array for each image (OpenCV's Python ``imdecode``
        cannot decode into a given buffer; a new array is also what lets the pipeline share it
        with OpenVINO without a copy), its encoding 'bgr8', 'bgra8', 'mono8', 'bgr16' or
        'mono16', or the original encoding of data that is not a camera image (e.g. '16UC1'
        depth), which the pipeline refuses.
    :raises CompressedImageError: for an unknown format, data of another codec, an unreadable
        header, truncated or corrupt data, or pixels the pipeline cannot take (16-bit with
        alpha).
    :raises FrameTooLargeError: when the header states an image larger than the limits.
    """
    parsed = parse_format(compressed_format)
    buffer = np.frombuffer(data, dtype=np.uint8)
    signature = _SIGNATURES[parsed.codec]
    if buffer.size < len(signature) or buffer[:len(signature)].tobytes() != signature:
        raise CompressedImageError(
            f"CompressedImage data ({buffer.size} bytes) is not {parsed.codec.upper()} as its "
            f"format '{compressed_format}' says")
    try:
        width, height = compressed_image_size(parsed.codec, buffer)
    except ImageHeaderError as error:
        raise CompressedImageError(str(error)) from error
    check_frame_size(width, height, max_width, max_height)
    if _END_MARKERS[parsed.codec] not in buffer[-_END_SEARCH_BYTES:].tobytes():
        raise CompressedImageError(
            f'truncated {parsed.codec.upper()} ({buffer.size} bytes): its end marker is missing')
    try:
        image = cv2.imdecode(buffer, cv2.IMREAD_UNCHANGED)
    except cv2.error as error:  # e.g. more pixels than OpenCV's decoding limit
        raise CompressedImageError(f'cannot decode {parsed.codec.upper()}: {error}') from error
    if image is None or image.size == 0:
        raise CompressedImageError(f'corrupt {parsed.codec.upper()} ({buffer.size} bytes): '
                                   'OpenCV cannot decode it')
    channels = 1 if image.ndim == 2 else image.shape[2]
    encoding = _PIXEL_ENCODINGS.get((image.dtype, channels))
    if encoding is None:
        raise CompressedImageError(f'{parsed.codec.upper()} of {channels} channels of '
                                   f'{image.dtype} is not a supported camera image')
    height, width = image.shape[:2]
    return ImageFrame(height, width,
                      _data_encoding(parsed.original_encoding, image, channels) or encoding,
                      sys.byteorder == 'big', image.strides[0], image)


def _data_encoding(original_encoding, image, channels):
    """Return the original encoding when it names data that is not a camera image (depth)
    and fits the decoded pixels, so that it is refused as such; else ''.
    """
    try:
        info = encoding_info(original_encoding)
    except ImageFormatError:
        return ''
    if info.is_camera_image or info.dtype != image.dtype or info.channels != channels:
        return ''
    return original_encoding
