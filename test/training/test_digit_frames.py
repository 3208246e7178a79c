"""Camera-like digit frames, the classifier's input contract and the train/test split."""

import numpy as np
import pytest

from edge_perception.core.preprocessing import GRAY_WEIGHTS_RGB as NODE_GRAY_WEIGHTS
from edge_perception.training import digits


def _toy_digit():
    """An 8×8 '1'-like stroke in load_digits' convention (0..16, bright ink)."""
    digit = np.zeros((8, 8), np.float32)
    digit[1:7, 3:5] = 16.0
    return digit


def test_render_is_deterministic_by_seed_and_has_the_requested_shape():
    first = digits.render_camera_frame(_toy_digit(), 160, 120, seed=(3, 1))
    again = digits.render_camera_frame(_toy_digit(), 160, 120, seed=(3, 1))
    other = digits.render_camera_frame(_toy_digit(), 160, 120, seed=(3, 2))
    assert first.shape == (120, 160, 3)
    assert first.dtype == np.uint8
    np.testing.assert_array_equal(first, again)
    assert np.abs(first.astype(int) - other).mean() > 1.0
    assert digits.render_camera_frame(_toy_digit(), 640, 480, seed=0).shape == (480, 640, 3)


def test_batch_render_matches_single_renders_with_per_frame_seeds():
    stack = np.stack([_toy_digit(), _toy_digit().T])
    frames = digits.render_camera_frames(stack, 64, 48, seed=9)
    assert frames.shape == (2, 48, 64, 3)
    np.testing.assert_array_equal(frames[1], digits.render_camera_frame(stack[1], 64, 48, (9, 1)))


def test_ink_is_dark_on_light_paper():
    style = digits.FrameStyle(desk_probability=0.0, noise_sigma=(0.0, 0.0))
    frame = digits.render_camera_frame(_toy_digit(), 160, 120, seed=5, style=style)
    gray = frame.astype(np.float32) @ np.array(digits.GRAY_WEIGHTS_RGB, np.float32)
    # The stroke runs down the middle columns; the paper is at the left and right edges.
    stroke = gray[50:70, 76:84].mean()
    paper = np.concatenate([gray[50:70, 5:25], gray[50:70, 135:155]]).mean()
    assert stroke < paper - 40.0


def test_model_input_follows_the_contract():
    rng = np.random.default_rng(0)
    frame = rng.integers(0, 256, (48, 64, 3), dtype=np.uint8)
    tensor = digits.model_input(frame)
    assert tensor.shape == (1, 1, 32, 32)
    assert tensor.dtype == np.float32
    gray = frame.astype(np.float64) @ np.array([0.299, 0.587, 0.114])
    # 64×48 -> 32×32 bilinear: columns average pixel pairs; rows sample at y = 1.5 * i + 0.25.
    expected_top_left = (gray[0, 0] + gray[0, 1]) / 2 * 0.75 + (gray[1, 0] + gray[1, 1]) / 2 * 0.25
    assert tensor[0, 0, 0, 0] == pytest.approx((expected_top_left - 127.5) / 127.5, abs=1e-4)
    white = digits.model_input(np.full((120, 160, 3), 255, np.uint8))
    black = digits.model_input(np.zeros((120, 160, 3), np.uint8))
    np.testing.assert_allclose(white, 1.0, atol=1e-5)
    np.testing.assert_allclose(black, -1.0, atol=1e-6)


def test_gray_weights_are_the_ones_the_node_uses():
    assert digits.GRAY_WEIGHTS_RGB == pytest.approx(NODE_GRAY_WEIGHTS)


def test_stratified_split_is_disjoint_complete_and_reproducible():
    labels = np.repeat(np.arange(10), 50)
    train, test = digits.stratified_split(labels, 0.2, seed=4)
    assert np.intersect1d(train, test).size == 0
    np.testing.assert_array_equal(np.sort(np.concatenate([train, test])), np.arange(500))
    np.testing.assert_array_equal(np.bincount(labels[test]), np.full(10, 10))
    again, _ = digits.stratified_split(labels, 0.2, seed=4)
    np.testing.assert_array_equal(train, again)


def test_digit_split_of_the_bundled_data_is_disjoint_and_stratified():
    pytest.importorskip('sklearn')
    split = digits.load_digit_split()
    assert len(split.train_labels) + len(split.test_labels) == 1797
    assert np.intersect1d(split.train_indices, split.test_indices).size == 0
    assert len(split.test_labels) == 359
    counts = np.bincount(split.test_labels, minlength=10)
    assert counts.min() >= 35 and counts.max() <= 37
    assert split.train_images.shape[1:] == (8, 8)
    assert split.test_images.max() <= 16.0


def test_in_graph_preprocessing_of_the_node_matches_the_contract():
    ov = pytest.importorskip('openvino')
    from edge_perception.core.openvino_compat import opset
    from edge_perception.core.preprocessing import embed_preprocessing, Normalisation

    # A model that returns its input shows exactly what the node feeds the classifier.
    image = opset.parameter([1, 1, 32, 32], ov.Type.f32, name='image')
    identity = opset.multiply(image, opset.constant(np.ones((1, 1, 1, 1), np.float32)))
    model = ov.Model([identity], [image])
    frame = digits.render_camera_frame(_toy_digit(), 640, 480, seed=11)
    normalisation = Normalisation(mean=(digits.INPUT_MEAN,), scale=(digits.INPUT_SCALE,))
    compiled = ov.Core().compile_model(
        embed_preprocessing(model, 'rgb8', 480, 640, normalisation), 'CPU')
    # Within about one gray level of 0..255 (the CPU plugin resizes in reduced precision).
    np.testing.assert_allclose(compiled(frame[None])[0], digits.model_input(frame), atol=0.01)
