"""``convert`` and ``quantize`` write IRs in the operations OpenVINO 2022.3 (the NCS2's runtime)
reads, say so in one line when an operation has none, and ``convert --static`` writes the
batch-1 IR the stick needs. The 2022.3 runtime itself reads them in test_openvino_2022_3.py.
"""

from pathlib import Path
import re
import subprocess
from xml.etree import ElementTree

import cv2
import numpy as np
import pytest

from edge_perception.replay.node_process import installed_command

from tiny_models import pooling_and_resizing_net

# convert imports --torch-module from its working directory, like python -m.
TESTS = Path(__file__).resolve().parents[1]
PROBE = 'tiny_models:pooling_and_resizing_net'


def run(command, *arguments):
    return subprocess.run([str(installed_command('edge-perception')), command,
                           *map(str, arguments)], capture_output=True, text=True, timeout=600,
                          cwd=TESTS)


def opsets(xml_path):
    """{(layer type, opset number)} of an IR."""
    return {(layer.get('type'), int(re.fullmatch(r'opset(\d+)', layer.get('version')).group(1)))
            for layer in ElementTree.parse(xml_path).getroot().iter('layer')
            if re.fullmatch(r'opset\d+', layer.get('version') or '')}


@pytest.fixture(scope='module')
def probe_weights(tmp_path_factory):
    torch = pytest.importorskip('torch')
    path = tmp_path_factory.mktemp('probe') / 'probe.pt'
    torch.save(pooling_and_resizing_net().state_dict(), path)
    return path


def test_convert_lowers_to_opset10_unless_told_the_target_is_the_latest(probe_weights, tmp_path):
    result = run('convert', probe_weights, '--torch-module', PROBE, '--input-shape',
                 '1,3,30,38', '-o', tmp_path / 'lts.xml')
    assert result.returncode == 0, result.stderr
    assert max(number for _, number in opsets(tmp_path / 'lts.xml')) <= 10
    assert {('MaxPool', 8), ('AvgPool', 1), ('Interpolate', 4)} <= opsets(tmp_path / 'lts.xml')
    assert 'warning' not in result.stderr

    result = run('convert', probe_weights, '--torch-module', PROBE, '--input-shape',
                 '1,3,30,38', '--target-runtime', 'latest', '-o', tmp_path / 'latest.xml')
    assert result.returncode == 0, result.stderr
    assert {('MaxPool', 14), ('Interpolate', 11)} <= opsets(tmp_path / 'latest.xml')


def test_an_operation_without_an_older_equivalent_is_named_in_one_line(tmp_path):
    onnx = pytest.importorskip('onnx')
    from onnx import helper, numpy_helper, TensorProto
    graph = helper.make_graph(
        [helper.make_node('ScatterElements', ['values', 'indices', 'updates'], ['summed'],
                          axis=1, reduction='add')], 'scatter',
        [helper.make_tensor_value_info('values', TensorProto.FLOAT, [1, 4])],
        [helper.make_tensor_value_info('summed', TensorProto.FLOAT, [1, 4])],
        [numpy_helper.from_array(np.array([[0, 0]], np.int64), 'indices'),
         numpy_helper.from_array(np.array([[1.0, 2.0]], np.float32), 'updates')])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid('', 16)])
    model.ir_version = 8
    onnx.save(model, str(tmp_path / 'scatter.onnx'))
    result = run('convert', tmp_path / 'scatter.onnx', '-o', tmp_path / 'scatter.xml')
    assert result.returncode == 0, result.stderr
    warnings = [line for line in result.stderr.splitlines() if 'warning' in line]
    assert len(warnings) == 1, result.stderr
    assert 'will not load on OpenVINO 2022.3' in warnings[0]
    assert 'ScatterElementsUpdate-12' in warnings[0]
    assert (tmp_path / 'scatter.xml').exists()


def test_static_gives_a_dynamic_batch_of_one_and_refuses_another_batch(tmp_path):
    onnx = pytest.importorskip('onnx')
    from onnx import helper, TensorProto
    graph = helper.make_graph(
        [helper.make_node('Relu', ['image'], ['positive'])], 'relu',
        [helper.make_tensor_value_info('image', TensorProto.FLOAT, ['batch', 3, 8, 8])],
        [helper.make_tensor_value_info('positive', TensorProto.FLOAT, ['batch', 3, 8, 8])])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid('', 13)])
    model.ir_version = 8
    onnx.save(model, str(tmp_path / 'relu.onnx'))
    result = run('convert', tmp_path / 'relu.onnx', '-o', tmp_path / 'relu.xml')
    assert result.returncode == 1 and 'dynamic dimensions' in result.stderr

    result = run('convert', tmp_path / 'relu.onnx', '--static', '-o', tmp_path / 'relu.xml')
    assert result.returncode == 0, result.stderr
    assert 'input f32 [1,3,8,8]' in result.stdout

    result = run('convert', tmp_path / 'relu.onnx', '--static', '--input-shape', '2,3,8,8',
                 '-o', tmp_path / 'relu2.xml')
    assert result.returncode == 1
    assert "without a batch of 1: 'image' [2,3,8,8]" in result.stderr


def test_quantize_lowers_what_it_writes(probe_weights, tmp_path):
    pytest.importorskip('nncf')
    result = run('convert', probe_weights, '--torch-module', PROBE, '--input-shape',
                 '1,3,30,38', '--target-runtime', 'latest', '-o', tmp_path / 'latest.xml')
    assert result.returncode == 0, result.stderr
    frames = tmp_path / 'frames'
    frames.mkdir()
    generator = np.random.default_rng(0)
    for index in range(4):
        cv2.imwrite(str(frames / f'{index}.png'),
                    generator.integers(0, 256, (30, 38, 3), np.uint8))
    result = run('quantize', tmp_path / 'latest.xml', '--data', frames, '--subset-size', '4',
                 '-o', tmp_path / 'int8.xml')
    assert result.returncode == 0, result.stderr
    written = opsets(tmp_path / 'int8.xml')
    assert ('FakeQuantize', 1) in written
    assert max(number for _, number in written) <= 10, written
