"""Heads: what a model's raw outputs mean, turned into results. No rclpy here.

:class:`DepthHead` decodes a depth map into metres at the camera resolution (NaN outside the
valid range) and projects it into an organised point cloud; :class:`ClassifierHead` turns class
scores into the best classes with their labels (the softmax runs in the graph). The nodes, the
quantiser's accuracy check, the training evaluation and the benchmark all use these, so a
result means the same wherever it is computed.
"""

from dataclasses import dataclass

import numpy as np

from edge_perception.core.classification import append_softmax, class_count, load_labels, top_k
from edge_perception.core.depth_geometry import DepthDecoder, PointProjector
from edge_perception.core.input_crop import FULL_FRAME
from edge_perception.core.model_info import CLASSIFICATION, DEPTH_ESTIMATION
from edge_perception.core.pointcloud_layout import CloudPacker


class HeadMismatchError(ValueError):
    """A model whose outputs, or whose own description, do not fit the head."""


def _check_model_type(model_info, expected, head):
    if model_info.model_type and model_info.model_type != expected:
        raise HeadMismatchError(f"the model says it is a '{model_info.model_type}' model, not "
                                f"'{expected}': it cannot feed the {head}")


class DepthHead:
    """Depth map out of the model -> depth image in metres -> organised cloud.

    :param depth_scale: metres per unit of the model output.
    :param min_depth: nearest valid depth, metres; nearer pixels become NaN.
    :param max_depth: farthest valid depth, metres; farther pixels become NaN.
    """

    def __init__(self, depth_scale=1.0, min_depth=0.1, max_depth=10.0):
        self.decoder = DepthDecoder(depth_scale, min_depth, max_depth)
        self._projector = PointProjector()
        self._packer = CloudPacker()

    @staticmethod
    def check_model(output_shapes, model_info):
        """Raise :class:`HeadMismatchError` unless the model outputs one depth map.

        :param output_shapes: shapes of the model outputs (-1 for dynamic dimensions).
        :param model_info: the model's :class:`~edge_perception.core.model_info.ModelInfo`.
        """
        _check_model_type(model_info, DEPTH_ESTIMATION, 'depth head')
        if len(output_shapes) != 1 or len(output_shapes[0]) < 2 or \
                min(output_shapes[0][-2:]) < 2 or any(size != 1 for size in output_shapes[0][:-2]):
            raise HeadMismatchError(f'model output shapes {output_shapes} are not one depth map '
                                    '(expected 1x1xHxW or HxW)')

    def set_range(self, depth_scale, min_depth, max_depth):
        """Use another output scale or valid range from the next frame on."""
        self.decoder = DepthDecoder(depth_scale, min_depth, max_depth)

    def depth(self, outputs, width, height, out=None, input_crop=FULL_FRAME):
        """Return the ``height x width`` float32 depth in metres of one frame, NaN where invalid.

        :param outputs: the model's outputs (the first is the depth map).
        :param out: array to write into (an image buffer that is then published), or None.
        :param input_crop: fraction of the frame's width and height the network saw, centred;
            depth around that box is NaN.
        """
        return self.decoder.decode(outputs[0], width, height, out=out, input_crop=input_crop)

    def cloud(self, depth, intrinsics, rgb=None, decimation=1):
        """Return the organised cloud of a depth image as a
        :class:`~edge_perception.core.pointcloud_layout.PackedCloud`, reusing one buffer.

        :param intrinsics: :class:`~edge_perception.core.depth_geometry.PinholeIntrinsics` of
            the camera (scaled to the depth image when it was calibrated at another size).
        :param rgb: H x W x 3 uint8 colours for a packed ``rgb`` field, or None.
        :param decimation: keep every ``decimation``-th pixel of each row and column: an
            organised ``ceil(H / d) x ceil(W / d)`` cloud whose points are those of the full
            cloud at the kept pixels (depth is sampled, not averaged across edges).
        :raises ~edge_perception.core.depth_geometry.IntrinsicsError: when the intrinsics do not
            fit the image.
        """
        if decimation != 1:
            intrinsics = intrinsics.scaled_to(depth.shape[1], depth.shape[0]).decimated(
                decimation)
            depth = depth[::decimation, ::decimation]
            rgb = None if rgb is None else rgb[::decimation, ::decimation]
        height, width = depth.shape
        xyz = self._packer.xyz_buffer(height, width, rgb is not None)
        self._projector.project(depth, intrinsics, out=xyz)
        return self._packer.pack(rgb)


@dataclass(frozen=True)
class Classes:
    """The best classes of one frame, best first."""

    class_ids: np.ndarray
    labels: list
    scores: np.ndarray


class ClassifierHead:
    """Class scores out of the model -> the ``top_k`` best classes, with labels.

    :param labels: class names (class ``i`` at index ``i``).
    :param top_k: results per frame.
    :param score_threshold: lowest score reported.
    """

    def __init__(self, labels, top_k=5, score_threshold=0.0):
        self.labels = list(labels)
        self.top_k = top_k
        self.score_threshold = score_threshold

    @staticmethod
    def check_model(output_shapes, model_info):
        """Return the number of classes; raise :class:`HeadMismatchError` for a model that is
        not a classifier.
        """
        _check_model_type(model_info, CLASSIFICATION, 'classifier head')
        return class_count(output_shapes)

    @staticmethod
    def labels_for(model_info, classes, labels_path=''):
        """Return the class names: a labels file wins, then the model's own labels, else the
        class indices.

        :raises ~edge_perception.core.classification.LabelsError: for a labels file that is
            missing or too short, or model labels that do not cover every class.
        """
        if labels_path or not model_info.labels:
            return load_labels(labels_path, classes)
        if len(model_info.labels) < classes:
            raise HeadMismatchError(f'the model names {len(model_info.labels)} labels but '
                                    f'outputs {classes} classes')
        return list(model_info.labels[:classes])

    @staticmethod
    def output_postprocessing(output_is_logits):
        """Return the graph step that turns the output into probabilities, or None."""
        return append_softmax if output_is_logits else None

    def classify(self, outputs):
        """Return the :class:`Classes` of one frame's outputs (the first is the score vector)."""
        best = top_k(outputs[0], self.top_k, self.score_threshold)
        return Classes(best.class_ids, [self.labels[index] if index < len(self.labels)
                                        else str(index) for index in best.class_ids.tolist()],
                       best.scores)
