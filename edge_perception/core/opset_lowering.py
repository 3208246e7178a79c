"""Operations newer than a target OpenVINO release reads, replaced by older ones that compute
the same thing, so that an IR written here loads on that release.

OpenVINO 2022.3 LTS, the last release with the Intel NCS2 (MYRIAD) plugin, reads operations of
opset1 to opset10; the converters of newer releases write MaxPool-14, AvgPool-14 and
Interpolate-11 for PyTorch's pooling and upsampling. :func:`lower_for_runtime` rewrites those
through OpenVINO's graph API (never the XML text) when the older version means exactly the
same for the shapes at hand, and names every operation it cannot lower. No rclpy here.
"""

import re

import numpy as np

from edge_perception.core.openvino_compat import opset_module

# The newest opset each target release reads; 'latest' keeps the installed release's opsets.
NEWEST_OPSET = {'2022.3': 10, 'latest': None}
TARGET_RUNTIMES = tuple(NEWEST_OPSET)
DEFAULT_TARGET_RUNTIME = '2022.3'
# Interpolate-4's modes; Interpolate-11 adds bilinear_pillow and bicubic_pillow.
_INTERPOLATE_4_MODES = ('nearest', 'linear', 'linear_onnx', 'cubic')


def lower_for_runtime(model, target_runtime=DEFAULT_TARGET_RUNTIME):
    """Replace, in place, the operations of ``model`` newer than ``target_runtime`` reads.

    :param model: ``ov.Model``; its tensor names, layer names and ``rt_info`` (``model_info``)
        stay.
    :param target_runtime: one of :data:`TARGET_RUNTIMES`.
    :return: one description per operation left that the target cannot read (no exact older
        equivalent), e.g. ``"TopK-11 'top' (stable sort)"``; empty when the model is ready.
    """
    if target_runtime not in NEWEST_OPSET:
        raise ValueError(f"target runtime '{target_runtime}' is not one of: "
                         f"{', '.join(TARGET_RUNTIMES)}")
    newest = NEWEST_OPSET[target_runtime]
    if newest is None:
        return []
    left = []
    for node in model.get_ordered_ops():
        if opset_number(node) <= newest:
            continue
        lower = _LOWERINGS.get((node.get_type_name(), opset_number(node)))
        replacement = lower(node) if lower else 'no older version of this operation'
        if isinstance(replacement, str):
            left.append(f"{node.get_type_name()}-{opset_number(node)} "
                        f"'{node.get_friendly_name()}' ({replacement})")
        else:
            _replace(node, replacement)
    model.validate_nodes_and_infer_types()
    return left


def opset_number(node):
    """Return the opset ``node``'s operation version belongs to (0 when not an opset's)."""
    match = re.fullmatch(r'opset(\d+)', node.get_type_info().version_id)
    return int(match.group(1)) if match else 0


def _lower_max_pool(node):
    """MaxPool-14 -> MaxPool-8 (the same but for ceil_torch rounding); or why not."""
    attributes = node.get_attributes()

    def max_pool(rounding_type, pads_end):
        return opset_module(8).max_pool(
            node.input_value(0), attributes['strides'], attributes['dilations'],
            attributes['pads_begin'], pads_end, attributes['kernel'], rounding_type,
            attributes['auto_pad'], attributes['index_element_type'], attributes['axis'])

    return _pooling_with_older_rounding(node, attributes, max_pool, padding_counts=False)


def _lower_avg_pool(node):
    """AvgPool-14 and AvgPool-16 (which adds dilations) -> AvgPool-1; or why not."""
    attributes = node.get_attributes()
    if any(dilation != 1 for dilation in attributes.get('dilations', ())):
        return f"dilations {attributes['dilations']}"

    def avg_pool(rounding_type, pads_end):
        return opset_module(1).avg_pool(
            node.input_value(0), attributes['strides'], attributes['pads_begin'], pads_end,
            attributes['kernel'], attributes['exclude-pad'], rounding_type,
            attributes['auto_pad'])

    return _pooling_with_older_rounding(node, attributes, avg_pool,
                                        padding_counts=not attributes['exclude-pad'])


def _pooling_with_older_rounding(node, attributes, build, padding_counts):
    """Return the older pooling ``build(rounding_type, pads_end)`` makes with the same windows.

    floor and ceil are the same in every opset. ceil_torch (opset14) is ceil except that no
    window may start in the end padding, so on each spatial axis it gives ceil's output size
    or one less, floor's: where one rounding matches every axis it has the same windows;
    otherwise floor with the end padding stretched to the ceil_torch size has them too, and
    computes the same where padding takes no part in the result (max pooling, or average
    pooling that excludes the padding).
    """
    rounding_type = attributes['rounding_type'].lower()
    if rounding_type != 'ceil_torch':
        return build(rounding_type, attributes['pads_end'])
    for older in ('ceil', 'floor'):
        replacement = build(older, attributes['pads_end'])
        if _same_spatial_size(node, replacement):
            return replacement
    output, data = node.get_output_partial_shape(0), node.get_input_partial_shape(0)
    if output.rank.is_dynamic or not all(dimension.is_static
                                         for dimension in [*list(output)[2:], *list(data)[2:]]):
        return 'rounding ceil_torch with a dynamic spatial size'
    if padding_counts:
        return 'rounding ceil_torch with padding counted in the average'
    dilations = attributes.get('dilations') or [1] * len(attributes['kernel'])
    pads_end = [max(pad, (size.get_length() - 1) * stride + (kernel - 1) * dilation + 1
                    - length.get_length() - begin)
                for size, length, stride, kernel, dilation, begin, pad in zip(
                    list(output)[2:], list(data)[2:], attributes['strides'], attributes['kernel'],
                    dilations, attributes['pads_begin'], attributes['pads_end'], strict=True)]
    replacement = build('floor', pads_end)
    return replacement if _same_spatial_size(node, replacement) else \
        'rounding ceil_torch that no older rounding reproduces'


