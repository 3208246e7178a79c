"""CompressedImage decoding as image_transport's compressed transport publishes it."""

import queue

import cv2
import numpy as np
import pytest

from edge_perception.core.compressed_image import (
    CompressedFormat,
    CompressedImageError,
    decode_compressed_image,
    parse_format,
)
from edge_perception.core.image_codec import ImageFormatError
from edge_perception.core.pipeline import ImagePipeline, PipelineConfig
from edge_perception.core.preprocessing import Normalisation

from tiny_models import passthrough_model, write_model

HEIGHT, WIDTH = 48, 64


def camera_frame(channels=3, dtype=np.uint8, seed=0):
    """Smooth random content (what a camera sees compresses like a camera image)."""
    rng = np.random.default_rng(seed)
    top = np.iinfo(dtype).max
    base = rng.integers(0, top, (6, 8, channels)).astype(np.float32)
    smooth = cv2.resize(base, (WIDTH, HEIGHT), interpolation=cv2.INTER_CUBIC)
    return np.clip(smooth, 0, top).astype(dtype).reshape(HEIGHT, WIDTH, -1).squeeze()


def encoded(extension, image):
    ok, data = cv2.imencode(extension, image)
    assert ok
    return data.tobytes()


@pytest.mark.parametrize('compressed_format', ['jpeg', 'jpg', 'rgb8; jpeg compressed bgr8',
                                               'bgr8; jpeg compressed bgr8', 'JPEG'])
def test_jpeg_decodes_as_opencv_decodes_it(compressed_format):
    data = encoded('.jpg', camera_frame())
    decoded = decode_compressed_image(compressed_format, data)
    # JPEG is lossy: the reference is OpenCV's decoding of the same bytes, not the frame.
    expected = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_UNCHANGED)
    assert decoded.encoding == 'bgr8'
    np.testing.assert_array_equal(decoded.image, expected)


def test_gray_jpeg_is_mono8():
    data = encoded('.jpg', camera_frame(1))
    decoded = decode_compressed_image('mono8; jpeg compressed mono8', data)
    assert decoded.encoding == 'mono8' and decoded.image.shape == (HEIGHT, WIDTH)


@pytest.mark.parametrize('compressed_format, channels, dtype, encoding', [
    ('png', 3, np.uint8, 'bgr8'),
    ('rgb8; png compressed bgr8', 3, np.uint8, 'bgr8'),
    ('bgra8; png compressed bgra8', 4, np.uint8, 'bgra8'),
    ('mono8; png compressed mono8', 1, np.uint8, 'mono8'),
    ('mono16; png compressed mono16', 1, np.uint16, 'mono16'),
    ('bgr16; png compressed bgr16', 3, np.uint16, 'bgr16'),
])
def test_png_decodes_losslessly_8_and_16_bit(compressed_format, channels, dtype, encoding):
    frame = camera_frame(channels, dtype)
    decoded = decode_compressed_image(compressed_format, bytearray(encoded('.png', frame)))
    assert decoded.encoding == encoding
    np.testing.assert_array_equal(decoded.image, frame)


def test_compressed_depth_keeps_its_encoding_so_the_pipeline_refuses_it():
    depth = camera_frame(1, np.uint16)
    decoded = decode_compressed_image('16UC1; png compressed mono16', encoded('.png', depth))
    assert decoded.encoding == '16UC1'


def test_a_decoded_image_feeds_the_pipeline(tmp_path):
    model = write_model(passthrough_model(3, HEIGHT, WIDTH), tmp_path, 'passthrough')
    results = queue.Queue()
    pipeline = ImagePipeline(
        PipelineConfig(str(model), 'CPU', 'graph', Normalisation((0.0,), (1.0,), 'RGB'),
                       'LATENCY', 1),
        lambda context, outputs, timing: results.put(outputs),
        lambda context, error: results.put(error))
    try:
        frame = camera_frame(1, np.uint16, seed=3)
        decoded = decode_compressed_image('mono16; png compressed mono16',
                                          encoded('.png', frame))
        pipeline.process(decoded, decoded)
        outputs = results.get(timeout=30)
        gray = np.rint(frame.astype(np.float64) * 255.0 / 65535.0)
        np.testing.assert_array_equal(outputs[0][0], np.broadcast_to(gray, (3, HEIGHT, WIDTH)))
        depth = decode_compressed_image('16UC1; png compressed mono16', encoded('.png', frame))
        with pytest.raises(ImageFormatError, match="'16UC1' is not a camera image encoding"):
            pipeline.process(depth, depth)
    finally:
        pipeline.close()


def test_corrupt_and_truncated_data_are_refused():
    data = encoded('.jpg', camera_frame())
    with pytest.raises(CompressedImageError, match=r'truncated JPEG \(\d+ bytes\): its end marker'):
        decode_compressed_image('jpeg', data[:len(data) // 2])
    garbled = data[:3] + bytes(len(data) - 5) + data[-2:]  # start and end markers, no image
    with pytest.raises(CompressedImageError, match='corrupt JPEG'):
        decode_compressed_image('jpeg', garbled)
    png = encoded('.png', camera_frame())
    with pytest.raises(CompressedImageError, match='truncated PNG'):
        decode_compressed_image('png', png[:len(png) - 20])
    with pytest.raises(CompressedImageError, match="is not JPEG as its format 'jpeg' says"):
        decode_compressed_image('jpeg', png)
    with pytest.raises(CompressedImageError, match='not PNG'):
        decode_compressed_image('png', b'')
    assert issubclass(CompressedImageError, ImageFormatError)


@pytest.mark.parametrize('compressed_format, message', [
    ('', 'unknown CompressedImage format'),
    ('bgr8', "unknown CompressedImage format 'bgr8'; expected 'jpeg', 'png'"),
    ('webp', 'unknown CompressedImage format'),
    ('rgb8; jpeg packed bgr8', 'unknown CompressedImage format'),
    ('16UC1; compressedDepth png', "compressed_depth_image_transport's depth format"),
])
def test_unknown_formats_are_refused(compressed_format, message):
    with pytest.raises(CompressedImageError, match=message):
        decode_compressed_image(compressed_format, encoded('.png', camera_frame()))


def test_format_parsing():
    assert parse_format('rgb8; jpeg compressed bgr8') == CompressedFormat('jpeg', 'rgb8', 'bgr8')
    assert parse_format('mono16; png compressed mono16') == \
        CompressedFormat('png', 'mono16', 'mono16')
    assert parse_format(' png ') == CompressedFormat('png')
