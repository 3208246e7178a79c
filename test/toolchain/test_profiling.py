"""Per-layer profiles: FLOP counts from shapes, timings from performance counters."""

import csv
import subprocess

import numpy as np
import pytest

from edge_perception.core.engine import create_core
from edge_perception.core.openvino_compat import Model, opset, Type
from edge_perception.replay.node_process import installed_command
from edge_perception.toolchain.profiling import format_table, operation_flops, profile

from tiny_models import write_model


def convolution(channels_in, channels_out, size, kernel, groups=1):
    image = opset.parameter([1, channels_in, size, size], Type.f32, name='image')
    pad = [kernel // 2] * 2
    if groups == 1:
        weights = np.ones((channels_out, channels_in, kernel, kernel), np.float32)
        node = opset.convolution(image, opset.constant(weights), [1, 1], pad, pad, [1, 1])
    else:
        weights = np.ones((groups, channels_out // groups, channels_in // groups, kernel,
                           kernel), np.float32)
        node = opset.group_convolution(image, opset.constant(weights), [1, 1], pad, pad,
                                       [1, 1])
    return Model([node], [image], 'convolution'), node


def test_flops_of_known_layers_are_exact():
    _, conv = convolution(3, 4, 8, 3)
    assert operation_flops(conv) == 2 * (4 * 8 * 8) * (3 * 3 * 3)  # 13,824
    _, depthwise = convolution(16, 16, 10, 5, groups=16)
    assert operation_flops(depthwise) == 2 * (16 * 10 * 10) * (5 * 5)
    left = opset.parameter([2, 5, 7], Type.f32)
    right = opset.constant(np.ones((3, 7), np.float32))
    matmul = opset.matmul(left, right, False, True)
    assert operation_flops(matmul) == 2 * (2 * 5 * 3) * 7
    assert operation_flops(opset.relu(left)) == 2 * 5 * 7
    assert operation_flops(opset.transpose(left, opset.constant(np.array([0, 2, 1])))) == 0


def heavy_model():
    """Convolutions big enough that per-layer overheads do not dominate the timings."""
    image = opset.parameter([1, 64, 56, 56], Type.f32, name='image')
    node = image
    for _ in range(4):
        weights = opset.constant(np.random.default_rng(0).standard_normal(
            (64, 64, 3, 3)).astype(np.float32) * 0.05)
        node = opset.relu(opset.convolution(node, weights, [1, 1], [1, 1], [1, 1], [1, 1]))
    return Model([node], [image], 'heavy')


def test_profile_totals_agree_with_timed_inference_and_flops_add_up():
    model = heavy_model()
    layers, wall_ms = profile(create_core(), model, 'CPU', iterations=30)
    total_ms = sum(layer.time_ms for layer in layers)
    assert abs(total_ms - wall_ms) <= 0.2 * wall_ms, (total_ms, wall_ms)
    expected_mflops = sum(operation_flops(op) for op in model.get_ordered_ops()) / 1e6
    assert sum(layer.mflops for layer in layers) == pytest.approx(expected_mflops)
    assert [layer.time_ms for layer in layers] == sorted(
        (layer.time_ms for layer in layers), reverse=True)
    assert sum(layer.share for layer in layers) == pytest.approx(1.0)
    table = format_table(layers, top=2)
    assert len(table.splitlines()) == 4 and 'total of' in table.splitlines()[-1]


def test_profile_command_writes_tables_and_fails_clearly(tmp_path):
    model, _ = convolution(3, 8, 32, 3)
    path = write_model(model, tmp_path, 'conv')
    command = str(installed_command('edge-perception'))
    result = subprocess.run([command, 'profile', str(path), '--iterations', '5', '--csv',
                             str(tmp_path / 'layers.csv'), '--html', str(tmp_path / 'p.html')],
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert 'Convolution' in result.stdout and 'total of' in result.stdout
    rows = list(csv.reader((tmp_path / 'layers.csv').open()))
    assert rows[0] == ['layer', 'type', 'precision', 'time ms', 'MFLOPs', 'share %']
    assert any(row[1] == 'Convolution' and float(row[4]) == pytest.approx(0.442368, abs=1e-6)
               for row in rows[1:])
    assert '<table' in (tmp_path / 'p.html').read_text()
    corrupt = tmp_path / 'corrupt.xml'
    corrupt.write_text(path.read_text()[:300])
    (tmp_path / 'corrupt.bin').write_bytes(b'')
    for arguments, message in (([str(tmp_path / 'missing.xml')], 'does not exist'),
                               ([str(path), '--device', 'NPU'], "device 'NPU' is not available"),
                               ([str(corrupt)], 'cannot read model')):
        result = subprocess.run([command, 'profile', *arguments], capture_output=True,
                                text=True, timeout=120)
        assert result.returncode == 1 and message in result.stderr, result.stderr
        assert 'Traceback' not in result.stderr
