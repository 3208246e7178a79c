"""Class vectors, in-graph softmax, top-k and labels."""

import numpy as np
import pytest

from edge_perception.core.classification import (
    append_softmax,
    class_count,
    ClassificationModelError,
    LabelsError,
    load_labels,
    top_k,
)
from edge_perception.core.engine import compile_model, create_core
from edge_perception.core.openvino_compat import Model, opset, Type


@pytest.mark.parametrize('shapes, classes', [
    ([(1, 10)], 10), ([(10,)], 10), ([(1, 1000, 1, 1)], 1000)])
def test_class_count(shapes, classes):
    assert class_count(shapes) == classes


@pytest.mark.parametrize('shapes', [[(1, 1, 224, 224)], [(1, 1)], [(1, 10), (1, 4)], [(1, -1)]])
def test_outputs_that_are_not_a_class_vector(shapes):
    with pytest.raises(ClassificationModelError):
        class_count(shapes)


@pytest.mark.parametrize('shape', [[1, 4], [1, 4, 1, 1]])
def test_softmax_in_the_graph(shape):
    logits = opset.parameter(shape, Type.f32, name='logits')
    model = append_softmax(Model([opset.multiply(logits, opset.constant(np.float32(1)))],
                                 [logits]))
    compiled = compile_model(create_core(), model, 'CPU')
    values = np.array([1.0, 3.0, -2.0, 0.5], np.float32)
    probabilities = compiled(values.reshape(shape))[compiled.outputs[0]]
    expected = np.exp(values - values.max()) / np.exp(values - values.max()).sum()
    assert probabilities.shape == (1, 4)
    np.testing.assert_allclose(probabilities[0], expected, rtol=1e-5)


def test_top_k_order_ties_and_threshold():
    scores = np.array([[0.1, 0.3, 0.3, 0.05, 0.25]], np.float32)
    best = top_k(scores, 3)
    assert best.class_ids.tolist() == [1, 2, 4]
    np.testing.assert_allclose(best.scores, [0.3, 0.3, 0.25])
    assert top_k(scores, 5, threshold=0.26).class_ids.tolist() == [1, 2]
    assert top_k(scores, 10).class_ids.size == 5
    assert top_k(scores, 2, threshold=0.9).class_ids.size == 0


def test_labels(tmp_path):
    assert load_labels('', 3) == ['0', '1', '2']
    path = tmp_path / 'labels.txt'
    path.write_text('cat\n\ndog\n  bird \nextra\n')
    assert load_labels(str(path), 3) == ['cat', 'dog', 'bird']
    with pytest.raises(LabelsError, match='has 4 labels but the model outputs 5 classes'):
        load_labels(str(path), 5)
    with pytest.raises(LabelsError, match='does not exist'):
        load_labels(str(tmp_path / 'none.txt'), 2)
