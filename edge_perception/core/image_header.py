"""Width and height of a PNG or JPEG read from its header, before anything decodes it.

A compressed frame states its size in a few header bytes (PNG's IHDR chunk, JPEG's SOF
segment); a decoder allocates what they state. A PNG of under 1 MB can state 30000x30000
pixels (900 MB of zeros compress a thousand to one), so the size is read here, from the bytes
alone, and checked against the node's limits before ``cv2.imdecode`` sees the frame. No
OpenCV, no rclpy: plain byte parsing, refusing anything it cannot read.
"""

import struct
import zlib

from edge_perception.core.image_codec import ImageFormatError

PNG_SIGNATURE = b'\x89PNG\r\n\x1a\n'
JPEG_START = b'\xff\xd8'
# PNG's largest width and height (2^31 - 1, the specification's limit).
_PNG_MAX_SIDE = 2**31 - 1
# Colour types and the bit depths each allows (PNG specification, IHDR).
_PNG_BIT_DEPTHS = {0: (1, 2, 4, 8, 16), 2: (8, 16), 3: (1, 2, 4, 8), 4: (8, 16), 6: (8, 16)}
# Frame headers libjpeg decodes: SOF0-3 (baseline, extended, progressive, lossless) with
# Huffman coding, SOF9-11 with arithmetic coding; and the ones it does not: hierarchical
# (differential) frames.
_JPEG_FRAMES = {0xC0, 0xC1, 0xC2, 0xC3, 0xC9, 0xCA, 0xCB}
_JPEG_HIERARCHICAL = {0xC5, 0xC6, 0xC7, 0xCD, 0xCE, 0xCF, 0xDE}  # SOF5-7, SOF13-15, DHP
_JPEG_SOS, _JPEG_EOI, _JPEG_TEM = 0xDA, 0xD9, 0x01
_JPEG_STANDALONE = {_JPEG_TEM, *range(0xD0, 0xD9)}  # TEM, RST0-7, SOI: no length field


class ImageHeaderError(ImageFormatError):
    """A compressed image whose header cannot be read, or states a size that is not one."""


def png_size(data):
    """Return ``(width, height)`` from a PNG's IHDR chunk (the first chunk, by the spec).

    :param data: the file's bytes (any buffer), from its signature on.
    :raises ImageHeaderError: no PNG signature, a truncated or corrupt IHDR (length, CRC),
        a zero or out-of-range size, or a colour type and bit depth PNG does not define.
    """
    header = bytes(memoryview(data)[:len(PNG_SIGNATURE) + 25])
    if not header.startswith(PNG_SIGNATURE):
        raise ImageHeaderError('not a PNG: its signature is missing')
    chunk = header[len(PNG_SIGNATURE):]
    if len(chunk) < 25:
        raise ImageHeaderError(f'truncated PNG header ({len(header)} bytes): IHDR is 25 bytes '
                               'after the signature')
    length, kind = struct.unpack('>I4s', chunk[:8])
    if kind != b'IHDR' or length != 13:
        raise ImageHeaderError(f'corrupt PNG header: the first chunk is {kind!r} of {length} '
                               "bytes, not 'IHDR' of 13")
    (crc,) = struct.unpack('>I', chunk[21:25])
    if zlib.crc32(chunk[4:21]) != crc:
        raise ImageHeaderError('corrupt PNG header: the IHDR checksum does not match')
    width, height, bit_depth, colour_type, compression, filtering, interlace = struct.unpack(
        '>IIBBBBB', chunk[8:21])
    if bit_depth not in _PNG_BIT_DEPTHS.get(colour_type, ()) or compression or filtering or \
            interlace > 1:
        raise ImageHeaderError(f'corrupt PNG header: colour type {colour_type}, bit depth '
                               f'{bit_depth}, compression {compression}, filter {filtering}, '
                               f'interlace {interlace} is not a PNG image')
    return _checked_size('PNG', width, height, _PNG_MAX_SIDE)


def jpeg_size(data):
    """Return ``(width, height)`` from a JPEG's frame header (SOFn), walking the marker
    segments before it (APPn such as EXIF, DQT, DHT, COM, ...) by their lengths.

    :param data: the file's bytes (any buffer), from its SOI marker on.
    :raises ImageHeaderError: no SOI, a segment running past the data, a scan before any
        frame header, a hierarchical JPEG (libjpeg decodes none), a height of 0 (to be given
        later by a DNL marker, which libjpeg does not support) or a width of 0.
    """
    view = memoryview(data).cast('B')
    if bytes(view[:2]) != JPEG_START:
        raise ImageHeaderError('not a JPEG: its start-of-image marker is missing')
    position = 2
    while True:
        # A marker is 0xFF, optionally more 0xFF fill bytes, then its code.
        if position < len(view) and view[position] != 0xFF:
            raise ImageHeaderError(f'corrupt JPEG header: byte 0x{view[position]:02X} at '
                                   f'{position} where a marker belongs')
        while position < len(view) and view[position] == 0xFF:
            position += 1
        if position >= len(view):
            raise _jpeg_truncated(view)
        marker = view[position]
        position += 1
        if marker in _JPEG_STANDALONE:
            continue
        if marker in (_JPEG_SOS, _JPEG_EOI) or marker == 0x00:
            raise ImageHeaderError(f'corrupt JPEG: marker 0x{marker:02X} at byte '
                                   f'{position - 1} comes before any frame header (SOF)')
        if position + 2 > len(view):
            raise _jpeg_truncated(view)
        (length,) = struct.unpack('>H', view[position:position + 2])
        if length < 2:
            raise ImageHeaderError(f'corrupt JPEG header: segment length {length} at byte '
                                   f'{position}')
        if position + length > len(view):
            raise _jpeg_truncated(view)
        if marker in _JPEG_HIERARCHICAL:
            raise ImageHeaderError(f'unsupported JPEG: hierarchical frame (marker 0x{marker:02X})'
                                   '; OpenCV decodes baseline, extended, progressive and '
                                   'lossless JPEG')
        if marker in _JPEG_FRAMES:
            if length < 8:
                raise ImageHeaderError(f'corrupt JPEG header: frame header of {length} bytes')
            height, width = struct.unpack('>HH', view[position + 3:position + 7])
            if height == 0:
                raise ImageHeaderError('unsupported JPEG: height 0 (to be given by a DNL '
                                       'marker after the first scan)')
            return _checked_size('JPEG', width, height, 0xFFFF)
        position += length


def compressed_image_size(codec, data):
    """Return ``(width, height)`` of compressed image ``data``.

    :param codec: 'png' or 'jpeg'.
    :raises ImageHeaderError: when the header cannot be read (see :func:`png_size`,
        :func:`jpeg_size`).
    """
    return {'png': png_size, 'jpeg': jpeg_size}[codec](data)


def _checked_size(codec, width, height, max_side):
    if not 0 < width <= max_side or not 0 < height <= max_side:
        raise ImageHeaderError(f'corrupt {codec} header: size {width}x{height}')
    return width, height


def _jpeg_truncated(view):
    return ImageHeaderError(f'truncated JPEG header ({len(view)} bytes): the data ends before '
                            'its frame header (SOF)')
