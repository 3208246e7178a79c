"""Models, checkpoints and labels from outside: nothing is unpickled, bad files get one clear
error (in the library, and as a node's exit status).
"""

from pathlib import Path
import pickle
import subprocess

import pytest

from edge_perception.core.engine import create_core, load_model, ModelLoadError
from edge_perception.nodes.classifier_node import ClassifierNode
from edge_perception.nodes.depth_node import DepthNode
from edge_perception.replay.node_process import installed_command, NodeProcess

from tiny_models import channel_mean_model, constant_depth_model, write_model

TEST_DIRECTORY = Path(__file__).resolve().parent
TORCH_FACTORY = 'test_convert:tiny_net'


class CodeCarrier:
    """Unpickling this runs code: it creates ``marker``."""

    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return (open, (str(self.marker), 'w'))


def test_a_checkpoint_carrying_code_is_refused_without_running_it(tmp_path):
    torch = pytest.importorskip('torch')
    marker = tmp_path / 'code_ran'
    checkpoint = tmp_path / 'weights.pt'
    torch.save({'body.0.weight': torch.zeros(8, 3, 3, 3), 'payload': CodeCarrier(marker)},
               checkpoint, pickle_protocol=pickle.HIGHEST_PROTOCOL)
    result = subprocess.run(
        [str(installed_command('edge-perception')), 'convert', str(checkpoint), '-o',
         str(tmp_path / 'out.xml'), '--torch-module', TORCH_FACTORY, '--input-shape', '1,3,8,8'],
        capture_output=True, text=True, timeout=120, cwd=TEST_DIRECTORY)
    assert result.returncode == 1, result.stdout + result.stderr
    assert 'cannot read' in result.stderr and 'Traceback' not in result.stderr
    assert not marker.exists(), 'unpickling ran code from the checkpoint'
    assert not (tmp_path / 'out.xml').exists()


def corrupt_files(tmp_path):
    """Broken IR files, each with the words its error must contain."""
    good = write_model(constant_depth_model(8, 8, 2.0), tmp_path, 'good')
    cases = {}
    truncated_xml = tmp_path / 'truncated_xml.xml'
    truncated_xml.write_text(good.read_text()[:200])
    truncated_xml.with_suffix('.bin').write_bytes(good.with_suffix('.bin').read_bytes())
    cases[truncated_xml] = 'mismatch'
    truncated_bin = tmp_path / 'truncated_bin.xml'
    truncated_bin.write_text(good.read_text())
    truncated_bin.with_suffix('.bin').write_bytes(good.with_suffix('.bin').read_bytes()[:2])
    cases[truncated_bin] = 'Incorrect weights in bin file'
    not_xml = tmp_path / 'not_xml.xml'
    not_xml.write_bytes(b'\x89PNG\r\n\x1a\n' + bytes(64))
    not_xml.with_suffix('.bin').write_bytes(b'')
    cases[not_xml] = 'cannot read model'
    no_bin = tmp_path / 'no_bin.xml'
    no_bin.write_text(good.read_text())
    cases[no_bin] = 'has no weights file'
    return cases


def test_corrupt_models_give_one_clear_error(tmp_path):
    core = create_core()
    for path, words in corrupt_files(tmp_path).items():
        with pytest.raises(ModelLoadError, match=words) as error:
            load_model(core, path)
        assert str(path) in str(error.value)
        assert 'src/' not in str(error.value), 'OpenVINO source locations are noise here'


@pytest.mark.parametrize('node_class, model, message', [
    (DepthNode, lambda path: write_model(channel_mean_model(3, 8, 8), path, 'vector'),
     r'model output shapes \[\(1, 3\)\] are not one depth map'),
    (ClassifierNode, lambda path: write_model(constant_depth_model(8, 8, 1.0), path, 'map'),
     r'model output shape \[1, 1, 8, 8\] is not a class vector'),
])
def test_a_model_with_the_wrong_output_shape_is_refused_at_start(ros_graph, tmp_path,
                                                                 node_class, model, message):
    with pytest.raises(ValueError, match=message):
        ros_graph.start(node_class, model=str(model(tmp_path)))


def test_a_node_process_given_a_corrupt_model_exits_1_with_the_reason(tmp_path):
    path, words = next(iter(corrupt_files(tmp_path).items()))
    process = NodeProcess('depth_node', {'model': path})
    process.process.wait(timeout=60)
    assert process.stop() == 1, process.output
    assert words in process.output and 'cannot start' in process.output, process.output
    assert 'Traceback' not in process.output
