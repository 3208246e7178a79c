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
        frame = array_to_image_fields(image, 'rgb8')
        pipeline.process(frame._replace(data=bytearray(frame.data)), 'frame')
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


def test_an_onnx_export_with_dynamic_height_and_width_runs_at_the_chosen_size(tmp_path):
    torch = pytest.importorskip('torch')
    pytest.importorskip('onnx')  # torch.onnx.export writes through it

    class DepthAnythingLike(torch.nn.Module):
        """A ViT-like first layer (14 x 14 patches) and a head upsampled to the input size."""

        def __init__(self):
            super().__init__()
            self.patches = torch.nn.Conv2d(3, 16, 14, stride=14)
            self.head = torch.nn.Conv2d(16, 1, 1)

        def forward(self, image):
            features = self.head(torch.relu(self.patches(image)))
            depth = torch.nn.functional.interpolate(features, size=image.shape[-2:],
                                                    mode='bilinear', align_corners=False)
            return torch.relu(depth).squeeze(1)

    torch.manual_seed(0)
    network = DepthAnythingLike().eval()
    path = tmp_path / 'depth_anything_like.onnx'
    with pytest.warns(DeprecationWarning):  # the TorchScript exporter; no onnxscript needed
        torch.onnx.export(network, (torch.zeros(1, 3, 28, 28),), str(path), dynamo=False,
                          input_names=['pixel_values'], output_names=['predicted_depth'],
                          dynamic_axes={'pixel_values': {2: 'height', 3: 'width'},
                                        'predicted_depth': {1: 'height', 2: 'width'}})
    with pytest.raises(InputSizeError, match='patch size 14'):
        ImagePipeline(PipelineConfig(str(path), 'CPU', 'graph', IDENTITY, input_size=30),
                      None, None)
    results = queue.Queue()
    pipeline = ImagePipeline(
        PipelineConfig(str(path), 'CPU', 'graph', IDENTITY, 'LATENCY', 1,
                       inference_precision='f32', input_size=28),
        lambda context, outputs, timing: results.put(outputs),
        lambda context, error: results.put(error))
    try:
        assert pipeline.output_shapes == [(1, 28, 28)]
        image = np.random.default_rng(0).integers(0, 255, (28, 28, 3), np.uint8)
        frame = array_to_image_fields(image, 'rgb8')
        pipeline.process(frame._replace(data=bytearray(frame.data)), 'frame')
        outputs = results.get(timeout=30)
        with torch.no_grad():
            expected = network(torch.from_numpy(image.astype(np.float32)).permute(2, 0, 1)[None])
        np.testing.assert_allclose(outputs[0], expected.numpy(), rtol=1e-4, atol=1e-4)
    finally:
        pipeline.close()
