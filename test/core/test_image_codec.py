"""Image message fields <-> numpy arrays."""

import array

import numpy as np
import pytest

from edge_perception.core.image_codec import (
    array_to_image_fields,
    as_rgb8,
    image_to_array,
    ImageBuffer,
    ImageFormatError,
)


@pytest.mark.parametrize('encoding, shape, dtype', [
    ('rgb8', (4, 5, 3), np.uint8), ('bgra8', (4, 5, 4), np.uint8), ('mono8', (4, 5), np.uint8),
    ('16UC1', (4, 5), np.uint16), ('32FC1', (4, 5), np.float32)])
def test_round_trip(encoding, shape, dtype):
    values = (np.arange(np.prod(shape)) * 7 % 251).astype(dtype).reshape(shape)
    height, width, _, bigendian, step, data = array_to_image_fields(values, encoding)
    assert isinstance(data, bytes) and (height, width) == shape[:2]
    np.testing.assert_array_equal(
        image_to_array(height, width, encoding, bigendian, step, array.array('B', data)), values)


def test_reading_is_zero_copy_for_unpadded_rows():
    buffer = array.array('B', bytes(4 * 5 * 3))
    image = image_to_array(4, 5, 'rgb8', False, 15, buffer)
    buffer[0] = 9
    assert image[0, 0, 0] == 9 and image.flags.c_contiguous


def test_padded_step_skips_padding():
    rows = np.arange(4 * 8, dtype=np.uint8).reshape(4, 8)
    image = image_to_array(4, 2, 'rgb8', False, 8, rows.tobytes())
    np.testing.assert_array_equal(image, rows[:, :6].reshape(4, 2, 3))


def test_big_endian_16bit_is_byte_swapped():
    values = np.array([[1, 256], [513, 65535]], dtype='>u2')
    image = image_to_array(2, 2, '16UC1', True, 4, values.tobytes())
    np.testing.assert_array_equal(image, values.astype(np.uint16))
    assert image.dtype == np.uint16


@pytest.mark.parametrize('fields, message', [
    ((4, 5, 'nv24', False, 10, bytes(40)), "unsupported encoding 'nv24'"),
    ((0, 5, 'rgb8', False, 15, b''), 'zero-sized'),
    ((4, 5, 'rgb8', False, 14, bytes(56)), 'step 14 is smaller than one row'),
    ((4, 5, 'rgb8', False, 15, bytes(59)), 'data holds 59 bytes'),
    ((4, 5, 'rgb8', False, 15, bytes(61)), 'data holds 61 bytes'),
    ((1 << 20, 1 << 20, 'mono8', False, 1 << 20, b''), 'exceeds the supported size'),
    ((2, 3, '16UC1', False, 7, bytes(14)), 'not a multiple'),
])
def test_malformed_fields_raise_a_clear_error(fields, message):
    with pytest.raises(ImageFormatError, match=message):
        image_to_array(*fields)


def test_array_must_fit_encoding():
    with pytest.raises(ImageFormatError, match='3 channels'):
        array_to_image_fields(np.zeros((2, 2), np.uint8), 'rgb8')
    with pytest.raises(ImageFormatError, match='float32'):
        array_to_image_fields(np.zeros((2, 2), np.float64), '32FC1')


@pytest.mark.parametrize('encoding, pixel', [
    ('rgb8', [10, 20, 30]), ('bgr8', [30, 20, 10]), ('rgba8', [10, 20, 30, 255]),
    ('bgra8', [30, 20, 10, 255]), ('mono8', 10)])
def test_as_rgb8(encoding, pixel):
    image = np.array([[pixel]], dtype=np.uint8)
    expected = [10, 10, 10] if encoding == 'mono8' else [10, 20, 30]
    np.testing.assert_array_equal(as_rgb8(image, encoding)[0, 0], expected)


def test_image_buffer_is_reused_and_read_back_like_a_message():
    buffer = ImageBuffer('32FC1')
    depth = buffer.array(3, 4)
    depth[...] = np.arange(12, dtype=np.float32).reshape(3, 4)
    height, width, _, bigendian, step, data = buffer.frame()
    assert (height, width, step, bigendian) == (3, 4, 16, False)
    np.testing.assert_array_equal(
        image_to_array(height, width, '32FC1', bigendian, step, data), depth)
    buffer.array(3, 4)
    assert buffer.frame().data is data  # same size, same memory: nothing allocated per frame
    assert ImageBuffer('rgb8').array(2, 5).shape == (2, 5, 3)
