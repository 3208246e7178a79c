"""Operations newer than OpenVINO 2022.3 reads, lowered to older ones that compute the same.

Each case builds a tiny model with the new operation, lowers a copy, and compares both on CPU
(f32): the outputs must be identical, and the lowered model must hold no operation newer than
opset10. Needs a release with opset14 and opset16 (skipped on the 2022.3 and 2023.0 runs).
"""

import numpy as np
import pytest

from edge_perception.core.engine import compile_model, create_core
from edge_perception.core.model_info import ModelInfo, read_model_info, write_model_info
from edge_perception.core.openvino_compat import Model, opset_module, PartialShape, Type
from edge_perception.core.opset_lowering import lower_for_runtime, opset_number

try:
    opset16 = opset_module(16)
    opset11 = opset_module(11)
except ImportError:
    pytest.skip('this OpenVINO has no opset16: nothing to lower', allow_module_level=True)

# Input sizes chosen so that every rounding differs somewhere: 5 with kernel 2 and stride 2
# gives floor 2, ceil 3, ceil_torch 3; 6 with end padding 1 gives floor 3, ceil 4, ceil_torch 3.
POOLINGS = [((1, 2, 5, 6), [0, 0], [0, 1], rounding)
            for rounding in ('floor', 'ceil', 'ceil_torch')]


def one_output_model(build, shape, name='probe'):
    image = opset16.parameter(PartialShape(list(shape)), Type.f32, name='image')
    output = build(image)
    output.get_output_tensor(0).set_names({'result'})
    return Model([output.output(0)], [image], name)


def lowered_matches(model, input_shape, target='2022.3'):
    """Lower a copy of ``model``; return it after checking its outputs equal the original's."""
    lowered = model.clone()
    assert lower_for_runtime(lowered, target) == []
    assert max(opset_number(node) for node in lowered.get_ordered_ops()) <= 10
    image = np.random.default_rng(0).standard_normal(input_shape).astype(np.float32)
    core = create_core()
    expected = compile_model(core, model, 'CPU', inference_precision='f32')(image)
    actual = compile_model(core, lowered, 'CPU', inference_precision='f32')(image)
    for index in range(len(model.outputs)):
        assert actual[index].shape == expected[index].shape
        np.testing.assert_array_equal(actual[index], expected[index])
    return lowered


@pytest.mark.parametrize(('shape', 'pads_begin', 'pads_end', 'rounding'), POOLINGS)
def test_max_pool_14_becomes_max_pool_8_with_the_same_windows(shape, pads_begin, pads_end,
                                                              rounding):
    model = one_output_model(lambda image: opset16.max_pool(
        image, [2, 2], [1, 1], pads_begin, pads_end, [2, 2], rounding), shape)
    assert opset_number(model.get_ordered_ops()[1]) == 14
    lowered = lowered_matches(model, shape)
    pools = [node for node in lowered.get_ordered_ops() if node.get_type_name() == 'MaxPool']
    assert [opset_number(node) for node in pools] == [8]
    assert lowered.outputs[0].get_names() == {'result'}


@pytest.mark.parametrize(('shape', 'pads_begin', 'pads_end', 'rounding'), POOLINGS)
@pytest.mark.parametrize('exclude_pad', [True, False])
def test_avg_pool_14_and_16_become_avg_pool_1(shape, pads_begin, pads_end, rounding,
                                              exclude_pad):
    model = one_output_model(lambda image: opset16.avg_pool(
        image, [2, 2], pads_begin, pads_end, [2, 2], exclude_pad, rounding,
        dilations=[1, 1]), shape)
    if rounding == 'ceil_torch' and not exclude_pad:
        # Neither older rounding matches both axes, and stretching the padding would change
        # the divisor of the windows that reach into it.
        left = lower_for_runtime(model)
        assert len(left) == 1 and 'padding counted in the average' in left[0]
    else:
        lowered_matches(model, shape)


