"""Heads: depth and class results from raw model outputs, and models that do not fit them."""

import numpy as np
import pytest

from edge_perception.core.depth_geometry import PinholeIntrinsics
from edge_perception.core.heads import ClassifierHead, DepthHead, HeadMismatchError
from edge_perception.core.model_info import ModelInfo
from edge_perception.core.pointcloud_layout import unpack_points


def test_depth_is_resized_to_the_camera_scaled_and_cut_to_its_range():
    head = DepthHead(depth_scale=0.5, min_depth=1.0, max_depth=3.0)
    output = np.array([[[[1.0, 4.0], [6.0, 8.0]]]], np.float32)  # 1x1x2x2
    depth = head.depth([output], 2, 2)
    np.testing.assert_array_equal(depth, [[np.nan, 2.0], [3.0, np.nan]])
    assert head.depth([output], 4, 4).shape == (4, 4)


def test_the_cloud_is_the_depth_projected_through_the_camera():
    head = DepthHead()
    depth = np.full((2, 3), 2.0, np.float32)
    cloud = head.cloud(depth, PinholeIntrinsics(1.0, 1.0, 1.0, 0.5, 3, 2))
    points, _ = unpack_points(cloud.fields, cloud.point_step, 2, 3, cloud.data)
    np.testing.assert_allclose(points[:, :, 2], 2.0)
    np.testing.assert_allclose(points[0, :, 0], [-2.0, 0.0, 2.0])  # (u - cx) / fx * z


def test_each_head_refuses_a_model_that_says_it_is_the_other_kind():
    with pytest.raises(HeadMismatchError, match="'Classification' model"):
        DepthHead.check_model([(1, 1, 8, 8)], ModelInfo(model_type='Classification'))
    with pytest.raises(HeadMismatchError, match="'depth_estimation' model"):
        ClassifierHead.check_model([(1, 10)], ModelInfo(model_type='depth_estimation'))
    with pytest.raises(HeadMismatchError, match='not one depth map'):
        DepthHead.check_model([(1, 10)], ModelInfo())
    assert ClassifierHead.check_model([(1, 10)], ModelInfo()) == 10


def test_labels_come_from_a_file_then_the_model_then_the_class_indices(tmp_path):
    labels_file = tmp_path / 'labels.txt'
    labels_file.write_text('a\nb\nc\n')
    described = ModelInfo(labels=('x', 'y', 'z'))
    assert ClassifierHead.labels_for(described, 3, str(labels_file)) == ['a', 'b', 'c']
    assert ClassifierHead.labels_for(described, 3) == ['x', 'y', 'z']
    assert ClassifierHead.labels_for(ModelInfo(), 3) == ['0', '1', '2']
    with pytest.raises(HeadMismatchError, match='names 3 labels but outputs 4'):
        ClassifierHead.labels_for(described, 4)


def test_classes_best_first_with_their_labels():
    head = ClassifierHead(['a', 'b', 'c'], top_k=2)
    best = head.classify([np.array([[0.2, 0.5, 0.3]], np.float32)])
    assert best.class_ids.tolist() == [1, 2] and best.labels == ['b', 'c']
    np.testing.assert_allclose(best.scores, [0.5, 0.3])
