"""Per-layer profile of a compiled model, in the manner of the NCS SDK's mvNCProfile.

For every layer the device executed: its name and type, the precision it ran in, its time
from OpenVINO's performance counters, and the MFLOPs of the original operations fused into
it, computed from their shapes (2 FLOPs per multiply-accumulate for convolutions and matrix
products, one per element for element-wise operations). No rclpy here.
"""

import csv
from dataclasses import dataclass
import html
import math
import time

import numpy as np

from edge_perception.core.engine import compile_model

# One FLOP per output element.
ELEMENTWISE_TYPES = {
    'Add', 'Subtract', 'Multiply', 'Divide', 'Maximum', 'Minimum', 'Power', 'SquaredDifference',
    'Relu', 'PRelu', 'Clamp', 'Sigmoid', 'Tanh', 'Exp', 'Sqrt', 'Elu', 'Swish', 'HSwish',
    'HSigmoid', 'Gelu', 'Mish', 'SoftPlus', 'Abs', 'Negative', 'Floor', 'Ceiling',
    'BatchNormInference', 'Softmax', 'SoftMax', 'LogSoftmax', 'MVN', 'NormalizeL2'}


@dataclass(frozen=True)
class LayerProfile:
    """One executed layer: time in milliseconds, MFLOPs, and its share of the total time."""

    name: str
    layer_type: str
    precision: str
    time_ms: float
    mflops: float
    share: float


def _static_shape(port):
    shape = port.get_partial_shape()
    if shape.is_dynamic:
        return None
    return [dimension.get_length() for dimension in shape]


def operation_flops(operation):
    """Return the floating-point operations of one ``ov.Node``; 0 where not counted.

    Convolutions, group convolutions, transposed convolutions and matrix products count 2
    FLOPs per multiply-accumulate; element-wise operations one per output element; pooling one
    per window element.
    """
    kind = operation.get_type_name()
    output = _static_shape(operation.output(0)) if operation.get_output_size() else None
    if output is None:
        return 0.0
    inputs = [_static_shape(operation.input(index).get_source_output())
              for index in range(operation.get_input_size())]
    if kind == 'Convolution':
        weights = inputs[1]  # C_out x C_in x kernel...
        return 2.0 * math.prod(output) * math.prod(weights[1:])
    if kind == 'GroupConvolution':
        weights = inputs[1]  # groups x C_out/g x C_in/g x kernel...
        return 2.0 * math.prod(output) * math.prod(weights[2:])
    if kind == 'ConvolutionBackpropData':
        weights = inputs[1]  # C_in x C_out x kernel...
        return 2.0 * math.prod(inputs[0]) * math.prod(weights[1:])
    if kind == 'GroupConvolutionBackpropData':
        weights = inputs[1]  # groups x C_in/g x C_out/g x kernel...
        return 2.0 * math.prod(inputs[0]) * math.prod(weights[2:])
    if kind == 'MatMul':
        first = inputs[0]
        attributes = operation.get_attributes()
        inner = first[-2] if attributes.get('transpose_a') else first[-1]
        return 2.0 * math.prod(output) * inner
    if kind in ('MaxPool', 'AvgPool'):
        kernel = operation.get_attributes().get('kernel', [])
        return float(math.prod(output) * math.prod(kernel))
    if kind in ELEMENTWISE_TYPES:
        return float(math.prod(output))
    return 0.0


def profile(core, model, device, iterations, inputs=None, progress=None):
    """Run ``model`` ``iterations`` times with performance counters; return its layers.

    :param core: ``ov.Core``.
    :param model: ``ov.Model`` with static input shapes.
    :param device: OpenVINO device.
    :param inputs: ``{input index: array}``; random data of the right shapes by default.
    :param progress: called with the number of iterations done, for a progress display.
    :return: :class:`LayerProfile` list sorted by time, longest first, and the mean
        wall-clock time of one inference in milliseconds.
    """
    compiled = compile_model(core, model, device, 'LATENCY', {'PERF_COUNT': True})
    request = compiled.create_infer_request()
    if inputs is None:
        rng = np.random.default_rng(0)
        inputs = {index: rng.standard_normal(_static_shape(port)).astype(
            port.get_element_type().to_dtype()) for index, port in enumerate(compiled.inputs)}
    request.infer(inputs)  # the first inference allocates; keep it out of the figures
    layer_times = {}
    layer_types = {}
    wall_ms = 0.0
    for iteration in range(iterations):
        started = time.perf_counter()
        request.infer(inputs)
        wall_ms += (time.perf_counter() - started) * 1e3
        for counter in request.profiling_info:
            if counter.status.name != 'EXECUTED':
                continue
            seconds = counter.real_time.total_seconds()
            layer_times[counter.node_name] = layer_times.get(counter.node_name, 0.0) + seconds
            layer_types[counter.node_name] = (counter.node_type, counter.exec_type)
        if progress is not None:
            progress(iteration + 1)
    owners, precisions = _runtime_layers(compiled)
    mflops_by_layer = _attribute_flops(model, owners)
    total_s = sum(layer_times.values()) or 1.0
    layers = []
    for name, seconds in layer_times.items():
        layer_type, exec_type = layer_types[name]
        layers.append(LayerProfile(name, layer_type, precisions.get(name) or exec_type,
                                   seconds / iterations * 1e3,
                                   mflops_by_layer.get(name, 0.0) / 1e6, seconds / total_s))
    layers.sort(key=lambda layer: layer.time_ms, reverse=True)
    return layers, wall_ms / iterations


