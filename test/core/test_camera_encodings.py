"""Every camera encoding: its layout, its conversion as ROS 2's cv_bridge makes it, and the
model input the pipeline builds from it, with the preprocessing in the graph and on the host.

A pass-through model at the camera's size (no resize, identity normalisation) returns its input:
the model input itself is compared with the reference conversion of the same frame.
"""

import queue

import numpy as np
import pytest

from edge_perception.core.image_codec import (
    array_to_image_fields,
    as_rgb8,
    CAMERA_ENCODINGS,
    convert_camera_image,
    ENCODINGS,
    image_to_array,
    ImageFormatError,
    ImageFrame,
)
from edge_perception.core.pipeline import ImagePipeline, PipelineConfig
from edge_perception.core.preprocessing import (
    embed_preprocessing,
    HostConversion,
    ModelInput,
    Normalisation,
    plan_input,
    PreprocessingError,
)

from camera_frames import camera_array as any_camera_array
from camera_frames import reference, tolerance
from tiny_models import passthrough_model, write_model

HEIGHT, WIDTH = 12, 16
RGB, BGR = Normalisation((0.0,), (1.0,), 'RGB'), Normalisation((0.0,), (1.0,), 'BGR')
MODES = ('graph', 'host')


def camera_array(encoding, height=HEIGHT, width=WIDTH, seed=0):
    return any_camera_array(encoding, height, width, seed)
