"""``input_crop``: the centred box the network sees, the same in the graph and on the host, and
the depth put back into that box at camera resolution (NaN around it). Real OpenVINO on CPU.
"""

import queue

import cv2
import numpy as np
import pytest

from edge_perception.core.depth_geometry import (
    DepthDecoder,
    PinholeIntrinsics,
    resize_depth_map,
)
from edge_perception.core.image_codec import array_to_image_fields
from edge_perception.core.input_crop import centred_crop, CropBox, InputCropError
from edge_perception.core.pipeline import ImagePipeline, PipelineConfig
from edge_perception.core.preprocessing import embed_preprocessing, Normalisation
from edge_perception.core.relative_depth import (
    AFFINE,
    FLOOR,
    FloorSettings,
    INVERSE_RELATIVE,
    RELATIVE,
    RelativeDepthConverter,
    RelativeDepthSettings,
)

from camera_frames import camera_array, reference, tolerance
from tiny_models import passthrough_model, write_model

# Even, as NV12 needs; a 0.7 crop of it is 21 x 29, odd both ways, at row 4 and column 6 (odd
# leftovers: the extra pixel goes below and right).
HEIGHT, WIDTH, CROP = 30, 42, 0.7
BOX = CropBox(4, 6, 21, 29)
IDENTITY = Normalisation((0.0,), (1.0,), 'RGB')
IMAGENET = Normalisation((123.675, 116.28, 103.53), (58.395, 57.12, 57.375), 'RGB')
ENCODINGS = ('rgb8', 'bgr8', 'mono8', 'nv12')
MODES = ('graph', 'host')


@pytest.mark.parametrize('height, width, fraction, box', [
    (HEIGHT, WIDTH, CROP, BOX),
    (480, 640, 1.0, CropBox(0, 0, 480, 640)),
    # The FastDepth authors' crop: 228 x 304 of 250 x 333, i.e. 437.76 x 583.68 of 480 x 640.
    (480, 640, 0.912, CropBox(21, 28, 438, 584)),
    (481, 641, 0.5, CropBox(120, 160, 241, 321)),  # 240.5 and 320.5 round up, not to even
    (5, 7, 0.5, CropBox(1, 1, 3, 4)),  # 2.5 -> 3 rows, 3.5 -> 4 columns
    (1, 1, 0.1, CropBox(0, 0, 1, 1)),  # never empty
    (10, 10, 0.1, CropBox(4, 4, 1, 1)),
])
def test_the_crop_box_rounds_one_way(height, width, fraction, box):
    assert centred_crop(height, width, fraction) == box
    assert box.bottom - box.top == box.height and box.right - box.left == box.width
    assert box.is_whole(height, width) == ((box.height, box.width) == (height, width))


@pytest.mark.parametrize('fraction', [0.0, 0.09, 1.01, float('nan')])
def test_a_crop_out_of_range_is_refused_with_the_range(fraction):
    with pytest.raises(InputCropError, match=r'input_crop .* must lie in \[0.1, 1.0\]'):
        centred_crop(HEIGHT, WIDTH, fraction)


