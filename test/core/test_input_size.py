"""Models with dynamic input height and width (Depth Anything-like) get a fixed input size."""

import queue

import numpy as np
import pytest

from edge_perception.core.image_codec import array_to_image_fields
from edge_perception.core.input_size import (
    dynamic_spatial_axes,
    fix_input_size,
    InputSizeError,
    patch_stride,
)
from edge_perception.core.pipeline import ImagePipeline, PipelineConfig
from edge_perception.core.preprocessing import Normalisation, PreprocessingError

from tiny_models import depth_anything_like_model, midas_like_model, write_model

IDENTITY = Normalisation((0.0,), (1.0,), 'RGB')


def test_the_patch_size_of_a_dynamic_model_is_found_and_sizes_off_it_are_refused():
    model = depth_anything_like_model(patch=14)
    assert dynamic_spatial_axes(model) == (2, 3) and patch_stride(model) == 14
    with pytest.raises(InputSizeError, match=r'input_size 500 .* multiples of its patch size '
                                             r'14 \(e\.g\. 504\)'):
        fix_input_size(model, 500)
    reshaped = fix_input_size(model, 518)
    assert list(reshaped.inputs[0].get_partial_shape().to_shape()) == [1, 3, 518, 518]
    assert list(reshaped.outputs[0].get_partial_shape().to_shape()) == [1, 518, 518]


def test_static_inputs_keep_their_size_and_size_zero_leaves_a_dynamic_input_dynamic():
    static = midas_like_model(256)
    assert dynamic_spatial_axes(static) is None
    assert list(fix_input_size(static, 518).inputs[0].get_partial_shape().to_shape()) == \
        [1, 3, 256, 256]
    assert fix_input_size(depth_anything_like_model(), 0).inputs[0].get_partial_shape() \
        .is_dynamic


@pytest.mark.parametrize('preprocessing', ['graph', 'host'])
def test_the_camera_frame_is_resized_to_the_chosen_input_size(tmp_path, preprocessing):
    model = write_model(depth_anything_like_model(), tmp_path, 'dynamic')
    results = queue.Queue()
    pipeline = ImagePipeline(
        PipelineConfig(str(model), 'CPU', preprocessing, IDENTITY, 'LATENCY', 1, input_size=42),
        lambda context, outputs, timing: results.put(outputs),
        lambda context, error: results.put(error))
    try:
        assert pipeline.output_shapes == [(1, 42, 42)]
        image = np.zeros((48, 64, 3), np.uint8)
        image[:, :, 0] = 100
        height, width, step, bigendian, data = array_to_image_fields(image, 'rgb8')
        pipeline.process(height, width, 'rgb8', bigendian, step, bytearray(data), 'frame')
        outputs = results.get(timeout=30)
        assert outputs[0].shape == (1, 42, 42)
        np.testing.assert_allclose(outputs[0], 100.0 + 42.0, rtol=1e-6)  # red + input rows
    finally:
        pipeline.close()


def test_a_pipeline_refuses_an_input_size_off_the_patch_grid_and_a_dynamic_model_without_one(
        tmp_path):
    model = write_model(depth_anything_like_model(), tmp_path, 'dynamic')
    for size, message in ((30, 'multiples of its patch size 14'),
                          (0, 'not a static 4-D image shape')):
        with pytest.raises(PreprocessingError, match=message):
            ImagePipeline(PipelineConfig(str(model), 'CPU', 'graph', IDENTITY, input_size=size),
                          None, None)