class Pipelines:
    """One pipeline per preprocessing mode and model, fed one frame at a time."""

    def __init__(self, directory):
        self._directory = directory
        self._pipelines = {}

    def model_input(self, mode, encoding, array, normalisation=RGB, channels=3, bigendian=False,
                    step=None):
        """Feed one frame and return the model input the pipeline built (channels x H x W)."""
        pipeline, results = self._get(mode, normalisation, channels)
        rows, width = array.shape[:2]
        height, width, _, _, packed_step, data = array_to_image_fields(array, encoding)
        if bigendian:
            data = np.ascontiguousarray(array, dtype=array.dtype.newbyteorder('>')).tobytes()
        if step is not None:  # rows padded to ``step`` bytes
            padded = np.zeros((len(data) // packed_step, step), np.uint8)
            padded[:, :packed_step] = np.frombuffer(data, np.uint8).reshape(-1, packed_step)
            data = padded.tobytes()
        pipeline.process(ImageFrame(height, width, encoding, bigendian, step or packed_step,
                                    bytearray(data)), encoding)
        context, outputs, _ = results.get(timeout=30)
        assert not isinstance(outputs, Exception), outputs
        assert context == encoding
        return outputs[0][0]

    def _get(self, mode, normalisation, channels):
        key = (mode, normalisation, channels)
        if key not in self._pipelines:
            model = write_model(passthrough_model(channels, HEIGHT, WIDTH), self._directory,
                                f'passthrough{channels}')
            results = queue.Queue()
            pipeline = ImagePipeline(
                PipelineConfig(str(model), 'CPU', mode, normalisation, 'LATENCY', 1,
                               inference_precision='f32'),
                lambda context, outputs, timing: results.put((context, outputs, timing)),
                lambda context, error: results.put((context, error, None)))
            self._pipelines[key] = pipeline, results
        return self._pipelines[key]

    def close(self):
        for pipeline, _ in self._pipelines.values():
            pipeline.close()


@pytest.fixture(scope='module')
def pipelines(tmp_path_factory):
    pipelines = Pipelines(tmp_path_factory.mktemp('models'))
    yield pipelines
    pipelines.close()


@pytest.mark.parametrize('encoding', CAMERA_ENCODINGS)
@pytest.mark.parametrize('mode', MODES)
def test_model_input_is_the_reference_conversion(pipelines, mode, encoding):
    array = camera_array(encoding)
    model_input = pipelines.model_input(mode, encoding, array)
    expected = reference(array, encoding).transpose(2, 0, 1).astype(np.float32)
    np.testing.assert_allclose(model_input, expected, rtol=0, atol=tolerance(encoding, mode))


@pytest.mark.parametrize('encoding', ['yuyv', 'uyvy', 'nv12', 'i420', 'nv21', 'bayer_gbrg8',
                                      'rgb16', 'mono16'])
@pytest.mark.parametrize('mode', MODES)
def test_bgr_model_gets_the_reference_conversion_in_bgr(pipelines, mode, encoding):
    array = camera_array(encoding, seed=1)
    model_input = pipelines.model_input(mode, encoding, array, BGR)
    expected = reference(array, encoding, 'BGR').transpose(2, 0, 1).astype(np.float32)
    np.testing.assert_allclose(model_input, expected, rtol=0, atol=tolerance(encoding, mode))


@pytest.mark.parametrize('encoding', ['yuyv', 'uyvy', 'nv12', 'nv21', 'i420', 'bayer_rggb8',
                                      'mono16'])
@pytest.mark.parametrize('mode', MODES)
def test_gray_model_gets_the_reference_gray_image(pipelines, mode, encoding):
    array = camera_array(encoding, seed=2)
    model_input = pipelines.model_input(mode, encoding, array, Normalisation((0.0,), (1.0,)),
                                        channels=1)
    np.testing.assert_array_equal(model_input[0], reference(array, encoding, 'GRAY'))


@pytest.mark.parametrize('encoding', ['mono16', 'rgb16', 'bgr16'])
@pytest.mark.parametrize('mode', MODES)
def test_big_endian_16bit_frames_are_honoured(pipelines, mode, encoding):
    array = camera_array(encoding, seed=3)
    model_input = pipelines.model_input(mode, encoding, array, bigendian=True)
    expected = reference(array, encoding).transpose(2, 0, 1).astype(np.float32)
    np.testing.assert_array_equal(model_input, expected)


@pytest.mark.parametrize('encoding, step', [('yuyv', 2 * WIDTH + 6), ('uyvy', 2 * WIDTH + 2),
                                            ('nv12', WIDTH + 4), ('nv21', WIDTH + 2),
                                            ('bayer_bggr8', WIDTH + 3), ('rgb16', 6 * WIDTH + 4)])
@pytest.mark.parametrize('mode', MODES)
def test_padded_rows_are_skipped(pipelines, mode, encoding, step):
    array = camera_array(encoding, seed=4)
    model_input = pipelines.model_input(mode, encoding, array, step=step)
    expected = reference(array, encoding).transpose(2, 0, 1).astype(np.float32)
    np.testing.assert_allclose(model_input, expected, rtol=0, atol=tolerance(encoding, mode))


def test_which_path_each_encoding_takes():
    model_input = ModelInput('image', 'NCHW', 3, HEIGHT, WIDTH)
    gray_input = ModelInput('image', 'NCHW', 1, HEIGHT, WIDTH)
    in_graph = {encoding: plan_input(encoding, model_input, RGB, in_graph=True).path
                for encoding in CAMERA_ENCODINGS}
    assert {encoding for encoding, path in in_graph.items() if path == 'direct'} == \
        {'rgb8', 'bgr8', 'rgba8', 'bgra8', 'mono8', '8UC1', '8UC3'}
    assert {encoding for encoding, path in in_graph.items() if path == 'graph'} == \
        {'nv12', 'i420'}
    assert all(plan_input(encoding, model_input, RGB, in_graph=False).path != 'graph'
               for encoding in CAMERA_ENCODINGS)
    # 16-bit images are only scaled (the preprocessing orders channels); the rest converted
    # straight to the model's order.
    assert plan_input('bgr16', model_input, RGB, True).fed_encoding == 'bgr8'
    assert plan_input('yuyv', model_input, BGR, True).fed_encoding == 'bgr8'
    assert plan_input('nv12', gray_input, RGB, True).fed_encoding == 'mono8'
    with pytest.raises(PreprocessingError, match='must be converted'):
        embed_preprocessing(passthrough_model(3, 4, 4), 'yuyv', 4, 4, RGB)
    with pytest.raises(PreprocessingError, match='converted on the host'):
        embed_preprocessing(passthrough_model(1, 4, 4), 'nv12', 4, 4, RGB)


@pytest.mark.parametrize('encoding', ['16UC1', '32FC1'])
def test_depth_encodings_are_refused_with_a_clear_message(pipelines, encoding):
    model_input = ModelInput('image', 'NCHW', 3, HEIGHT, WIDTH)
    message = f"'{encoding}' is not a camera image encoding .*camera encodings: rgb8, "
    with pytest.raises(ImageFormatError, match=message):
        plan_input(encoding, model_input, RGB, in_graph=True)
    array = np.zeros((HEIGHT, WIDTH), ENCODINGS[encoding].dtype)
    with pytest.raises(ImageFormatError, match=message):
        pipelines.model_input('graph', encoding, array)
    with pytest.raises(ImageFormatError, match=message):
        as_rgb8(array, encoding)


@pytest.mark.parametrize('fields, message', [
    ((480, 641, 'yuyv', False, 1282, bytes(480 * 1282)),
     r'yuyv needs an even width \(its chroma covers pairs of pixels\); got 641x480'),
    ((480, 641, 'uyvy', False, 1282, bytes(480 * 1282)), 'uyvy needs an even width'),
    ((480, 641, 'nv12', False, 641, bytes(720 * 641)),
     r'nv12 needs an even width and height \(its chroma covers 2x2 pixel blocks\); got 641x480'),
    ((481, 640, 'nv21', False, 640, bytes(721 * 640)), 'nv21 needs an even width and height'),
    ((481, 640, 'i420', False, 640, bytes(721 * 640)), 'i420 needs an even width and height'),
    ((4, 6, 'yuyv', False, 10, bytes(40)), 'step 10 is smaller than one row of 6 yuyv pixels'),
    ((4, 6, 'nv12', False, 6, bytes(24)),
     r'data holds 24 bytes but step x height x 3/2 = 6 x 4 x 3/2 = 36'),
    ((4, 6, 'i420', False, 8, bytes(48)), 'i420 rows cannot be padded'),
    ((4, 6, 'rgb16', False, 37, bytes(148)), 'not a multiple of the rgb16 value size'),
])
def test_malformed_layouts_are_refused_with_the_rule(fields, message):
    with pytest.raises(ImageFormatError, match=message):
        image_to_array(*fields)


def test_odd_sizes_are_refused_by_the_pipeline_before_compiling(pipelines):
    pipeline, results = pipelines._get('graph', RGB, 3)
    with pytest.raises(ImageFormatError, match='yuyv needs an even width'):
        pipeline.process(ImageFrame(HEIGHT, WIDTH + 1, 'yuyv', False, 2 * WIDTH + 2,
                                    bytes(HEIGHT * (2 * WIDTH + 2))), None)
    with pytest.raises(ImageFormatError, match='nv12 needs an even width and height'):
        pipeline.process(ImageFrame(HEIGHT + 1, WIDTH, 'nv12', False, WIDTH,
                                    bytes((HEIGHT + 1) * 3 // 2 * WIDTH)), None)
    assert results.empty()


@pytest.mark.parametrize('encoding', CAMERA_ENCODINGS)
def test_as_rgb8_is_the_reference_conversion_for_every_encoding(encoding):
    array = camera_array(encoding, seed=5)
    height, width, _, bigendian, step, data = array_to_image_fields(array, encoding)
    image = image_to_array(height, width, encoding, bigendian, step, data)
    expected = reference(array, encoding)
    np.testing.assert_array_equal(as_rgb8(image, encoding), expected)
    out = np.empty((height, width, 3), np.uint8)
    assert as_rgb8(image, encoding, out=out) is out
    np.testing.assert_array_equal(out, expected)


# Uniform frames built byte by byte from each encoding's definition (sensor_msgs, V4L2), not
# from OpenCV: they check the tables, not just that OpenCV is called.
SOLID_RGB = (200, 100, 50)


def solid_bayer(pattern):
    """A uniform SOLID_RGB frame seen through a ``pattern`` ('RGGB', ...) colour filter."""
    mosaic = np.zeros((HEIGHT, WIDTH), np.uint8)
    for index, letter in enumerate(pattern):
        mosaic[index // 2::2, index % 2::2] = SOLID_RGB['RGB'.index(letter)]
    return mosaic


@pytest.mark.parametrize('encoding', ['bayer_rggb8', 'bayer_bggr8', 'bayer_gbrg8',
                                      'bayer_grbg8'])
def test_bayer_patterns_are_read_as_named(encoding):
    # Away from the border, which OpenCV's demosaicing extrapolates.
    inner = as_rgb8(solid_bayer(encoding[6:10].upper()), encoding)[2:-2, 2:-2]
    np.testing.assert_array_equal(inner, np.broadcast_to(SOLID_RGB, inner.shape))


def bt601_video_range_yuv(rgb):
    """Y, U, V (whole levels) of an RGB colour, by BT.601's video-range definition."""
    r, g, b = rgb
    return (round(16 + 0.257 * r + 0.504 * g + 0.098 * b),
            round(128 - 0.148 * r - 0.291 * g + 0.439 * b),
            round(128 + 0.439 * r - 0.368 * g - 0.071 * b))


def bt601_video_range_rgb(yuv):
    """The RGB colour of Y, U, V by BT.601's video-range definition (not rounded)."""
    y, u, v = (value - offset for value, offset in zip(yuv, (16, 128, 128), strict=True))
    return (1.164 * y + 1.596 * v, 1.164 * y - 0.813 * v - 0.391 * u, 1.164 * y + 2.018 * u)


def solid_yuv(encoding, yuv):
    """A uniform frame of ``yuv`` laid out as ``encoding`` says (V4L2's definitions)."""
    y, u, v = yuv
    if encoding in ('yuyv', 'uyvy'):
        quad = [y, u, y, v] if encoding == 'yuyv' else [u, y, v, y]
        return np.tile(np.array(quad, np.uint8), HEIGHT * WIDTH // 2).reshape(HEIGHT, WIDTH, 2)
    if encoding == 'i420':  # a quarter-size U plane, then a V plane, in rows of WIDTH bytes
        chroma = np.concatenate([np.full(HEIGHT * WIDTH // 4, u), np.full(HEIGHT * WIDTH // 4, v)])
    else:  # nv12: U, V interleaved; nv21: V, U
        pair = [u, v] if encoding == 'nv12' else [v, u]
        chroma = np.tile(pair, HEIGHT * WIDTH // 4)
    return np.concatenate([np.full((HEIGHT, WIDTH), y),
                           chroma.reshape(HEIGHT // 2, WIDTH)]).astype(np.uint8)


@pytest.mark.parametrize('encoding', ['yuyv', 'uyvy', 'nv12', 'nv21', 'i420'])
def test_yuv_layouts_are_read_as_defined(encoding):
    yuv = bt601_video_range_yuv(SOLID_RGB)
    rgb = as_rgb8(solid_yuv(encoding, yuv), encoding)
    # OpenCV's fixed-point coefficients and rounding: within a level and a half of the formula.
    np.testing.assert_allclose(rgb.reshape(-1, 3), np.broadcast_to(
        bt601_video_range_rgb(yuv), (rgb.size // 3, 3)), atol=1.5)


def test_host_conversion_reuses_one_buffer():
    model_input = ModelInput('image', 'NCHW', 3, HEIGHT, WIDTH)
    conversion = HostConversion(plan_input('yuyv', model_input, RGB, in_graph=False),
                                HEIGHT, WIDTH)
    first = conversion(camera_array('yuyv', seed=6))
    second = conversion(camera_array('yuyv', seed=7))
    assert second is first
    np.testing.assert_array_equal(second, reference(camera_array('yuyv', seed=7), 'yuyv'))
    np.testing.assert_array_equal(
        convert_camera_image(camera_array('mono16'), 'mono16', 'GRAY'),
        reference(camera_array('mono16'), 'mono16', 'GRAY'))


def test_converted_frames_in_flight_keep_their_own_pixels(tmp_path):
    """Frames of a stream are converted into one buffer, the next while earlier ones still
    wait for, or are read by, an infer request (inference is asynchronous): each result is of
    its own frame, never of the next one or a mix.

    Were the buffer shared with OpenVINO, a request reading a frame while the next is converted
    would mix the two: large frames make that overlap likely here, on any machine, not certain.
    """
    height, width = 1080, 1920
    model = write_model(passthrough_model(3, 30, 40), tmp_path, 'small')
    results = queue.Queue()
    pipeline = ImagePipeline(
        PipelineConfig(str(model), 'CPU', 'graph', RGB, 'LATENCY', 2, inference_precision='f32'),
        lambda context, outputs, timing: results.put((context, outputs)),
        lambda context, error: results.put((context, error)))
    frames, levels = [], []
    for index in range(12):  # uniform gray frames, each of its own level
        frame = np.full((height, width, 2), 128, np.uint8)
        frame[:, :, 0] = 20 + 15 * index
        frames.append(bytearray(array_to_image_fields(frame, 'yuyv').data))
        levels.append(reference(frame[:1, :2], 'yuyv')[0, 0, 0])
    try:
        for _ in range(5):
            for index, data in enumerate(frames):
                pipeline.process(ImageFrame(height, width, 'yuyv', False, 2 * width, data), index)
            index = None
            while index != len(frames) - 1:  # the newest frame is always served
                index, outputs = results.get(timeout=60)
                assert not isinstance(outputs, Exception), outputs
                np.testing.assert_allclose(outputs[0], levels[index], atol=1e-3,
                                           err_msg=f'frame {index}')
    finally:
        pipeline.close()


def reject_graph(mode, device):
    """Compilation hook: the device rejects the in-graph preprocessing (as the NCS2 does)."""
    if mode == 'graph':
        raise RuntimeError(f'{device}: NV12toRGB is not supported')


@pytest.mark.parametrize('encoding', ['nv12', 'i420'])
def test_auto_fallback_converts_nv12_and_i420_on_the_host(tmp_path, encoding):
    model = write_model(passthrough_model(3, HEIGHT, WIDTH), tmp_path, 'passthrough')
    results = queue.Queue()
    pipeline = ImagePipeline(PipelineConfig(str(model), 'CPU', 'auto', RGB, 'LATENCY', 1),
                             lambda context, outputs, timing: results.put(outputs),
                             lambda context, error: results.put(error))
    pipeline.inject_compile_faults(reject_graph)
    try:
        array = camera_array(encoding, seed=9)
        frame = array_to_image_fields(array, encoding)
        pipeline.process(frame._replace(data=bytearray(frame.data)), None)
        outputs = results.get(timeout=30)
        assert pipeline.preprocessing_in_use == 'host'
        np.testing.assert_array_equal(outputs[0][0], reference(array, encoding).transpose(2, 0, 1))
    finally:
        pipeline.close()
