"""PNG and JPEG sizes read from their headers, before anything decodes them."""

import struct

import cv2
import numpy as np
import pytest

from edge_perception.core.compressed_image import CompressedImageError, decode_compressed_image
from edge_perception.core.image_codec import FrameTooLargeError, ImageFormatError
from edge_perception.core.image_header import (
    compressed_image_size,
    ImageHeaderError,
    jpeg_size,
    png_size,
)

from compressed_frames import png_chunk, png_of_zeros


def encoded(extension, image, parameters=()):
    ok, data = cv2.imencode(extension, image, list(parameters))
    assert ok
    return data.tobytes()


def frame(height, width, channels=3):
    return np.random.default_rng(0).integers(0, 256, (height, width, channels), np.uint8)


@pytest.mark.parametrize('height, width, channels', [(48, 64, 3), (1, 1, 1), (1080, 1920, 4),
                                                     (7, 4099, 1)])
def test_png_size_is_what_opencv_writes(height, width, channels):
    assert png_size(encoded('.png', frame(height, width, channels))) == (width, height)


@pytest.mark.parametrize('parameters', [(), (cv2.IMWRITE_JPEG_PROGRESSIVE, 1),
                                        (cv2.IMWRITE_JPEG_OPTIMIZE, 1)])
@pytest.mark.parametrize('height, width, channels', [(48, 64, 3), (1, 1, 1), (601, 799, 1)])
def test_jpeg_size_baseline_progressive_and_optimised(parameters, height, width, channels):
    data = encoded('.jpg', frame(height, width, channels), parameters)
    assert jpeg_size(data) == (width, height)
    if parameters[:1] == (cv2.IMWRITE_JPEG_PROGRESSIVE,):
        assert b'\xff\xc2' in data  # SOF2 indeed


def segment(marker, payload):
    return bytes([0xFF, marker]) + struct.pack('>H', len(payload) + 2) + payload


def test_jpeg_segments_before_the_frame_header_are_skipped_by_their_lengths():
    data = encoded('.jpg', frame(30, 40))
    # EXIF and ICC APPn segments, a comment holding bytes that look like a SOF marker, fill
    # bytes before a marker: the size is the real frame header's.
    fake_sof = b'\xff\xc0\x00\x11\x08\x75\x30\x75\x30\x03'
    extra = (segment(0xE1, b'Exif\x00\x00' + bytes(300)) + segment(0xE2, bytes(1000))
             + segment(0xFE, fake_sof) + b'\xff\xff\xff')
    padded = data[:2] + extra + data[2:]
    assert jpeg_size(padded) == (40, 30)
    assert cv2.imdecode(np.frombuffer(padded, np.uint8), cv2.IMREAD_UNCHANGED).shape[:2] == \
        (30, 40)


def sof(marker, height, width):
    return segment(marker, struct.pack('>BHHB', 8, height, width, 1) + b'\x01\x11\x00')


@pytest.mark.parametrize('marker', [0xC0, 0xC1, 0xC2, 0xC3, 0xC9, 0xCA, 0xCB])
def test_every_frame_type_opencv_decodes_is_read(marker):
    assert jpeg_size(b'\xff\xd8' + segment(0xE0, b'JFIF\x00') + sof(marker, 30000, 20000)) == \
        (20000, 30000)


@pytest.mark.parametrize('data, message', [
    (b'', 'not a JPEG'),
    (b'\x89PNG', 'not a JPEG'),
    (b'\xff\xd8', 'truncated JPEG header'),
    (b'\xff\xd8\xff', 'truncated JPEG header'),
    (b'\xff\xd8\xff\xe0\x00', 'truncated JPEG header'),
    (b'\xff\xd8\xff\xe0\x00\x10JFIF', 'truncated JPEG header'),  # APP0 runs past the data
    (b'\xff\xd8\xff\xc0\x00\x11\x08\x00', 'truncated JPEG header'),  # SOF cut short
    (b'\xff\xd8\xff\xe0\x00\x01', 'segment length 1'),
    (b'\xff\xd8\x00\x00', 'byte 0x00 at 2 where a marker belongs'),
    (b'\xff\xd8' + segment(0xDA, bytes(10)), 'comes before any frame header'),
    (b'\xff\xd8\xff\xd9', 'comes before any frame header'),
    (b'\xff\xd8' + sof(0xC0, 0, 640), 'height 0'),
    (b'\xff\xd8' + sof(0xC2, 480, 0), 'size 0x480'),
    (b'\xff\xd8' + segment(0xC0, b'\x08\x00\x10'), 'frame header of 5 bytes'),
    (b'\xff\xd8' + sof(0xC5, 480, 640), 'hierarchical'),
    (b'\xff\xd8' + segment(0xDE, bytes(6)) + sof(0xC0, 480, 640), 'hierarchical'),
])
def test_unreadable_jpeg_headers_are_refused(data, message):
    with pytest.raises(ImageHeaderError, match=message):
        jpeg_size(data)


