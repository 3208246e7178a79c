"""ImagePipeline: raw Image fields in, model outputs out, compiled per resolution."""

import queue

import numpy as np
import pytest

from edge_perception.core.engine import ModelLoadError
from edge_perception.core.image_codec import array_to_image_fields, ImageFormatError
from edge_perception.core.pipeline import ImagePipeline, PipelineConfig
from edge_perception.core.preprocessing import Normalisation, PreprocessingError

from tiny_models import passthrough_model, write_model

IDENTITY = Normalisation((0.0,), (1.0,), 'RGB')


@pytest.fixture
def run(tmp_path):
    pipelines = []

    def make(preprocessing='graph', model=None, normalisation=IDENTITY):
        model = model or write_model(passthrough_model(3, 6, 8), tmp_path, 'passthrough')
        results = queue.Queue()
        pipeline = ImagePipeline(
            PipelineConfig(str(model), 'CPU', preprocessing, normalisation, 'LATENCY', 1),
            lambda context, outputs, timing: results.put((context, outputs, timing)),
            lambda context, error: results.put((context, error, None)))
        pipelines.append(pipeline)
        return pipeline, results

    yield make
    for pipeline in pipelines:
        pipeline.close()


def feed(pipeline, image, encoding, context):
    height, width, step, bigendian, data = array_to_image_fields(image, encoding)
    return pipeline.process(height, width, encoding, bigendian, step, bytearray(data), context)


@pytest.mark.parametrize('preprocessing', ['graph', 'host'])
def test_frame_to_outputs(run, preprocessing):
    pipeline, results = run(preprocessing)
    image = np.zeros((6, 8, 3), np.uint8)
    image[:, :, 1] = 7
    event = feed(pipeline, image, 'bgr8', 'frame-1')
    assert (event.preprocessing, event.width, event.height) == (preprocessing, 8, 6)
    context, outputs, timing = results.get(timeout=10)
    assert context == 'frame-1'
    np.testing.assert_array_equal(outputs[0][0, 1], 7.0)
    np.testing.assert_array_equal(outputs[0][0, [0, 2]], 0.0)
    assert timing.preprocess_ms >= 0 and timing.inference_ms > 0
    assert pipeline.preprocessing_in_use == preprocessing


def test_resolution_change_recompiles_once(run):
    pipeline, results = run()
    assert feed(pipeline, np.zeros((6, 8, 3), np.uint8), 'rgb8', 1) is not None
    results.get(timeout=10)
    assert feed(pipeline, np.zeros((6, 8, 3), np.uint8), 'rgb8', 2) is None
    results.get(timeout=10)
    event = feed(pipeline, np.full((12, 16, 3), 9, np.uint8), 'rgb8', 3)
    assert event.reason == 'input changed from rgb8 8x6'
    context, outputs, _ = results.get(timeout=10)
    assert context == 3 and outputs[0].shape == (1, 3, 6, 8)
    np.testing.assert_allclose(outputs[0], 9.0)


def test_bad_frames_raise_before_reaching_the_device(run):
    pipeline, results = run()
    with pytest.raises(ImageFormatError):
        pipeline.process(6, 8, 'rgb8', False, 24, bytes(10), None)
    with pytest.raises(ImageFormatError, match='not a camera image encoding'):
        feed(pipeline, np.zeros((6, 8), np.float32), '32FC1', None)
    assert results.empty()


def test_model_and_normalisation_are_checked_at_start(run, tmp_path):
    model = write_model(passthrough_model(3, 6, 8), tmp_path, 'three_channels')
    with pytest.raises(PreprocessingError, match='takes 3 channels'):
        run(model=model, normalisation=Normalisation((1.0, 2.0), (1.0,)))
    with pytest.raises(ValueError, match='preprocessing must be one of'):
        run(preprocessing='gpu')



def test_a_failed_compilation_is_not_retried_for_every_frame_of_the_stream(run, tmp_path):
    model = write_model(passthrough_model(3, 6, 8), tmp_path, 'vanishing')
    pipeline, results = run(model=model)
    moved = tmp_path / 'moved'
    moved.mkdir()
    for suffix in ('.xml', '.bin'):
        model.with_suffix(suffix).rename(moved / f'vanishing{suffix}')
    with pytest.raises(ModelLoadError, match='does not exist'):
        feed(pipeline, np.zeros((6, 8, 3), np.uint8), 'rgb8', 1)
    for suffix in ('.xml', '.bin'):
        (moved / f'vanishing{suffix}').rename(model.with_suffix(suffix))
    with pytest.raises(ModelLoadError, match='does not exist'):
        feed(pipeline, np.zeros((6, 8, 3), np.uint8), 'rgb8', 2)
    assert feed(pipeline, np.zeros((12, 16, 3), np.uint8), 'rgb8', 3) is not None
    assert results.get(timeout=10)[0] == 3


def test_a_frame_refused_at_compilation_leaves_the_stream_serving(run):
    pipeline, results = run()
    feed(pipeline, np.zeros((6, 8, 3), np.uint8), 'rgb8', 1)
    assert results.get(timeout=10)[0] == 1
    with pytest.raises(ImageFormatError, match='not a camera image encoding'):
        feed(pipeline, np.zeros((6, 8), np.uint16), '16UC1', 2)
    feed(pipeline, np.zeros((6, 8, 3), np.uint8), 'rgb8', 3)
    assert results.get(timeout=10)[0] == 3
