"""``edge-perception benchmark``: every engine really run on one tiny exported model."""

import json
import os
from pathlib import Path
import re
import shutil
import subprocess

import pytest

from edge_perception.core.engine import create_core, load_model
from edge_perception.core.openvino_compat import Model, opset, save_model, Type
from edge_perception.replay.node_process import installed_command

from tiny_models import write_model

torch = pytest.importorskip('torch')
pytest.importorskip('onnx')  # torch.onnx.export writes through it

TEST_DIRECTORY = Path(__file__).resolve().parent
FAST = ['--iterations', '12', '--warmup', '2', '--round', '4', '--duration', '0.3']


def tiny_network():
    """Factory for ``--torch-module``: conv-BN-ReLU, a depthwise conv, a 1x1 conv to one map."""
    return torch.nn.Sequential(
        torch.nn.Conv2d(3, 8, 3, padding=1, bias=False), torch.nn.BatchNorm2d(8),
        torch.nn.ReLU(), torch.nn.Conv2d(8, 8, 3, padding=1, groups=8), torch.nn.ReLU(),
        torch.nn.Conv2d(8, 1, 1))


def benchmark(*arguments):
    environment = dict(os.environ)
    environment['PYTHONPATH'] = os.pathsep.join(
        filter(None, [str(TEST_DIRECTORY), environment.get('PYTHONPATH')]))
    return subprocess.run([str(installed_command('edge-perception')), 'benchmark',
                           *map(str, arguments)], capture_output=True, text=True, timeout=120,
                          env=environment)


def table_rows(stdout):
    """Return ``{engine: [version, median, p90, ratio, max diff]}`` from the printed table."""
    lines = stdout.splitlines()
    header = next(index for index, line in enumerate(lines) if line.startswith('engine '))
    rows = {}
    for line in lines[header + 1:]:
        if line.startswith(('skipped:', 'throughput:')):
            break
        cells = re.split(r'\s{2,}', line.strip())
        rows[cells[0]] = cells[1:]
    return rows


@pytest.fixture(scope='module')
def exported(tmp_path_factory):
    """The tiny network with random weights, as ONNX and as a state_dict."""
    directory = tmp_path_factory.mktemp('exported')
    torch.manual_seed(0)
    network = tiny_network()
    with torch.no_grad():
        network[1].running_mean.uniform_(-0.5, 0.5)
        network[1].running_var.uniform_(0.5, 2.0)
    network.eval()
    torch.save(network.state_dict(), directory / 'tiny.pt')
    with pytest.warns(DeprecationWarning):  # the TorchScript exporter; no onnxscript needed
        torch.onnx.export(network, (torch.zeros(1, 3, 32, 32),), str(directory / 'tiny.onnx'),
                          dynamo=False, input_names=['image'], output_names=['depth'])
    return directory


def test_compare_times_every_engine_on_the_same_model(exported, tmp_path):
    result = benchmark(exported / 'tiny.onnx', '--compare', '--torch-module',
                       'test_benchmark_command:tiny_network', '--torch-state-dict',
                       exported / 'tiny.pt', '--inference-precision', 'f32',
                       '--json', tmp_path / 'figures.json', *FAST)
    assert result.returncode == 0, result.stderr
    assert 'inputs (random, seed 0): image 1x3x32x32 float32' in result.stdout
    rows = table_rows(result.stdout)
    assert list(rows) == ['OpenVINO CPU', 'ONNX Runtime', 'PyTorch eager', 'OpenCV DNN']
    for engine, (_, median, p90, ratio, difference) in rows.items():
        assert 0 < float(median) <= float(p90), engine
        assert float(ratio) > 0 and float(difference) < 1e-4, engine  # all f32: same outputs
    assert rows['OpenVINO CPU'][3] == '1.00'
    assert 'skipped' not in result.stdout
    assert re.search(r'throughput: [0-9.]+ frames/s \(OpenVINO, THROUGHPUT hint, \d+ requests',
                     result.stdout)
    figures = json.loads((tmp_path / 'figures.json').read_text())
    assert [row['engine'] for row in figures['latency']] == list(rows)
    assert all(row['samples'] == 12 for row in figures['latency'])
    openvino = figures['latency'][0]
    assert openvino['ratio'] == 1.0 and openvino['median_ms'] > 0
    assert figures['inference_precision'] == 'f32' and figures['skipped'] == []
    assert figures['throughput']['frames_per_s'] > 0 and figures['throughput']['frames'] > 0
    assert figures['inputs'] == [{'name': 'image', 'shape': [1, 3, 32, 32], 'dtype': 'float32'}]