def _runtime_layers(compiled):
    """Return ``{original operation: runtime layer}`` and ``{runtime layer: precision}``."""
    owners, precisions = {}, {}
    for operation in compiled.get_runtime_model().get_ordered_ops():
        layer = operation.get_friendly_name()
        info = operation.get_rt_info()
        if 'runtimePrecision' in info:
            precisions[layer] = str(info['runtimePrecision'].astype(str))
        if 'originalLayersNames' in info:
            for original in str(info['originalLayersNames'].astype(str)).split(','):
                if original:
                    owners[original] = layer
    return owners, precisions


def _attribute_flops(model, owners):
    """Sum each original operation's FLOPs into the runtime layer that executes it.

    Plugins do not always list every fused operation (a MatMul folded into a FullyConnected
    layer named after its bias Add, say); such an operation is charged to the layer of its
    nearest consumer that is listed.
    """
    flops_by_layer = {}
    for operation in model.get_ordered_ops():
        flops = operation_flops(operation)
        if not flops:
            continue
        layer = _owning_layer(operation, owners)
        if layer is not None:
            flops_by_layer[layer] = flops_by_layer.get(layer, 0.0) + flops
    return flops_by_layer


def _owning_layer(operation, owners, depth=0):
    layer = owners.get(operation.get_friendly_name())
    if layer is not None or depth > 4:
        return layer
    for output in operation.outputs():
        for target in output.get_target_inputs():
            layer = _owning_layer(target.get_node(), owners, depth + 1)
            if layer is not None:
                return layer
    return None


COLUMNS = ('layer', 'type', 'precision', 'time ms', 'MFLOPs', 'share %')


def _row(layer):
    return (layer.name, layer.layer_type, layer.precision, f'{layer.time_ms:.3f}',
            f'{layer.mflops:.2f}', f'{100 * layer.share:.1f}')


def format_table(layers, top=None, name_width=48):
    """Return the profile as a text table: the ``top`` longest layers and the totals."""
    shown = layers[:top] if top else layers
    lines = [f'{"#":>3} {COLUMNS[0]:<{name_width}} {COLUMNS[1]:<18} {COLUMNS[2]:<10} '
             f'{COLUMNS[3]:>9} {COLUMNS[4]:>9} {COLUMNS[5]:>7}']
    for index, layer in enumerate(shown, 1):
        name, kind, precision, time_ms, mflops, share = _row(layer)
        if len(name) > name_width:
            name = '…' + name[-(name_width - 1):]
        lines.append(f'{index:>3} {name:<{name_width}} {kind:<18} {precision:<10} '
                     f'{time_ms:>9} {mflops:>9} {share:>7}')
    total_ms = sum(layer.time_ms for layer in layers)
    total_mflops = sum(layer.mflops for layer in layers)
    lines.append(f'    {"total of " + str(len(layers)) + " layers":<{name_width}} {"":<18} '
                 f'{"":<10} {total_ms:>9.3f} {total_mflops:>9.2f} {100.0:>7.1f}')
    return '\n'.join(lines)


def write_csv(layers, path):
    """Write every layer's profile as CSV."""
    with open(path, 'w', newline='', encoding='utf-8') as output:
        writer = csv.writer(output)
        writer.writerow(COLUMNS)
        writer.writerows((layer.name, layer.layer_type, layer.precision, f'{layer.time_ms:.6f}',
                          f'{layer.mflops:.6f}', f'{100 * layer.share:.3f}')
                         for layer in layers)


def write_html(layers, path, title):
    """Write every layer's profile as a standalone HTML table."""
    cells = ''.join('<tr>' + ''.join(f'<td>{html.escape(value)}</td>' for value in _row(layer))
                    + '</tr>\n' for layer in layers)
    header = ''.join(f'<th>{html.escape(column)}</th>' for column in COLUMNS)
    with open(path, 'w', encoding='utf-8') as output:
        output.write(f'<!DOCTYPE html>\n<html><head><meta charset="utf-8"><title>'
                     f'{html.escape(title)}</title></head><body><h1>{html.escape(title)}</h1>\n'
                     f'<table border="1">\n<tr>{header}</tr>\n{cells}</table></body></html>\n')
