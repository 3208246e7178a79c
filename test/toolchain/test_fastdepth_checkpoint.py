"""The FastDepth authors' NYU checkpoints: read without their code and without running the
pickle, rebuilt, converted, and run in the pipeline with their [0, 1] input.

The checkpoints are made by ``authors_fastdepth_code/make_checkpoints.py`` in a child process,
from a temporary copy of stand-ins for the authors' ``models.py``, ``imagenet/mobilenet.py`` and
``metrics.py``; this process and the converter never have that copy on ``sys.path``. Each comes
with the depth its own module computed, the independent reference every check compares with.
"""

import os
from pathlib import Path
import pickle
import queue
import shutil
import subprocess
import sys

import numpy as np
import pytest

from edge_perception.core.engine import create_core
from edge_perception.core.image_codec import array_to_image_fields
from edge_perception.core.model_info import read_model_info
from edge_perception.core.pipeline import ImagePipeline, PipelineConfig
from edge_perception.replay.node_process import installed_command
from edge_perception.toolchain.conversion import compare, ConversionError

AUTHORS_CODE = Path(__file__).resolve().parent / 'authors_fastdepth_code'
# Checkpoint -> the authors' name for its network.
VARIANTS = {
    'nnconv5': 'mobilenet-nnconv5',  # legacy format
    'nnconv5dw': 'mobilenet-nnconv5dw',  # zip format
    # legacy, 'module.' prefixes, torch 0.4's THNN backend getter in every module
    'skipadd-dataparallel': 'mobilenet-nnconv5dw-skipadd',
    'pruned-cuda': 'mobilenet-nnconv5dw-skipadd-pruned',  # legacy, storages saved on CUDA
    'skipadd-zip-cuda': 'mobilenet-nnconv5dw-skipadd',  # zip, storages saved on CUDA
    'state-dict': 'mobilenet-nnconv5dw',  # a DataParallel state_dict, not a whole module
}


@pytest.fixture(scope='module')
def authors_code(tmp_path_factory):
    pytest.importorskip('torch')
    code = tmp_path_factory.mktemp('authors_code')
    shutil.copytree(AUTHORS_CODE, code, dirs_exist_ok=True)
    return code


