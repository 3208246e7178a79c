"""The bundled digit classifier and demo recording, as installed, through the node's graph."""

import numpy as np
import pytest

ov = pytest.importorskip('openvino')

from edge_perception.core.classification import append_softmax, load_labels  # noqa: E402
from edge_perception.core.model_info import read_model_info  # noqa: E402
from edge_perception.core.preprocessing import (  # noqa: E402
    embed_preprocessing,
    ModelInput,
    resolve_normalisation,
)
from edge_perception.package_paths import shared_file  # noqa: E402
from edge_perception.training.make_digits_bag import read_digits_bag  # noqa: E402

MODEL = shared_file('models', 'digits', 'digit_classifier.xml')


def test_bundled_ir_has_the_documented_input_and_output():
    model = ov.Core().read_model(MODEL)
    assert ModelInput.of(model) == ModelInput('image', 'NCHW', 1, 32, 32)
    assert model.output(0).get_any_name() == 'logits'
    assert model.output(0).get_partial_shape() == ov.PartialShape([1, 10])
    labels = load_labels(str(shared_file('models', 'digits', 'labels.txt')), 10)
    assert labels == [str(digit) for digit in range(10)]


def test_bundled_model_reads_the_bundled_recording_as_the_node_would():
    pairs = read_digits_bag(shared_file('data', 'demo_digits_bag'))
    assert len(pairs) == 20
    assert all(image.shape == (480, 640, 3) for image, _ in pairs)
    core = ov.Core()
    model = core.read_model(MODEL)
    normalisation, unstated = resolve_normalisation(read_model_info(model))
    assert 'mean' not in unstated and 'scale' not in unstated  # the IR says how to feed it
    model = embed_preprocessing(model, 'rgb8', 480, 640, normalisation)
    compiled = core.compile_model(append_softmax(model), 'CPU')
    probabilities = np.concatenate([compiled(image[None])[0] for image, _ in pairs])
    truth = np.array([label for _, label in pairs])
    np.testing.assert_allclose(probabilities.sum(axis=1), 1.0, atol=1e-3)
    # 20 of 20 when shipped; one miss is allowed for plugin-to-plugin rounding.
    assert np.sum(probabilities.argmax(axis=1) == truth) >= 19
