"""``edge-perception convert``: real conversions of tiny PyTorch and ONNX models, and failures."""

from collections import Counter
import importlib.util
import math
from pathlib import Path
import subprocess
import xml.etree.ElementTree as ElementTree

import numpy as np
import pytest

from edge_perception.core.engine import create_core
from edge_perception.core.model_info import read_model_info
from edge_perception.core.openvino_compat import Type
from edge_perception.core.preprocessing import HostPreprocessor, Normalisation
from edge_perception.replay.node_process import installed_command
from edge_perception.toolchain.conversion import compare, format_comparisons

TEST_DIRECTORY = Path(__file__).resolve().parent
TORCH_FACTORY = 'test_convert:tiny_net'


def tiny_net():
    """Conv-BN-ReLU, then two heads: a 2-channel map and a 3-value vector (two outputs)."""
    from torch import nn

    class TinyNet(nn.Module):
        def __init__(self):
            super().__init__()
            self.body = nn.Sequential(nn.Conv2d(3, 8, 3, padding=1), nn.BatchNorm2d(8),
                                      nn.ReLU())
            self.map_head = nn.Conv2d(8, 2, 1)
            self.vector_head = nn.Sequential(nn.AdaptiveAvgPool2d(1), nn.Flatten(),
                                             nn.Linear(8, 3))

        def forward(self, image):
            features = self.body(image)
            return self.map_head(features), self.vector_head(features)

    return TinyNet()


def convert(*arguments):
    """Run the installed ``edge-perception convert`` from this directory."""
    return subprocess.run([str(installed_command('edge-perception')), 'convert',
                           *map(str, arguments)], capture_output=True, text=True, timeout=120,
                          cwd=TEST_DIRECTORY)


def constant_elements(xml_path):
    """Return the number of weight values in the IR's Const layers, by element type."""
    totals = Counter()
    for layer in ElementTree.parse(xml_path).getroot().iter('layer'):
        if layer.get('type') == 'Const':
            data = layer.find('data')
            shape = data.get('shape') or ''
            totals[data.get('element_type')] += math.prod(int(dim) for dim in shape.split(',')
                                                          if dim)
    return totals


def read_ir(path):
    return create_core().read_model(str(path))


@pytest.fixture
def state_dict_path(tmp_path):
    """``tiny_net``'s weights, with batch-norm statistics that are not the identity."""
    torch = pytest.importorskip('torch')
    torch.manual_seed(0)
    net = tiny_net()
    batch_norm = net.body[1]
    batch_norm.running_mean.uniform_(-0.5, 0.5)
    batch_norm.running_var.uniform_(0.5, 2.0)
    path = tmp_path / 'tiny.pt'
    torch.save(net.state_dict(), path)
    return path


@pytest.fixture
def onnx_path(tmp_path):
    """An ONNX model with dynamic batch, height and width and two outputs."""
    onnx = pytest.importorskip('onnx')
    from onnx import helper, numpy_helper, TensorProto
    generator = np.random.default_rng(1)
    weights = numpy_helper.from_array(
        generator.standard_normal((4, 3, 3, 3)).astype(np.float32), 'weights')
    bias = numpy_helper.from_array(generator.standard_normal(4).astype(np.float32), 'bias')
    graph = helper.make_graph(
        [helper.make_node('Conv', ['image', 'weights', 'bias'], ['convolved'],
                          pads=[1, 1, 1, 1]),
         helper.make_node('Relu', ['convolved'], ['features']),
         helper.make_node('GlobalAveragePool', ['features'], ['pooled_4d']),
         helper.make_node('Flatten', ['pooled_4d'], ['pooled'])],
        'tiny',
        [helper.make_tensor_value_info('image', TensorProto.FLOAT,
                                       ['batch', 3, 'height', 'width'])],
        [helper.make_tensor_value_info('features', TensorProto.FLOAT,
                                       ['batch', 4, 'height', 'width']),
         helper.make_tensor_value_info('pooled', TensorProto.FLOAT, ['batch', 4])],
        [weights, bias])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid('', 13)])
    model.ir_version = 8
    onnx.checker.check_model(model)
    path = tmp_path / 'tiny.onnx'
    onnx.save(model, str(path))
    return path


def test_pytorch_state_dict_converts_to_a_validated_fp16_ir(state_dict_path, tmp_path):
    output = tmp_path / 'ir' / 'tiny.xml'
    result = convert(state_dict_path, '--torch-module', TORCH_FACTORY,
                     '--input-shape', '1,3,24,32', '-o', output)
    assert result.returncode == 0, result.stderr
    assert 'torch 2.' in result.stdout and 'max abs err' in result.stdout
    table = result.stdout.splitlines()
    rows = [line for line in table if line.endswith(' ok')]
    assert len(rows) == 2, result.stdout  # both outputs compared
    assert 'converting PyTorch model' in result.stderr
    assert output.with_suffix('.bin').is_file()
    constants = constant_elements(output)
    assert constants['f16'] >= 10 * constants['f32'], constants
    model = read_ir(output)
    assert list(model.inputs[0].get_partial_shape().to_shape()) == [1, 3, 24, 32]
    assert [list(port.get_partial_shape().to_shape()) for port in model.outputs] == [
        [1, 2, 24, 32], [1, 3]]


