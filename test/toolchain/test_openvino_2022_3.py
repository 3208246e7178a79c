"""The IRs this package ships and writes, read, compiled and run by OpenVINO 2022.3 LTS (the
NCS2's runtime, Python 3.10) and compared with the OpenVINO installed here, on the same input.

Runs where ``EDGE_PERCEPTION_OPENVINO_2022_3_PYTHON`` names a Python with OpenVINO 2022.3 and
numpy (``scripts/test.sh`` builds one in its last section, and sets it); skipped elsewhere.
Each IR runs through ``run_irs.py`` in both interpreters: the package's engine reads and
compiles it on CPU with f32 inference.
"""

import os
from pathlib import Path
import shutil
import subprocess
import sys

import numpy as np
import pytest

from edge_perception.replay.node_process import installed_command

from tiny_models import pooling_and_resizing_net

OLD_PYTHON = os.environ.get('EDGE_PERCEPTION_OPENVINO_2022_3_PYTHON', '')
pytestmark = pytest.mark.skipif(not OLD_PYTHON, reason='EDGE_PERCEPTION_OPENVINO_2022_3_PYTHON '
                                                       'is not set (scripts/test.sh sets it)')
TEST_DIRECTORY = Path(__file__).resolve().parent
REPO = TEST_DIRECTORY.parents[1]
RUN_IRS = TEST_DIRECTORY / 'run_irs.py'
AUTHORS_CODE = TEST_DIRECTORY / 'authors_fastdepth_code'
# Largest |2022.3 - installed| over an output, relative to the output's largest magnitude.
MAX_RELATIVE_DIFFERENCE = 1e-4
PROBE_SHAPE = (1, 3, 30, 38)
AUTHORS_CHECKPOINT = """
import sys
import make_checkpoints, models, torch
model = make_checkpoints.randomise(models.MobileNetSkipAdd((224, 224), pretrained=False), 3)
contents = make_checkpoints.checkpoint(model, 'nnconv5dw')
make_checkpoints.calibrate(model, torch.rand(1, 3, 224, 224, generator=torch.manual_seed(0)))
make_checkpoints.save(contents, sys.argv[1], False)
"""


def convert(source, output, *options, cwd=TEST_DIRECTORY.parent):
    result = subprocess.run([str(installed_command('edge-perception')), 'convert', str(source),
                             '-o', str(output), *map(str, options)],
                            capture_output=True, text=True, timeout=600, cwd=cwd)
    assert result.returncode == 0, result.stdout + result.stderr
    assert 'will not load' not in result.stderr, result.stderr
    return output


@pytest.fixture(scope='module')
def irs(tmp_path_factory):
    """Name -> (IR path, input): the shipped IRs and IRs just written by ``convert``."""
    torch = pytest.importorskip('torch')
    pytest.importorskip('onnx')
    directory = tmp_path_factory.mktemp('irs')
    net = pooling_and_resizing_net()
    torch.save(net.state_dict(), directory / 'probe.pt')
    torch.onnx.export(net, (torch.zeros(PROBE_SHAPE),), str(directory / 'probe.onnx'),
                      input_names=['image'], output_names=['map'], dynamo=False)
    # One checkpoint as the authors' main.py saves it (the whole pickled module), made by the
    # stand-ins for their code in a child process, as test_fastdepth_checkpoint.py makes them.
    checkpoint = directory / 'authors.pth.tar'
    shutil.copytree(AUTHORS_CODE, directory / 'authors_code')
    made = subprocess.run([sys.executable, '-c', AUTHORS_CHECKPOINT, str(checkpoint)],
                          cwd=directory / 'authors_code', capture_output=True, text=True,
                          timeout=600)
    assert made.returncode == 0, made.stdout + made.stderr
    shape = ','.join(map(str, PROBE_SHAPE))
    generator = np.random.default_rng(7)

    def image(shape):
        return generator.standard_normal(shape).astype(np.float32)

    return {
        'shipped_digit_classifier': (REPO / 'models/digits/digit_classifier.xml',
                                     image((1, 1, 32, 32))),
        'shipped_fastdepth': (REPO / 'models/fastdepth/fastdepth.xml', image((1, 3, 224, 224))),
        'convert_onnx': (convert(directory / 'probe.onnx', directory / 'onnx.xml'),
                         image(PROBE_SHAPE)),
        'convert_onnx_embedded_preprocessing': (
            convert(directory / 'probe.onnx', directory / 'onnx_bgr8.xml',
                    '--embed-preprocessing', '--encoding', 'bgr8', '--camera-size', '64x48',
                    '--mean', '127', '--scale', '64'),
            generator.integers(0, 256, (1, 48, 64, 3), np.uint8)),
        'convert_pytorch': (convert(directory / 'probe.pt', directory / 'pytorch.xml',
                                    '--torch-module',
                                    'tiny_models:pooling_and_resizing_net',
                                    '--input-shape', shape),
                            image(PROBE_SHAPE)),
        'convert_authors_checkpoint': (
            convert(checkpoint, directory / 'authors.xml'),
            generator.random((1, 3, 224, 224), np.float32)),
    }


