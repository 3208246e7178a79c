"""In-graph and host preprocessing, compiled and run with real OpenVINO on CPU."""

import numpy as np
import pytest

from edge_perception.core.engine import compile_model, create_core
from edge_perception.core.preprocessing import (
    embed_preprocessing,
    HostPreprocessor,
    ModelInput,
    Normalisation,
    PreprocessingError,
)

from tiny_models import passthrough_model

IMAGENET = Normalisation((123.675, 116.28, 103.53), (58.395, 57.12, 57.375), 'RGB')


def camera_image(encoding, height=48, width=64, seed=0):
    channels = {'rgb8': 3, 'bgr8': 3, 'rgba8': 4, 'bgra8': 4, 'mono8': 1}[encoding]
    rng = np.random.default_rng(seed)
    # Smooth content, so that resize implementations agree closely.
    base = rng.integers(0, 255, (6, 8, channels)).astype(np.float32)
    import cv2
    smooth = cv2.resize(base, (width, height), interpolation=cv2.INTER_CUBIC)
    return np.clip(smooth, 0, 255).astype(np.uint8).reshape(height, width, channels)


def run_graph(model, image, encoding, normalisation):
    height, width = image.shape[:2]
    compiled = compile_model(create_core(), embed_preprocessing(
        model, encoding, height, width, normalisation), 'CPU')
    return compiled(image.reshape(1, height, width, -1))[compiled.outputs[0]]


@pytest.mark.parametrize('encoding', ['rgb8', 'bgr8', 'rgba8', 'bgra8', 'mono8'])
@pytest.mark.parametrize('model_order', ['RGB', 'BGR'])
def test_graph_and_host_paths_agree(encoding, model_order):
    normalisation = Normalisation(IMAGENET.mean, IMAGENET.scale, model_order)
    image = camera_image(encoding)
    graph = run_graph(passthrough_model(3, 24, 32), image, encoding, normalisation)
    host = HostPreprocessor(passthrough_model(3, 24, 32), encoding, normalisation)(
        image[:, :, 0] if encoding == 'mono8' else image)
    assert graph.shape == host.shape == (1, 3, 24, 32)
    # Both resize bilinearly with half-pixel centres; they differ only by rounding.
    np.testing.assert_allclose(graph, host, atol=0.05)


def test_graph_colour_conversion_and_normalisation_are_exact_without_resize():
    image = camera_image('bgr8', 8, 8)
    normalisation = Normalisation((10.0, 20.0, 30.0), (2.0, 4.0, 8.0), 'RGB')
    out = run_graph(passthrough_model(3, 8, 8), image, 'bgr8', normalisation)
    rgb = image[:, :, ::-1].astype(np.float32)
    expected = ((rgb - [10.0, 20.0, 30.0]) / [2.0, 4.0, 8.0]).transpose(2, 0, 1)[None]
    np.testing.assert_allclose(out, expected, rtol=1e-6, atol=1e-5)


def test_gray_model_takes_colour_and_mono_input():
    image = camera_image('rgb8', 8, 8)
    normalisation = Normalisation((0.0,), (1.0,))
    out = run_graph(passthrough_model(1, 8, 8), image, 'rgb8', normalisation)
    gray = image.astype(np.float32) @ np.array([0.299, 0.587, 0.114], np.float32)
    np.testing.assert_allclose(out[0, 0], gray, atol=1e-3)
    mono = camera_image('mono8', 8, 8)
    out = run_graph(passthrough_model(1, 8, 8), mono, 'mono8', normalisation)
    np.testing.assert_array_equal(out[0, 0], mono[:, :, 0])


def test_model_input_description_and_rejections():
    assert ModelInput.of(passthrough_model(3, 24, 32)) == ModelInput('image', 'NCHW', 3, 24, 32)
    with pytest.raises(PreprocessingError, match='neither 1 nor 3 channels'):
        ModelInput.of(passthrough_model(5, 24, 32))
    with pytest.raises(PreprocessingError, match='takes 3 channels'):
        Normalisation((1.0, 2.0), (1.0,)).per_channel(3)
    with pytest.raises(PreprocessingError, match='zeros'):
        Normalisation((0.0,), (0.0,)).per_channel(3)
    with pytest.raises(PreprocessingError, match='color_order'):
        embed_preprocessing(passthrough_model(3, 4, 4), 'rgb8', 4, 4,
                            Normalisation(color_order='YUV'))