def test_fp32_keeps_fp32_weights(state_dict_path, tmp_path):
    output = tmp_path / 'tiny_fp32.xml'
    result = convert(state_dict_path, '--torch-module', TORCH_FACTORY, '--input-shape',
                     '1,3,16,16', '--fp32', '-o', output)
    assert result.returncode == 0, result.stderr
    assert 'FP32 IR' in result.stdout
    constants = constant_elements(output)
    assert constants['f16'] == 0 and constants['f32'] > 0, constants


def test_onnx_with_dynamic_dimensions_needs_and_takes_a_static_shape(onnx_path, tmp_path):
    output = tmp_path / 'tiny.xml'
    result = convert(onnx_path, '-o', output)
    assert result.returncode == 1
    assert 'dynamic dimensions' in result.stderr and '--input-shape' in result.stderr
    assert not output.exists()

    result = convert(onnx_path, '--input-shape', '1,3,16,16', '-o', output)
    assert result.returncode == 0, result.stderr
    assert 'onnxruntime' in result.stdout
    names = [line.split()[0] for line in result.stdout.splitlines() if line.endswith(' ok')]
    assert names == ['features', 'pooled']
    constants = constant_elements(output)
    assert constants['f16'] > 0 and constants['f32'] == 0, constants


def test_embedded_preprocessing_matches_host_preprocessing_and_the_plain_model(onnx_path,
                                                                              tmp_path):
    mean, scale = (123.675, 116.28, 103.53), (58.4, 57.1, 57.4)
    output = tmp_path / 'camera.xml'
    result = convert(onnx_path, '--input-shape', '1,3,16,16', '-o', output, '--fp32',
                     '--embed-preprocessing', '--encoding', 'bgr8', '--camera-size', '40x30',
                     '--mean', *mean, '--scale', *scale)
    assert result.returncode == 0, result.stderr
    assert 'validation before embedding the preprocessing' in result.stdout
    plain = tmp_path / 'plain.xml'
    assert convert(onnx_path, '--input-shape', '1,3,16,16', '-o', plain, '--fp32').returncode == 0
    model = read_ir(output)
    assert model.inputs[0].get_element_type() == Type.u8
    assert list(model.inputs[0].get_partial_shape().to_shape()) == [1, 30, 40, 3]
    # A camera-like frame (smooth, with texture): the graph's bilinear resize and OpenCV's
    # agree on it to well under a grey level.
    rows, columns = np.mgrid[0:30, 0:40]
    frame = np.stack([rows * 8, columns * 6, 128 + 60 * np.sin(rows / 3 + columns / 5)],
                     axis=-1).astype(np.uint8)
    core = create_core()
    embedded = core.compile_model(model, 'CPU', {'INFERENCE_PRECISION_HINT': 'f32'})
    features = embedded.create_infer_request().infer({0: frame[None]})[embedded.outputs[0]]
    plain_model = read_ir(plain)
    host_input = HostPreprocessor(plain_model, 'bgr8', Normalisation(mean, scale, 'RGB'))(frame)
    compiled_plain = core.compile_model(plain_model, 'CPU', {'INFERENCE_PRECISION_HINT': 'f32'})
    expected = compiled_plain.create_infer_request().infer(
        {0: host_input})[compiled_plain.outputs[0]]
    assert features.shape == expected.shape == (1, 4, 16, 16)
    # Colour order, mean, scale and layout all matter: any one wrong moves the features by
    # about their own size.
    np.testing.assert_allclose(features, expected, atol=0.02 * np.abs(expected).max())


def test_impossible_tolerance_fails_validation_with_exit_3(onnx_path, tmp_path):
    output = tmp_path / 'tiny.xml'
    result = convert(onnx_path, '--input-shape', '1,3,8,8', '--tolerance', '1e-12',
                     '-o', output)
    assert result.returncode == 3, result.stderr
    assert 'FAILED' in result.stdout and 'validation failed' in result.stderr
    assert not output.exists() and not output.with_suffix('.bin').exists()
    assert [path.name for path in tmp_path.iterdir()] == ['tiny.onnx']  # no scratch left


