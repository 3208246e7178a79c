"""Class scores: softmax in the graph, top-k selection, label files. No rclpy here."""

from dataclasses import dataclass
import os

import numpy as np

from edge_perception.core.openvino_compat import opset, PrePostProcessor


class ClassificationModelError(ValueError):
    """A model whose output is not one vector of class scores."""


class LabelsError(ValueError):
    """A labels file that is missing or does not cover every class."""


def class_count(output_shapes):
    """Return the number of classes of a model with output ``1 x N`` (or ``N``, ``1xNx1x1``).

    :param output_shapes: shapes of the model outputs (-1 for dynamic dimensions).
    :raises ClassificationModelError: for several outputs, or an output that is not a vector.
    """
    if len(output_shapes) != 1:
        raise ClassificationModelError(
            f'the model has {len(output_shapes)} outputs; a classifier has one class vector')
    shape = output_shapes[0]
    sizes = [size for size in shape if size != 1]
    if len(sizes) != 1 or sizes[0] < 2:
        raise ClassificationModelError(
            f'model output shape {list(shape)} is not a class vector (1 x N, N >= 2)')
    return sizes[0]


def append_softmax(model):
    """Return ``model`` with a softmax over its class vector added to the graph.

    The output is flattened to ``1 x N`` first, so ``1 x N x 1 x 1`` outputs work too.
    """
    ppp = PrePostProcessor(model)
    ppp.output().postprocess().custom(lambda node: opset.softmax(
        opset.reshape(node, opset.constant(np.array([1, -1], np.int64)), False), 1).output(0))
    return ppp.build()


@dataclass(frozen=True)
class TopK:
    """The best classes of one frame, best first."""

    class_ids: np.ndarray
    scores: np.ndarray


def top_k(scores, k, threshold=0.0):
    """Return the ``k`` best classes whose score is at least ``threshold``.

    Ties keep the lower class index first, so results are deterministic.
    """
    scores = np.asarray(scores, dtype=np.float32).reshape(-1)
    order = np.argsort(-scores, kind='stable')[:k]
    order = order[scores[order] >= threshold]
    return TopK(order.astype(np.uint32), scores[order])


def load_labels(path, classes):
    """Read one label per line; return a list of ``classes`` labels.

    :param path: labels file, or '' for none (labels are then the class indices).
    :param classes: the model's number of classes.
    :raises LabelsError: when the file is missing or has fewer non-empty lines than classes.
    """
    if not path:
        return [str(index) for index in range(classes)]
    if not os.path.isfile(path):
        raise LabelsError(f"labels file '{path}' does not exist")
    with open(path, encoding='utf-8') as labels_file:
        labels = [line.strip() for line in labels_file if line.strip()]
    if len(labels) < classes:
        raise LabelsError(f"labels file '{path}' has {len(labels)} labels but the model "
                          f'outputs {classes} classes')
    return labels[:classes]