def test_ceil_torch_rounding_on_a_dynamic_size_is_named_and_left():
    model = one_output_model(lambda image: opset16.max_pool(
        image, [2, 2], [1, 1], [0, 0], [0, 1], [2, 2], 'ceil_torch'), (1, 2, -1, -1))
    left = lower_for_runtime(model)
    assert len(left) == 1 and left[0].startswith('MaxPool-14') and 'ceil_torch' in left[0]


def test_dilated_average_pooling_has_no_older_equivalent():
    model = one_output_model(lambda image: opset16.avg_pool(
        image, [1, 1], [0, 0], [0, 0], [2, 2], True, 'floor', dilations=[2, 2]), (1, 1, 6, 6))
    left = lower_for_runtime(model)
    assert len(left) == 1 and left[0].startswith('AvgPool-16') and 'dilations [2, 2]' in left[0]


@pytest.mark.parametrize(('mode', 'coordinates', 'calculation', 'values'), [
    ('nearest', 'asymmetric', 'scales', np.array([2.0, 1.5], np.float32)),
    ('linear_onnx', 'half_pixel', 'sizes', np.array([9, 4], np.int64)),
    ('linear', 'align_corners', 'scales', np.array([0.5, 2.0], np.float32)),
    ('cubic', 'pytorch_half_pixel', 'sizes', np.array([7, 11], np.int64)),
])
def test_interpolate_11_becomes_interpolate_4(mode, coordinates, calculation, values):
    shape = (1, 2, 6, 8)
    model = one_output_model(lambda image: opset11.interpolate(
        image, opset16.constant(values), mode, calculation,
        coordinate_transformation_mode=coordinates,
        axes=opset16.constant(np.array([2, 3], np.int64))), shape)
    lowered = lowered_matches(model, shape)
    resizes = [node for node in lowered.get_ordered_ops() if node.get_type_name() == 'Interpolate']
    assert [opset_number(node) for node in resizes] == [4]


def test_interpolate_11_without_axes_and_with_a_dynamic_batch():
    model = one_output_model(lambda image: opset11.interpolate(
        image, opset16.constant(np.array([1, 1, 2, 2], np.float32)), 'nearest', 'scales'),
        (-1, 3, 4, 5))
    lowered_matches(model, (2, 3, 4, 5))


def test_pillow_interpolation_is_named_and_left_as_it_is():
    model = one_output_model(lambda image: opset11.interpolate(
        image, opset16.constant(np.array([4, 4], np.int64)), 'bilinear_pillow', 'sizes',
        axes=opset16.constant(np.array([2, 3], np.int64))), (1, 1, 8, 8))
    left = lower_for_runtime(model)
    assert len(left) == 1 and 'Interpolate-11' in left[0] and 'bilinear_pillow' in left[0]
    assert opset_number(model.get_ordered_ops()[-2]) == 11


def test_top_k_11_becomes_top_k_3_unless_it_sorts_stably():
    def top_k(stable):
        return lambda image: opset11.topk(image, opset16.constant(np.int64(3)), -1, 'max',
                                          'value', 'i32', stable)
    lowered_matches(one_output_model(top_k(False), (2, 10)), (2, 10))
    left = lower_for_runtime(one_output_model(top_k(True), (2, 10)))
    assert len(left) == 1 and 'stable sort' in left[0]


def test_model_info_survives_and_the_latest_target_changes_nothing():
    info = ModelInfo(model_type='Classification', labels=('a', 'b'), output_unit='logits')
    model = write_model_info(one_output_model(lambda image: opset16.max_pool(
        image, [2, 2], [1, 1], [0, 0], [0, 0], [2, 2], 'ceil_torch'), (1, 2, 5, 5)), info)
    untouched = model.clone()
    assert lower_for_runtime(untouched, 'latest') == []
    assert opset_number(untouched.get_ordered_ops()[1]) == 14
    lowered_matches(model, (1, 2, 5, 5))
    lower_for_runtime(model)
    assert read_model_info(model) == info
    with pytest.raises(ValueError, match='2022.3'):
        lower_for_runtime(model, '2021.4')