def test_every_truncation_of_a_real_jpeg_header_is_refused_not_misread():
    data = encoded('.jpg', frame(30, 40))
    end_of_sof = data.index(b'\xff\xc0') + 2 + struct.unpack('>H', data[data.index(b'\xff\xc0')
                                                                          + 2:][:2])[0]
    for length in range(end_of_sof):
        with pytest.raises(ImageHeaderError):
            jpeg_size(data[:length])
    assert jpeg_size(data[:end_of_sof]) == (40, 30)


def ihdr(width, height, bit_depth=8, colour_type=0, interlace=0):
    return png_chunk(b'IHDR', struct.pack('>IIBBBBB', width, height, bit_depth, colour_type, 0,
                                          0, interlace))


SIGNATURE = b'\x89PNG\r\n\x1a\n'


@pytest.mark.parametrize('data, message', [
    (b'', 'not a PNG'),
    (b'\xff\xd8\xff', 'not a PNG'),
    (SIGNATURE, 'truncated PNG header'),
    (SIGNATURE + ihdr(64, 48)[:24], 'truncated PNG header'),
    (SIGNATURE + png_chunk(b'tEXt', bytes(13)), "first chunk is b'tEXt'"),
    (SIGNATURE + png_chunk(b'IHDR', bytes(14)), 'of 14 bytes'),
    (SIGNATURE + ihdr(64, 48)[:-1] + b'\x00', 'checksum'),
    (SIGNATURE + ihdr(0, 48), 'size 0x48'),
    (SIGNATURE + ihdr(64, 0), 'size 64x0'),
    (SIGNATURE + ihdr(2**31, 48), 'size 2147483648x48'),
    (SIGNATURE + ihdr(64, 48, bit_depth=16, colour_type=3), 'colour type 3, bit depth 16'),
    (SIGNATURE + ihdr(64, 48, colour_type=5), 'colour type 5'),
    (SIGNATURE + ihdr(64, 48, interlace=2), 'interlace 2'),
])
def test_unreadable_png_headers_are_refused(data, message):
    with pytest.raises(ImageHeaderError, match=message):
        png_size(data)


def test_a_png_bomb_is_measured_from_its_header():
    bomb = png_of_zeros(30000, 30000)
    assert len(bomb) < 1_000_000
    assert png_size(bomb) == compressed_image_size('png', bomb) == (30000, 30000)
    # Interlaced, 16-bit RGBA: the header is read the same way.
    assert png_size(SIGNATURE + ihdr(5, 7, 16, 6, 1)) == (5, 7)


def test_a_frame_over_the_limits_never_reaches_the_decoder():
    bomb = png_of_zeros(30000, 30000)
    with pytest.raises(FrameTooLargeError, match='30000x30000 frame is larger than 4096x4096'):
        decode_compressed_image('mono8; png compressed mono8', bomb)
    jpeg = encoded('.jpg', frame(48, 64))
    with pytest.raises(FrameTooLargeError, match='64x48 frame is larger than 63x100'):
        decode_compressed_image('jpeg', jpeg, max_width=63, max_height=100)
    with pytest.raises(FrameTooLargeError, match='64x48 frame is larger than 100x47'):
        decode_compressed_image('jpeg', jpeg, max_width=100, max_height=47)
    assert decode_compressed_image('jpeg', jpeg, max_width=64, max_height=48).image.shape == \
        (48, 64, 3)


def test_an_unreadable_header_is_a_compressed_image_error_naming_it():
    data = encoded('.png', frame(48, 64))
    broken = data[:16] + struct.pack('>I', 0) + data[20:]  # width 0, checksum now wrong
    with pytest.raises(CompressedImageError, match='IHDR checksum'):
        decode_compressed_image('png', broken)
    assert issubclass(ImageHeaderError, ImageFormatError)


@pytest.mark.parametrize('extension, compressed_format', [('.jpg', 'jpeg'), ('.png', 'png')])
def test_mangled_frames_are_refused_as_bad_input_or_decoded_within_the_limits(
        extension, compressed_format):
    """Thousands of truncated, bit-flipped and padded copies of a real frame: each is decoded
    to at most the limits or refused with an ImageFormatError, never another exception.
    """
    rng = np.random.default_rng(21)
    original = encoded(extension, frame(30, 40))
    header_bytes = min(len(original), 700)  # where the size and the segments before it are
    refused = 0
    for _ in range(2000):
        data = bytearray(original)
        for position in rng.integers(0, header_bytes, rng.integers(1, 4)):
            data[position] = rng.choice((0x00, 0xFF, int(rng.integers(0, 256))))
        if rng.random() < 0.3:
            data = data[:rng.integers(0, len(data))]
        if rng.random() < 0.2:
            at = int(rng.integers(2, max(3, len(data))))
            data[at:at] = b'\xff' * int(rng.integers(1, 8))
        try:
            decoded = decode_compressed_image(compressed_format, bytes(data), max_width=48,
                                              max_height=40)
        except ImageFormatError:
            refused += 1
            continue
        height, width = decoded.image.shape[:2]
        assert width <= 48 and height <= 40, (width, height)
    assert refused > 500