@pytest.mark.parametrize('name, content, options, message', [
    ('absent.onnx', None, [], 'does not exist'),
    ('notes.txt', b'not a model', [], 'not a supported model'),
    ('corrupt.onnx', b'\x08\x07garbage' * 50, [], 'cannot read'),
    ('weights.pt', b'', ['--torch-module', TORCH_FACTORY, '--input-shape', '1,3,8,8'],
     'cannot read'),
    ('weights.pth', b'', [], '--torch-module package.module:factory'),
    ('STATE', None, ['--torch-module', 'no_such_package.nets:build', '--input-shape',
                     '1,3,8,8'], "cannot import 'no_such_package.nets'"),
])
def test_bad_input_exits_1_with_one_clear_message(tmp_path, request, name, content, options,
                                                  message):
    path = request.getfixturevalue('state_dict_path') if name == 'STATE' else tmp_path / name
    if content is not None:
        path.write_bytes(content)
    result = convert(path, '-o', tmp_path / 'out.xml', *options)
    assert result.returncode == 1, result.stderr
    assert message in result.stderr and 'Traceback' not in result.stderr
    assert not (tmp_path / 'out.xml').exists()


@pytest.mark.parametrize('options, message', [
    (['-o', 'out.bin'], 'must end in .xml'),
    (['-o', 'out.xml', '--torch-module', TORCH_FACTORY], 'needs --input-shape'),
    (['-o', 'out.xml', '--input-shape', '1,three'], 'not a shape'),
    (['-o', 'out.xml', '--embed-preprocessing', '--encoding', 'rgb8'], 'needs --encoding'),
    (['-o', 'out.xml', '--camera-size', '64x48'], 'only apply with --embed-preprocessing'),
])
def test_usage_errors_exit_2(tmp_path, options, message):
    model = tmp_path / 'model.onnx'
    model.write_bytes(b'')
    result = convert(model, *options)
    assert result.returncode == 2 and message in result.stderr


@pytest.mark.parametrize('kind', ['keras', 'saved_model'])
def test_tensorflow_models_need_tensorflow(tmp_path, kind):
    if importlib.util.find_spec('tensorflow') is not None:
        pytest.skip('tensorflow is installed')
    if kind == 'keras':
        model = tmp_path / 'model.keras'
        model.write_bytes(b'PK')
    else:
        model = tmp_path / 'saved'
        model.mkdir()
        (model / 'saved_model.pb').write_bytes(b'')
    result = convert(model, '-o', tmp_path / 'out.xml')
    assert result.returncode == 1
    assert result.stderr.count('\n') == 1 and 'pip install tensorflow' in result.stderr


def test_comparison_metrics_and_nan_failures():
    reference = np.array([[0.0, 1.0, -2.0, 4.0]])
    close = compare('out', reference, reference + [[0.0, 0.01, 0.0, -0.04]], fp16=True)
    assert close.max_abs_error == pytest.approx(0.04)
    assert close.max_rel_error == pytest.approx(0.01)
    assert close.tolerance == pytest.approx(0.08) and close.passed
    assert close.cosine == pytest.approx(1.0, abs=1e-4)
    broken = compare('out', reference, np.full_like(reference, np.nan), fp16=True)
    assert not broken.passed
    reshaped = compare('out', reference, reference.reshape(1, 2, 2), fp16=False)
    assert not reshaped.passed and 'shape' in reshaped.error
    table = format_comparisons([close, broken])
    assert table.splitlines()[1].endswith('ok') and 'FAILED' in table.splitlines()[2]


def test_what_the_model_says_about_itself_goes_into_the_ir(onnx_path, tmp_path):
    labels = tmp_path / 'labels.txt'
    labels.write_text('cat\ndog\nbird\nfish\n')
    output = tmp_path / 'described.xml'
    result = convert(onnx_path, '--input-shape', '1,3,16,16', '-o', output, '--mean', '10', '20',
                     '30', '--scale', '2', '--color-order', 'BGR', '--model-type',
                     'Classification', '--output-unit', 'logits', '--labels', labels)
    assert result.returncode == 0, result.stderr
    info = read_model_info(read_ir(output))
    assert (info.mean, info.scale, info.color_order) == ((10.0, 20.0, 30.0), (2.0,), 'BGR')
    assert (info.model_type, info.output_unit) == ('Classification', 'logits')
    assert info.labels == ('cat', 'dog', 'bird', 'fish')


def test_an_ir_with_the_preprocessing_inside_says_it_needs_no_more(onnx_path, tmp_path):
    output = tmp_path / 'camera.xml'
    result = convert(onnx_path, '--input-shape', '1,3,16,16', '-o', output, '--mean', '100',
                     '--scale', '50', '--color-order', 'RGB', '--embed-preprocessing',
                     '--encoding', 'bgr8', '--camera-size', '40x30')
    assert result.returncode == 0, result.stderr
    info = read_model_info(read_ir(output))
    # The graph takes the camera's bgr8 buffer and normalises it itself.
    assert (info.mean, info.scale, info.color_order) == ((0.0,), (1.0,), 'BGR')


def test_labels_with_spaces_cannot_be_stored_and_say_why(onnx_path, tmp_path):
    labels = tmp_path / 'labels.txt'
    labels.write_text('tabby cat\ndog\n')
    result = convert(onnx_path, '--input-shape', '1,3,8,8', '-o', tmp_path / 'out.xml',
                     '--labels', labels)
    assert result.returncode == 1 and 'space-separated' in result.stderr, result.stderr
    assert 'Traceback' not in result.stderr