@pytest.fixture(scope='module')
def checkpoints(authors_code, tmp_path_factory):
    """The directory of checkpoints, their reference depths and ``image.npy``."""
    output = tmp_path_factory.mktemp('checkpoints')
    result = subprocess.run([sys.executable, 'make_checkpoints.py', str(output)],
                            cwd=authors_code, capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stdout + result.stderr
    return output


def convert(checkpoint, output, *options, cwd):
    """Run the installed ``edge-perception convert`` from ``cwd``."""
    return subprocess.run([str(installed_command('edge-perception')), 'convert', str(checkpoint),
                           '-o', str(output), *options],
                          capture_output=True, text=True, timeout=300, cwd=cwd)


def assert_no_module_from(directory):
    loaded = [name for name, module in list(sys.modules.items())
              if str(getattr(module, '__file__', None) or '').startswith(str(directory))]
    assert not loaded, f"modules imported from the checkpoint authors' code: {loaded}"


@pytest.mark.parametrize('name', VARIANTS)
def test_every_variant_rebuilds_to_what_the_authors_module_computes(checkpoints, authors_code,
                                                                    name):
    import torch

    from edge_perception.toolchain.fastdepth_checkpoint import (
        read_checkpoint,
        rebuild,
        variant_name,
    )
    network = rebuild(read_checkpoint(checkpoints / f'{name}.pth.tar'))
    assert variant_name(network) == VARIANTS[name]
    image = np.load(checkpoints / 'image.npy')
    with torch.no_grad():
        depth = network(torch.from_numpy(image).permute(2, 0, 1)[None].float() / 255).numpy()
    np.testing.assert_allclose(depth, np.load(checkpoints / f'{name}.npy'), rtol=0, atol=1e-5)
    assert_no_module_from(authors_code)


def run_in_pipeline(model_path, image):
    """The IR's depth for ``image`` (RGB u8) through the pipeline the depth node runs, with
    the normalisation the IR states.
    """
    results = queue.Queue()
    pipeline = ImagePipeline(
        PipelineConfig(str(model_path), 'CPU', 'graph', inference_precision='f32'),
        lambda context, outputs, timing: results.put(outputs),
        lambda context, error: results.put(error))
    try:
        frame = array_to_image_fields(image, 'rgb8')
        pipeline.process(frame._replace(data=bytearray(frame.data)), 'frame')
        outputs = results.get(timeout=120)
    finally:
        pipeline.close()
    assert not isinstance(outputs, Exception), outputs
    return outputs[0]


@pytest.mark.parametrize('name, options', [
    ('nnconv5', []),
    ('pruned-cuda', []),
    ('skipadd-zip-cuda', ['--fp32']),
])
def test_the_converted_ir_gives_the_authors_depth_in_the_pipeline(checkpoints, authors_code,
                                                                  tmp_path, name, options):
    output = tmp_path / 'fastdepth_nyu.xml'
    result = convert(checkpoints / f'{name}.pth.tar', output, *options, cwd=tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr
    assert f"the FastDepth authors' {VARIANTS[name]} " in result.stderr
    assert 'epoch 19, RMSE 0.604 m' in result.stderr

    model = create_core().read_model(str(output))
    info = read_model_info(model)
    assert (info.model_type, info.mean, info.scale, info.color_order, info.output_unit) == (
        'depth_estimation', (0.0,), (255.0,), 'RGB', 'metres')
    assert model.inputs[0].get_names() == {'image'} and 'depth' in model.outputs[0].get_names()
    assert list(model.inputs[0].get_shape()) == [1, 3, 224, 224]

    depth = run_in_pipeline(output, np.load(checkpoints / 'image.npy'))
    expected = np.load(checkpoints / f'{name}.npy')
    comparison = compare('depth', expected, depth.reshape(expected.shape),
                         fp16='--fp32' not in options)
    assert comparison.passed, comparison


@pytest.mark.parametrize('name, named', [
    ('evil-in-model', 'posix.system'),  # a layer's attribute, legacy format
    ('evil-beside-model', 'builtins.exec'),  # beside the model, zip format
])
def test_a_checkpoint_carrying_code_is_refused_and_the_code_never_runs(checkpoints, tmp_path,
                                                                       name, named):
    marker = checkpoints / f'{name}.ran'
    result = convert(checkpoints / f'{name}.pth.tar', tmp_path / 'out.xml', cwd=tmp_path)
    assert result.returncode == 1, result.stdout + result.stderr
    message = result.stderr.strip()
    assert len(message.splitlines()) == 1, message
    assert message.startswith('edge-perception convert: refusing') and named in message
    assert 'Nothing in the file was run' in message and 'Traceback' not in message
    assert not marker.exists(), 'unpickling ran code from the checkpoint'
    assert not (tmp_path / 'out.xml').exists()


class CodeCarrier:
    """Unpickling this calls ``function(*arguments)``."""

    def __init__(self, function, *arguments):
        self.reduced = (function, arguments)

    def __reduce__(self):
        return self.reduced


@pytest.mark.parametrize('legacy', [True, False], ids=['legacy', 'zip'])
@pytest.mark.parametrize('protocol', [2, pickle.HIGHEST_PROTOCOL])
@pytest.mark.parametrize('payload, named', [
    (lambda marker: CodeCarrier(os.system, f"touch '{marker}'"), 'posix.system'),
    (lambda marker: CodeCarrier(eval, f"open({str(marker)!r}, 'w')"), 'builtins.eval'),
    (lambda marker: CodeCarrier(subprocess.call, ['touch', str(marker)]), 'subprocess.call'),
    (lambda marker: CodeCarrier(shutil.copyfile, __file__, str(marker)), 'shutil.copyfile'),
])
def test_any_global_outside_the_allowlist_is_refused_before_it_is_called(tmp_path, legacy,
                                                                         protocol, payload,
                                                                         named):
    torch = pytest.importorskip('torch')
    from edge_perception.toolchain.fastdepth_checkpoint import CheckpointRefused, read_checkpoint
    marker = tmp_path / 'code_ran'
    path = tmp_path / 'model.pth.tar'
    torch.save({'model': {'conv0.0.weight': torch.zeros(32, 3, 3, 3)}, 'epoch': 1,
                'args': payload(marker)}, path, pickle_protocol=protocol,
               _use_new_zipfile_serialization=not legacy)
    with pytest.raises(CheckpointRefused, match=f'asks for {named},') as refused:
        read_checkpoint(path)
    assert 'Nothing in the file was run' in str(refused.value)
    assert not marker.exists()


def test_a_state_dict_of_another_network_points_to_torch_module(tmp_path):
    torch = pytest.importorskip('torch')
    from edge_perception.toolchain.fastdepth_checkpoint import read_checkpoint
    path = tmp_path / 'other.pth.tar'
    torch.save({'model': {'body.0.weight': torch.zeros(8, 3, 3, 3)}}, path)
    with pytest.raises(ConversionError, match='--torch-module package.module:factory'):
        read_checkpoint(path)


def test_a_pickled_layer_unlike_the_rebuilt_one_is_refused(checkpoints):
    from edge_perception.toolchain.fastdepth_checkpoint import read_checkpoint, rebuild
    path = checkpoints / 'altered-stride.pth.tar'
    with pytest.raises(ConversionError, match=r"layer 'conv2.0' has stride \(1, 1\) in the "
                                              r'checkpoint but \(2, 2\) in the rebuilt network'):
        rebuild(read_checkpoint(path), path)


def test_weights_that_do_not_fit_the_layout_are_refused_with_the_layer_named(tmp_path):
    torch = pytest.importorskip('torch')
    from edge_perception.toolchain.fastdepth_checkpoint import read_checkpoint, rebuild
    path = tmp_path / 'truncated.pth.tar'
    torch.save({'state_dict': {'conv0.0.weight': torch.zeros(32, 3, 3, 3)}}, path)
    with pytest.raises(ConversionError, match="no 'conv1.0.weight'"):
        rebuild(read_checkpoint(path), path)
