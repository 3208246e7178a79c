"""ONNX external data stays in the model's folder: a location that is absolute, climbs out
with '..' or leads out through a symlink is refused before OpenVINO, onnxruntime or OpenCV
reads a byte of it, wherever in the model the tensor sits.

Each attack's "secret" holds exactly the bytes the weights need, so a reader that followed the
location would convert the model without complaint (and put the secret into the IR).
"""

import os
from pathlib import Path
import subprocess

import numpy as np
import pytest

from edge_perception.core.engine import create_core, load_model, ModelLoadError
from edge_perception.core.onnx_external_data import (
    check_external_data,
    MalformedOnnxFile,
    UnsafeOnnxFile,
)
from edge_perception.replay.node_process import installed_command
from edge_perception.toolchain.benchmarking import BenchmarkInputError, comparison_onnx

onnx = pytest.importorskip('onnx')
from onnx import helper, numpy_helper, TensorProto  # noqa: E402

WEIGHTS = np.arange(4 * 3 * 3 * 3, dtype=np.float32).reshape(4, 3, 3, 3) / 100


def externalise(tensor, location):
    """Point ``tensor`` at ``location`` for its values, as onnx's external-data writer does."""
    nbytes = len(tensor.raw_data)
    tensor.ClearField('raw_data')
    tensor.data_location = TensorProto.EXTERNAL
    for key, value in (('location', location), ('offset', '0'), ('length', str(nbytes))):
        entry = tensor.external_data.add()
        entry.key, entry.value = key, value


def conv_model(weights_location, where='initializer'):
    """A 3->4 channel convolution whose weights live at ``weights_location``.

    :param where: 'initializer', 'constant' (a Constant node's value attribute) or 'subgraph'
        (the Constant inside both branches of an If).
    """
    weights = numpy_helper.from_array(WEIGHTS, 'weights')
    externalise(weights, weights_location)
    image = helper.make_tensor_value_info('image', TensorProto.FLOAT, [1, 3, 8, 8])
    depth = helper.make_tensor_value_info('depth', TensorProto.FLOAT, [1, 4, 8, 8])
    convolution = helper.make_node('Conv', ['image', 'weights'], ['depth'], pads=[1, 1, 1, 1])
    initializers, nodes = [], []
    if where == 'initializer':
        initializers = [weights]
    elif where == 'constant':
        nodes = [helper.make_node('Constant', [], ['weights'], value=weights)]
    else:
        output = helper.make_tensor_value_info('weights', TensorProto.FLOAT, [4, 3, 3, 3])
        branch = helper.make_graph(
            [helper.make_node('Constant', [], ['weights'], value=weights)], 'branch', [],
            [output])
        condition = numpy_helper.from_array(np.array(True), 'condition')
        nodes = [helper.make_node('Constant', [], ['condition'], value=condition),
                 helper.make_node('If', ['condition'], ['weights'], then_branch=branch,
                                  else_branch=branch)]
    graph = helper.make_graph([*nodes, convolution], 'conv', [image], [depth], initializers)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid('', 13)])
    model.ir_version = 8
    return model


def write_model(model, folder):
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / 'model.onnx'
    path.write_bytes(model.SerializeToString())
    return path


@pytest.fixture
def layout(tmp_path):
    """``tmp/a/b/`` holds the model; ``tmp/secret`` the bytes an attack wants read."""
    secret = tmp_path / 'secret'
    secret.write_bytes(WEIGHTS.tobytes())
    folder = tmp_path / 'a' / 'b'
    folder.mkdir(parents=True)
    return folder, secret


def convert(model, output):
    return subprocess.run([str(installed_command('edge-perception')), 'convert', str(model),
                           '-o', str(output)], capture_output=True, text=True, timeout=300)


@pytest.mark.parametrize('where', ['initializer', 'constant', 'subgraph'])
def test_external_data_inside_the_folder_converts_and_runs(tmp_path, where):
    folder = tmp_path / 'model'
    (folder / 'data').mkdir(parents=True)
    (folder / 'data' / 'weights.bin').write_bytes(WEIGHTS.tobytes())
    path = write_model(conv_model('data/weights.bin', where), folder)
    assert check_external_data(path) == ['data/weights.bin'] * (2 if where == 'subgraph' else 1)
    load_model(create_core(), path)
    result = convert(path, tmp_path / 'out.xml')
    assert result.returncode == 0, result.stdout + result.stderr


ATTACKS = {
    'parent': lambda folder, secret: '../../secret',
    'absolute': lambda folder, secret: str(secret),
    'inner-parent': lambda folder, secret: 'data/../../../secret',
    'backslashes': lambda folder, secret: '..\\..\\secret',
    'symlink': lambda folder, secret: (folder / 'link.bin').symlink_to(secret) or 'link.bin',
    'symlinked-folder': lambda folder, secret: (folder / 'data').symlink_to(
        secret.parent) or 'data/secret',
}


@pytest.mark.parametrize('where', ['initializer', 'constant', 'subgraph'])
@pytest.mark.parametrize('attack', ATTACKS)
def test_external_data_outside_the_folder_is_refused_before_it_is_read(layout, tmp_path,
                                                                       attack, where):
    folder, secret = layout
    location = ATTACKS[attack](folder, secret)
    path = write_model(conv_model(location, where), folder)

    with pytest.raises(UnsafeOnnxFile, match="tensor 'weights' keeps its values in"):
        check_external_data(path)
    with pytest.raises(ModelLoadError, match=f"refusing model '{path}'"):
        load_model(create_core(), path)
    with pytest.raises(BenchmarkInputError, match='refusing'):
        comparison_onnx(str(path))

    result = convert(path, tmp_path / 'out.xml')
    assert result.returncode == 1, result.stdout + result.stderr
    message = result.stderr.strip()
    assert len(message.splitlines()) == 1 and 'Traceback' not in message, message
    assert f"refusing model '{path}'" in message and repr(location) in message
    assert not (tmp_path / 'out.xml').exists()


def test_a_tensor_marked_external_without_a_location_is_refused(tmp_path):
    model = conv_model('weights.bin')
    tensor = model.graph.initializer[0]
    del tensor.external_data[:]
    tensor.external_data.add(key='length', value='432')
    path = write_model(model, tmp_path)
    with pytest.raises(UnsafeOnnxFile, match='external data without a location'):
        check_external_data(path)


@pytest.mark.parametrize('content', [b'\x0a\xff\xff\xff\xff\x0f', b'\x0b', b'\x80'],
                         ids=['overlong-field', 'group', 'broken-varint'])
def test_bytes_that_are_not_protobuf_are_refused(tmp_path, content):
    path = tmp_path / 'model.onnx'
    path.write_bytes(content)
    with pytest.raises(MalformedOnnxFile, match='not an ONNX model'):
        check_external_data(path)
    with pytest.raises(ModelLoadError, match='cannot read model'):
        load_model(create_core(), path)


def test_models_nested_deeper_than_any_real_one_are_refused(tmp_path):
    # A graph attribute holding a node holding a graph attribute ... 30 levels deep.
    graph = helper.make_graph([], 'leaf', [], [])
    for level in range(30):
        graph = helper.make_graph([helper.make_node('Loop', [], [], body=graph)],
                                  f'g{level}', [], [])
    path = tmp_path / 'deep.onnx'
    path.write_bytes(helper.make_model(graph).SerializeToString())
    with pytest.raises(MalformedOnnxFile, match='nest deeper'):
        check_external_data(Path(os.fspath(path)))