def dynamic_size_model():
    image = opset.parameter([1, 3, -1, -1], Type.f32, name='image')
    return Model([opset.relu(image)], [image], 'dynamic_size')


def test_ir_needs_a_static_shape_and_an_onnx_for_the_onnx_engines(tmp_path):
    path = write_model(dynamic_size_model(), tmp_path, 'relu')
    result = benchmark(path, *FAST)
    assert result.returncode == 1 and 'dynamic shape [1,3,?,?]' in result.stderr
    assert '--input-shape 1,3,?,?, each ? a size' in result.stderr
    assert 'Traceback' not in result.stderr
    result = benchmark(path, '--input-shape', '2,3,16,20', '--compare', *FAST)
    assert result.returncode == 0, result.stderr
    assert 'image 2x3x16x20 float32' in result.stdout
    assert list(table_rows(result.stdout)) == ['OpenVINO CPU']
    skipped = [line for line in result.stdout.splitlines() if line.startswith('skipped:')]
    assert skipped == [
        f"skipped: ONNX Runtime: '{path}' is an IR and no '{tmp_path / 'relu'}.onnx' lies "
        'beside it (give --onnx PATH)',
        'skipped: PyTorch eager: needs --torch-module and --torch-state-dict',
        f"skipped: OpenCV DNN: '{path}' is an IR and no '{tmp_path / 'relu'}.onnx' lies "
        'beside it (give --onnx PATH)']


def test_ir_with_its_onnx_beside_it_is_compared_on_that_onnx(exported, tmp_path):
    core = create_core()
    save_model(load_model(core, exported / 'tiny.onnx'), tmp_path / 'tiny.xml')
    shutil.copy(exported / 'tiny.onnx', tmp_path / 'tiny.onnx')
    result = benchmark(tmp_path / 'tiny.xml', '--compare', *FAST)
    assert result.returncode == 0, result.stderr
    assert list(table_rows(result.stdout)) == ['OpenVINO CPU', 'ONNX Runtime', 'OpenCV DNN']
    assert 'skipped: PyTorch eager: needs --torch-module' in result.stdout

def test_bad_input_fails_with_one_clear_message(exported, tmp_path):
    model = exported / 'tiny.onnx'
    (tmp_path / 'model.txt').write_text('not a model')
    for arguments, message in (
            ([tmp_path / 'missing.onnx'], 'does not exist'),
            ([tmp_path / 'model.txt'], 'is not one of: .xml, .onnx'),
            ([model, '--device', 'NPU'],
             re.compile(r"device 'NPU' is not available \(missing: NPU\)\. Devices OpenVINO "
                        r'sees here: ([\w.]+, )*CPU(, [\w.]+)*\.')),
            ([model, '--input-shape', '1,3,32'], 'has 4 dimensions, --input-shape gives 3'),
            ([model, '--compare', '--torch-module', 'test_benchmark_command:tiny_network',
              '--torch-state-dict', tmp_path / 'missing.pt'], "missing.pt' does not exist"),
            ([model, '--compare', '--torch-module', 'no_such_module:factory',
              '--torch-state-dict', exported / 'tiny.pt'], "cannot import 'no_such_module'")):
        result = benchmark(*arguments, *FAST)
        said = message.search(result.stderr) if isinstance(message, re.Pattern) else \
            message in result.stderr
        assert result.returncode == 1 and said, (arguments, result.stderr)
        assert 'Traceback' not in result.stderr and result.stdout == ''
    for arguments in (['--iterations', '0'], ['--input-shape', 'a,b'], ['--torch-module', 'm:f'],
                      ['--onnx', model]):
        result = benchmark(model, *arguments)
        assert result.returncode == 2, (arguments, result.stderr)
        assert 'Traceback' not in result.stderr

