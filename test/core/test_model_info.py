"""Model metadata in the IR (model_info): written, read back, and fed to the pipeline."""

import queue

import numpy as np
import pytest

from edge_perception.core.engine import create_core, load_model
from edge_perception.core.image_codec import array_to_image_fields
from edge_perception.core.model_info import (
    CLASSIFICATION,
    ModelInfo,
    ModelInfoError,
    read_model_info,
    write_model_info,
)
from edge_perception.core.pipeline import ImagePipeline, PipelineConfig
from edge_perception.core.preprocessing import Normalisation, resolve_normalisation

from tiny_models import passthrough_model, write_model

DESCRIBED = ModelInfo(model_type=CLASSIFICATION, mean=(123.675, 116.28, 103.53),
                      scale=(58.395,), color_order='BGR', labels=('cat', 'dog'),
                      output_unit='logits', title='tiny')


def test_what_is_written_reads_back_from_the_ir(tmp_path):
    path = write_model(write_model_info(passthrough_model(3, 4, 4), DESCRIBED), tmp_path, 'm')
    assert read_model_info(load_model(create_core(), path)) == DESCRIBED
    # In the names and format model_api and DL Streamer read.
    text = path.read_text()
    assert '<mean_values value="123.675 116.28 103.53" />' in text
    assert '<reverse_input_channels value="False" />' in text
    assert '<labels value="cat dog" />' in text


def test_a_model_without_metadata_says_nothing(tmp_path):
    path = write_model(passthrough_model(3, 4, 4), tmp_path, 'plain')
    assert read_model_info(load_model(create_core(), path)) == ModelInfo()


@pytest.mark.parametrize('info, message', [
    (ModelInfo(labels=('tabby cat',)), 'space-separated'),
    (ModelInfo(model_type='segmentation'), 'model type'),
    (ModelInfo(scale=(0.0,)), 'zero'),
    (ModelInfo(color_order='GRB'), 'colour order'),
])
def test_what_cannot_be_stored_is_refused(info, message):
    with pytest.raises(ModelInfoError, match=message):
        write_model_info(passthrough_model(3, 4, 4), info)


def test_malformed_metadata_is_one_clear_error():
    model = passthrough_model(3, 4, 4)
    model.set_rt_info('1.0 two', ['model_info', 'mean_values'])
    with pytest.raises(ModelInfoError, match="mean_values '1.0 two'"):
        read_model_info(model)


def test_given_values_win_then_the_models_then_identity():
    info = ModelInfo(mean=(1.0, 2.0, 3.0), scale=(4.0,), color_order='BGR')
    assert resolve_normalisation(info) == (Normalisation((1.0, 2.0, 3.0), (4.0,), 'BGR'), ())
    assert resolve_normalisation(info, mean=(9.0,), color_order='RGB') == (
        Normalisation((9.0,), (4.0,), 'RGB'), ())
    assert resolve_normalisation(ModelInfo(), scale=(2.0,)) == (
        Normalisation((0.0,), (2.0,), 'RGB'), ('mean', 'color_order'))


@pytest.mark.parametrize('given, expected_channels', [
    (Normalisation((), (), ''), [(10 - 4) / 2, (20 - 5) / 2, (30 - 6) / 2]),  # the model's
    (Normalisation((0.0,), (1.0,), ''), [10.0, 20.0, 30.0]),  # given values win
])
def test_the_pipeline_normalises_as_the_model_says_unless_told_otherwise(tmp_path, given,
                                                                        expected_channels):
    info = ModelInfo(mean=(4.0, 5.0, 6.0), scale=(2.0,), color_order='RGB')
    path = write_model(write_model_info(passthrough_model(3, 2, 2), info), tmp_path, 'm')
    results = queue.Queue()
    pipeline = ImagePipeline(PipelineConfig(str(path), normalisation=given, num_requests=1),
                             lambda context, outputs, timing: results.put(outputs),
                             lambda context, error: results.put(error))
    try:
        image = np.empty((2, 2, 3), np.uint8)
        image[:] = (10, 20, 30)
        frame = array_to_image_fields(image, 'rgb8')
        pipeline.process(frame._replace(data=bytearray(frame.data)), None)
        outputs = results.get(timeout=10)
    finally:
        pipeline.close()
    np.testing.assert_allclose(outputs[0][0, :, 0, 0], expected_channels)