def run_irs(python, irs, directory, label):
    cases = directory / 'cases.npz'
    np.savez(cases, **{key: value for name, (path, array) in irs.items()
                       for key, value in ((f'{name}/xml', np.array(str(path))),
                                          (f'{name}/input', array))})
    outputs = directory / f'{label}.npz'
    result = subprocess.run([python, str(RUN_IRS), str(cases), str(outputs)],
                            capture_output=True, text=True, timeout=600,
                            env={**os.environ, 'PYTHONPATH': str(REPO)})
    assert result.returncode == 0, f'{label}: {result.stderr}'
    with np.load(outputs) as loaded:
        return {key: loaded[key] for key in loaded.files}


def test_every_shipped_and_converted_ir_matches_on_openvino_2022_3(irs, tmp_path):
    old = run_irs(OLD_PYTHON, irs, tmp_path, 'old')
    new = run_irs(sys.executable, irs, tmp_path, 'new')
    assert str(old['openvino']).startswith('2022.3'), old['openvino']
    assert not str(new['openvino']).startswith('2022.3')
    keys = sorted(key for key in new if key != 'openvino')
    assert {key.split('/')[0] for key in keys} == set(irs)
    assert sorted(key for key in old if key != 'openvino') == keys
    differences = {}
    for key in keys:
        assert old[key].shape == new[key].shape, key
        peak = float(np.max(np.abs(new[key])))
        assert peak > 0, key  # a constant output would prove nothing
        differences[key] = float(np.max(np.abs(old[key] - new[key]))) / peak
    release = str(new['openvino']).split('-')[0]
    old_release = str(old['openvino']).split('-')[0]
    print('\n'.join(f'{key}: max |{old_release} - {release}| / max |{release}| = {value:.2e}'
                    for key, value in differences.items()))
    assert max(differences.values()) <= MAX_RELATIVE_DIFFERENCE, differences


def test_what_2022_3_cannot_read_is_what_the_lowering_removes(irs, tmp_path):
    # The same PyTorch module written without lowering: 2022.3 refuses it, naming the opset.
    unlowered = convert(irs['convert_pytorch'][0].parent / 'probe.pt', tmp_path / 'latest.xml',
                        '--torch-module', 'tiny_models:pooling_and_resizing_net',
                        '--input-shape', ','.join(map(str, PROBE_SHAPE)),
                        '--target-runtime', 'latest')
    script = ('import sys\nfrom edge_perception.core.engine import create_core, load_model\n'
              'load_model(create_core(), sys.argv[1])')
    result = subprocess.run([OLD_PYTHON, '-c', script, str(unlowered)], capture_output=True,
                            text=True, timeout=120, env={**os.environ, 'PYTHONPATH': str(REPO)})
    assert result.returncode != 0
    assert 'unsupported opset' in result.stderr, result.stderr