def _lower_interpolate(node):
    """Interpolate-11 -> Interpolate-4 (separate sizes and scales inputs); or why not."""
    attributes = node.get_attributes()
    if attributes['mode'] not in _INTERPOLATE_4_MODES:
        return f"mode {attributes['mode']}"
    opset1 = opset_module(1)
    data = node.input_value(0)
    axes = node.input_value(2) if node.get_input_size() > 2 else None
    axis_count = node.get_input_partial_shape(1)
    if axis_count.is_dynamic:
        return 'a dynamic number of axes'
    axis_count = axis_count.to_shape()[0] if len(axis_count) else 1
    # Interpolate-4 takes sizes and scales both and uses the one shape_calculation_mode names;
    # the other gets what the output shape says where that is static (ones otherwise).
    output_shape = node.get_output_partial_shape(0)
    input_shape = node.get_input_partial_shape(0)
    axis_indices = _constant_values(axes) if axes is not None else range(axis_count)
    static = axis_indices is not None and input_shape.rank.is_static
    if static:
        axis_indices = [int(axis) for axis in axis_indices]  # Interpolate takes no negative axes
        static = all(output_shape[axis].is_static and input_shape[axis].is_static
                     for axis in axis_indices)
    sizes = [output_shape[axis].get_length() for axis in axis_indices] if static \
        else [1] * axis_count
    mode = attributes['shape_calculation_mode']
    constant_scales = _constant_values(node.input_value(1)) if mode == 'scales' else None
    if static and _scales_are_size_ratios(constant_scales, input_shape, axis_indices, sizes):
        # The same transform from sizes: FP16 compression would turn f32 scales into f16
        # behind a Convert, which shape inference does not fold, and the output's height and
        # width would read as dynamic (a depth node refuses such a model).
        mode = 'sizes'
        scales = opset1.constant(np.array(constant_scales, np.float32)).output(0)
        sizes = opset1.constant(np.array(sizes, np.int64)).output(0)
    elif mode == 'scales':
        scales = node.input_value(1)
        if scales.get_element_type().get_type_name() != 'f32':
            scales = opset1.convert(scales, 'f32').output(0)
        sizes = opset1.constant(np.array(sizes, np.int64)).output(0)
    else:
        sizes = node.input_value(1)
        ratios = [output_shape[axis].get_length() / input_shape[axis].get_length()
                  for axis in axis_indices] if static else [1.0] * axis_count
        scales = opset1.constant(np.array(ratios, np.float32)).output(0)
    return opset_module(10).interpolate(
        data, sizes, scales, attributes['mode'], mode,
        attributes['pads_begin'], attributes['pads_end'],
        attributes['coordinate_transformation_mode'], attributes['nearest_mode'],
        attributes['antialias'], attributes['cube_coeff'], axes)


def _scales_are_size_ratios(scales, input_shape, axis_indices, sizes):
    """Whether constant ``scales`` (None: not constant) equal output size / input size on
    every axis exactly.
    """
    if scales is None or len(scales) != len(sizes):
        return False
    return all(float(scale) * input_shape[axis].get_length() == size
               and size / input_shape[axis].get_length() == float(scale)
               for scale, axis, size in zip(scales, axis_indices, sizes, strict=True))


def _lower_top_k(node):
    """TopK-11 -> TopK-3 unless it sorts stably (TopK-3 leaves the order of ties open)."""
    attributes = node.get_attributes()
    if attributes.get('stable'):
        return 'stable sort'
    return opset_module(3).topk(node.input_value(0), node.input_value(1), attributes['axis'],
                                attributes['mode'], attributes['sort'],
                                attributes['index_element_type'])


_LOWERINGS = {
    ('MaxPool', 14): _lower_max_pool,
    ('AvgPool', 14): _lower_avg_pool,
    ('AvgPool', 16): _lower_avg_pool,
    ('Interpolate', 11): _lower_interpolate,
    ('TopK', 11): _lower_top_k,
}


def _same_spatial_size(node, replacement):
    """Whether a pooling and its replacement give the same static size on every spatial axis
    (those after batch and channels).
    """
    old, new = node.get_output_partial_shape(0), replacement.get_output_partial_shape(0)
    if old.rank.is_dynamic or new.rank != old.rank:
        return False
    return all(before.is_static and after.is_static and before.get_length() == after.get_length()
               for before, after in zip(list(old)[2:], list(new)[2:], strict=True))


def _constant_values(output):
    node = output.get_node()
    return node.get_data().tolist() if node.get_type_name() == 'Constant' else None


def _replace(node, replacement):
    replacement.set_friendly_name(node.get_friendly_name())
    for index in range(node.get_output_size()):
        old, new = node.output(index), replacement.output(index)
        names = old.get_names()
        old.replace(new)
        new.get_tensor().set_names(names)