def smooth_frame(encoding, seed=0):
    """A frame of smooth content, so that bilinear resizes in OpenVINO and OpenCV agree
    closely; YUV in the video range, as :func:`camera_frames.camera_array` keeps it.
    """
    rng = np.random.default_rng(seed)
    base = rng.integers(40, 216, (5, 7, 3)).astype(np.float32)
    rgb = np.clip(cv2.resize(base, (WIDTH, HEIGHT), interpolation=cv2.INTER_CUBIC), 0, 255)
    rgb = rgb.astype(np.uint8)
    if encoding == 'rgb8':
        return rgb
    if encoding == 'bgr8':
        return np.ascontiguousarray(rgb[:, :, ::-1])
    if encoding == 'mono8':
        return rgb[:, :, 0].copy()
    i420 = cv2.cvtColor(rgb, cv2.COLOR_RGB2YUV_I420)  # Y, then U and V planes
    chroma = i420[HEIGHT:].reshape(2, -1)
    nv12 = i420.copy()
    nv12[HEIGHT:] = np.stack(chroma, axis=1).reshape(HEIGHT // 2, WIDTH)  # UV interleaved
    return nv12


class Pipelines:
    """One pipeline per (mode, model size, normalisation), fed one frame at a time."""

    def __init__(self, directory):
        self._directory = directory
        self._pipelines = {}

    def model_input(self, mode, encoding, array, size, normalisation=IDENTITY):
        """Return the model input (channels x H x W) the pipeline built for one frame."""
        key = (mode, size, normalisation)
        if key not in self._pipelines:
            model = write_model(passthrough_model(3, *size), self._directory,
                                f'passthrough_{size[0]}x{size[1]}')
            results = queue.Queue()
            pipeline = ImagePipeline(
                PipelineConfig(str(model), 'CPU', mode, normalisation, 'LATENCY', 1,
                               inference_precision='f32', input_crop=CROP),
                lambda context, outputs, timing: results.put(outputs),
                lambda context, error: results.put(error))
            self._pipelines[key] = pipeline, results
        pipeline, results = self._pipelines[key]
        frame = array_to_image_fields(array, encoding)
        pipeline.process(frame._replace(data=bytearray(frame.data)), None)
        outputs = results.get(timeout=30)
        assert not isinstance(outputs, Exception), outputs
        assert pipeline.preprocessing_in_use == mode
        return outputs[0][0]

    def close(self):
        for pipeline, _ in self._pipelines.values():
            pipeline.close()


@pytest.fixture(scope='module')
def pipelines(tmp_path_factory):
    pipelines = Pipelines(tmp_path_factory.mktemp('models'))
    yield pipelines
    pipelines.close()


@pytest.mark.parametrize('encoding', ENCODINGS)
@pytest.mark.parametrize('mode', MODES)
def test_the_model_sees_the_box_of_the_frame(pipelines, mode, encoding):
    """A model of the box's size: no resize, so the model input is the box's pixels."""
    array = camera_array(encoding, HEIGHT, WIDTH)
    model_input = pipelines.model_input(mode, encoding, array, (BOX.height, BOX.width))
    rows, columns = BOX.slices
    expected = reference(array, encoding)[rows, columns].transpose(2, 0, 1).astype(np.float32)
    np.testing.assert_allclose(model_input, expected, rtol=0, atol=tolerance(encoding, mode))


@pytest.mark.parametrize('encoding', ENCODINGS)
def test_graph_and_host_give_the_same_cropped_and_resized_input(pipelines, encoding):
    array = smooth_frame(encoding)
    graph, host = (pipelines.model_input(mode, encoding, array, (12, 16), IMAGENET)
                   for mode in MODES)
    assert graph.shape == host.shape == (3, 12, 16)
    # Both resize the same box bilinearly with half-pixel centres; they differ by rounding
    # (and NV12's colour conversion by at most a level), here in normalised units.
    atol = 0.05 + tolerance(encoding, 'graph') / min(IMAGENET.scale)
    np.testing.assert_allclose(graph, host, rtol=0, atol=atol)
    # The crop, not the whole frame, was resized: it differs from a whole-frame resize.
    whole = cv2.resize(reference(array, encoding), (16, 12), interpolation=cv2.INTER_LINEAR)
    whole = ((whole - np.float32(IMAGENET.mean)) / np.float32(IMAGENET.scale)).transpose(2, 0, 1)
    assert np.abs(host - whole).max() > 10 * atol


@pytest.mark.parametrize('encoding', ('rgb8', 'mono8'))
def test_a_whole_frame_crop_leaves_the_graph_as_it_was(encoding):
    """input_crop 1.0 adds no step: the same graph, operation for operation."""
    def operations(model):
        return sorted(op.get_type_name() for op in model.get_ops())

    model = passthrough_model(3, 12, 16)
    plain = embed_preprocessing(model, encoding, HEIGHT, WIDTH, IDENTITY)
    whole = embed_preprocessing(passthrough_model(3, 12, 16), encoding, HEIGHT, WIDTH, IDENTITY,
                                1.0)
    cropped = embed_preprocessing(passthrough_model(3, 12, 16), encoding, HEIGHT, WIDTH,
                                  IDENTITY, CROP)
    assert operations(whole) == operations(plain)
    assert operations(cropped) != operations(plain)


def test_the_pipeline_refuses_a_crop_out_of_range(tmp_path):
    model = write_model(passthrough_model(3, 12, 16), tmp_path, 'passthrough')
    with pytest.raises(InputCropError, match='input_crop 0.05'):
        ImagePipeline(PipelineConfig(str(model), input_crop=0.05), print, print)


def test_the_depth_decoder_fills_the_box_and_leaves_the_border_invalid():
    prediction = np.linspace(1.0, 5.0, 12 * 16, dtype=np.float32).reshape(1, 1, 12, 16)
    depth = DepthDecoder(1.0, 0.1, 10.0).decode(prediction, WIDTH, HEIGHT, input_crop=CROP)
    assert depth.shape == (HEIGHT, WIDTH)
    rows, columns = BOX.slices
    inside = np.zeros(depth.shape, bool)
    inside[rows, columns] = True
    assert np.isnan(depth[~inside]).all()
    assert np.isfinite(depth[inside]).all()
    expected = cv2.resize(prediction[0, 0], (BOX.width, BOX.height),
                          interpolation=cv2.INTER_LINEAR)
    np.testing.assert_array_equal(depth[rows, columns], expected)


def test_the_depth_decoder_writes_the_whole_given_buffer():
    """Into the node's reused image buffer: last frame's values never survive in the border."""
    buffer = np.full((HEIGHT, WIDTH), 7.0, np.float32)
    out = resize_depth_map(np.ones((1, 1, 12, 16), np.float32), WIDTH, HEIGHT, out=buffer,
                           input_crop=CROP)
    assert out is buffer
    assert np.count_nonzero(np.isnan(buffer)) == HEIGHT * WIDTH - BOX.height * BOX.width
    assert np.nanmax(buffer) == 1.0


def test_a_whole_frame_crop_decodes_as_before():
    prediction = np.random.default_rng(0).uniform(0.5, 8.0, (1, 1, 12, 16)).astype(np.float32)
    decoder = DepthDecoder(1.0, 0.1, 10.0)
    np.testing.assert_array_equal(decoder.decode(prediction, WIDTH, HEIGHT, input_crop=1.0),
                                  decoder.decode(prediction, WIDTH, HEIGHT))


def test_relative_depth_scaled_by_an_affine_keeps_the_border_invalid():
    converter = RelativeDepthConverter(RelativeDepthSettings(
        INVERSE_RELATIVE, AFFINE, 0.5, 0.0, None, 0.1, 10.0))
    prediction = np.full((1, 1, 12, 16), 1.0, np.float32)  # 1 / (0.5 * 1) = 2 m
    depth = converter.metres(prediction, WIDTH, HEIGHT, None, input_crop=CROP)
    rows, columns = BOX.slices
    np.testing.assert_array_equal(depth[rows, columns], 2.0)
    assert np.count_nonzero(np.isnan(depth)) == HEIGHT * WIDTH - BOX.height * BOX.width


def test_the_floor_scale_is_found_from_the_box_alone():
    """A camera 1.2 m above a floor, pitched 20 degrees down; the network saw the centred 0.75
    and predicted a third of the depth: the fit, on the box's valid pixels only (the default
    floor region reaches into the NaN border), recovers the metres there.
    """
    height, width, camera_height = 120, 160, 1.2
    intrinsics = PinholeIntrinsics.from_horizontal_fov(width, height, 70.0)
    rows, columns = np.mgrid[0:height, 0:width].astype(np.float64)
    pitch = np.radians(20.0)
    towards_floor = ((rows - intrinsics.cy) / intrinsics.fy * np.cos(pitch) + np.sin(pitch))
    with np.errstate(divide='ignore'):
        scene = np.where(towards_floor > 0, camera_height / towards_floor, np.nan)
    scene = scene.astype(np.float32)
    box = centred_crop(height, width, 0.75)
    prediction = (scene[box.slices] / 3.0)[None, None]
    converter = RelativeDepthConverter(RelativeDepthSettings(
        RELATIVE, FLOOR, 1.0, 0.0, FloorSettings(camera_height, smoothing=1.0), 0.1, 100.0))
    depth = converter.metres(prediction, width, height, intrinsics, input_crop=0.75)
    assert depth is not None, converter.unscaled_reason
    inside = np.zeros((height, width), bool)
    inside[box.slices] = True
    assert np.isnan(depth[~inside]).all()
    valid = inside & np.isfinite(scene) & (scene <= 100.0)
    assert valid.sum() > 0.5 * box.height * box.width
    np.testing.assert_allclose(depth[valid], scene[valid], rtol=0.01)
