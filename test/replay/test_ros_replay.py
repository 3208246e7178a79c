"""replay and regress end to end: bags written here, played through real nodes, recorded.

A tiny model turns the image's red channel into depth (centimetres), and the test bags carry
their ground truth in the red channel: the node's depth is then right to the centimetre, and
changing ``depth_scale`` changes it in a known way.
"""

import json
import subprocess

import numpy as np
import pytest
from rosbags.rosbag2 import Reader
from rosbags.typesys import get_types_from_msg, get_typestore, Stores
import yaml

from edge_perception.bags.types import package_typestore
from edge_perception.cli import main as cli
from edge_perception.messages import stamp_ns
from edge_perception.package_paths import shared_file
from edge_perception.replay.node_config import load_node_config
from edge_perception.replay.node_process import installed_command
from edge_perception.replay.scoring import score
from edge_perception.replay.session import replay, ReplayOptions

from regression_bags import (
    frame_stamps,
    HEIGHT,
    truth_depths,
    WIDTH,
    write_bag_with_broken_frames,
    write_camera_bag,
)
from tiny_models import red_channel_depth_model, write_model

FRAMES = 6


@pytest.fixture
def depth_setup(tmp_path):
    """(bag, parameter file) of the red-channel depth model on a 6-frame recording."""
    write_camera_bag(tmp_path / 'camera', truth_depths(FRAMES, 0.5, 2.0, 0.1))
    model = write_model(red_channel_depth_model(HEIGHT, WIDTH), tmp_path, 'red')
    config = tmp_path / 'depth.yaml'
    config.write_text(yaml.safe_dump({'depth_node': {'ros__parameters': {
        'model': str(model), 'mean': [0.0], 'scale': [1.0], 'depth_scale': 0.01,
        'min_depth': 0.0}}}))
    return tmp_path / 'camera', config


def regress(capsys, *arguments):
    """Run ``edge-perception regress`` in this process; return (exit code, stdout)."""
    code = cli.main(['regress', *map(str, arguments)])
    return code, capsys.readouterr().out


def test_lockstep_replay_records_every_output_once_with_the_input_stamps(depth_setup, tmp_path):
    bag, config = depth_setup
    result = replay(ReplayOptions(str(bag), load_node_config(config), tmp_path / 'outputs'))
    assert (result.frames, result.sent, result.missing) == (FRAMES, FRAMES, [])
    assert result.recorded == {'/depth': FRAMES, '/points': FRAMES,
                               '/inference_timing': FRAMES}
    with Reader(tmp_path / 'outputs') as reader:
        types = {c.topic: c.msgtype for c in reader.connections}
        assert types == {'/depth': 'sensor_msgs/msg/Image',
                         '/points': 'sensor_msgs/msg/PointCloud2',
                         '/inference_timing': 'edge_perception/msg/InferenceTiming'}
        # The bag carries the package's definition: a reader without the package decodes it.
        timing_connection = next(c for c in reader.connections
                                 if c.topic == '/inference_timing')
        typestore = get_typestore(Stores.ROS2_KILTED)
        typestore.register(get_types_from_msg(timing_connection.msgdef.data,
                                              timing_connection.msgtype))
        stamps = {topic: [] for topic in types}
        depth = None
        for connection, timestamp, raw in reader.messages():
            message = typestore.deserialize_cdr(raw, connection.msgtype)
            stamps[connection.topic].append(stamp_ns(message))
            assert timestamp > frame_stamps(FRAMES)[-1]  # receive time, not the input stamp
            if connection.topic == '/depth':
                depth = np.frombuffer(message.data, '<f4').reshape(HEIGHT, WIDTH)
            if connection.topic == '/inference_timing':
                assert message.device == 'CPU' and message.model == 'red.xml'
    assert all(sorted(found) == frame_stamps(FRAMES) for found in stamps.values()), stamps
    expected = truth_depths(FRAMES, 0.5, 2.0, 0.1)[-1]
    np.testing.assert_allclose(depth[1:], expected[1:], atol=0.006)


def test_replay_in_a_child_process_with_overrides_into_sqlite3(depth_setup, tmp_path):
    bag, config = depth_setup
    completed = subprocess.run(
        [str(installed_command('edge-perception')), 'replay', str(bag), '--config', str(config),
         '--param', 'publish_points=false', '--subprocess', '--as-fast-as-possible',
         '--storage', 'sqlite3', '--record', str(tmp_path / 'outputs')],
        capture_output=True, text=True, timeout=120)
    assert completed.returncode == 0, completed.stdout + completed.stderr
    assert f'{FRAMES}/{FRAMES} frames replayed (lockstep)' in completed.stdout
    with Reader(tmp_path / 'outputs') as reader:
        counts = {c.topic: c.msgcount for c in reader.connections}
    assert counts == {'/depth': FRAMES, '/points': 0, '/inference_timing': FRAMES}
    assert list((tmp_path / 'outputs').glob('*.db3'))


def test_timed_replay_restamps_frames_and_the_outputs_still_pair(depth_setup, tmp_path):
    bag, config = depth_setup
    result = replay(ReplayOptions(str(bag), load_node_config(config), tmp_path / 'outputs',
                                  rate=2.0, outputs=('depth', 'inference_timing')))
    assert not result.lockstep and result.sent == FRAMES
    assert set(result.stamp_map.values()) == set(frame_stamps(FRAMES))
    assert not set(result.stamp_map) & set(frame_stamps(FRAMES))
    report = score(bag, tmp_path / 'outputs', 'depth', '/depth', '/inference_timing')
    assert report.missing == result.missing == []
    assert report.truth['pooled']['delta1'] == 1.0


def test_same_bag_through_fastdepth_twice_gives_identical_depth(tmp_path):
    options = {'bag': str(shared_file('data', 'demo_depth_bag')),
               'config': load_node_config(shared_file('config', 'regression', 'depth.yaml')),
               'outputs': ('depth',)}
    typestore = package_typestore()
    recorded = []
    for run in ('first', 'second'):
        result = replay(ReplayOptions(record=tmp_path / run, **options))
        assert result.missing == [] and result.recorded == {'/depth': 12}
        with Reader(tmp_path / run) as reader:
            # The image bytes, not the whole CDR buffer: DDS leaves its alignment padding
            # uninitialised.
            recorded.append({stamp_ns(message): message.data.tobytes() for message in (
                typestore.deserialize_cdr(raw, connection.msgtype)
                for connection, _, raw in reader.messages())})
    assert sorted(recorded[0]) == frame_stamps_of_demo_bag()
    assert recorded[0] == recorded[1]


def frame_stamps_of_demo_bag():
    return [1_735_689_600_000_000_000 + index * 100_000_000 for index in range(12)]



def test_regress_exit_codes_report_plot_and_golden(depth_setup, tmp_path, capsys):
    bag, config = depth_setup
    code, out = regress(capsys, bag, '--config', config, '--min-delta1', 0.99,
                        '--max-abs-rel', 0.02, '--report', tmp_path / 'report.json',
                        '--plot', tmp_path / 'report.png', '--write-golden', tmp_path / 'golden')
    assert code == 0, out
    report = json.loads((tmp_path / 'report.json').read_text())
    assert report['truth']['pooled']['delta1'] == 1.0 and report['failures'] == []
    assert report['latency']['per_frame'] and report['replay']['frames_sent'] == FRAMES
    assert (tmp_path / 'report.png').stat().st_size > 10_000
    with Reader(tmp_path / 'golden') as reader:
        assert [(c.topic, c.msgcount) for c in reader.connections] == [('/depth', FRAMES)]

    code, out = regress(capsys, bag, '--config', config, '--param', 'depth_scale=0.02',
                        '--min-delta1', 0.99)
    assert code == 3, out
    assert 'FAIL: delta1 0.0000 is below --min-delta1 0.99' in out

    code, out = regress(capsys, bag, '--config', config, '--golden', tmp_path / 'golden',
                        '--tolerance', 0)
    assert code == 0, out
    code, out = regress(capsys, bag, '--config', config, '--golden', tmp_path / 'golden',
                        '--param', 'depth_scale=0.0101')
    assert code == 3, out
    assert 'above --tolerance 0.001' in out


def test_frames_without_result_are_missing_and_a_silent_node_ends_the_replay(tmp_path, capsys):
    depths = truth_depths(8, 0.5, 2.0, 0.1)
    write_bag_with_broken_frames(tmp_path / 'camera', depths, broken={1, 3, 4, 5})
    model = write_model(red_channel_depth_model(HEIGHT, WIDTH), tmp_path, 'red')
    arguments = [tmp_path / 'camera', '--config', shared_file('config', 'depth.yaml'),
                 '--param', f'model={model}', '--param', 'mean=[0.0]', '--param', 'scale=[1.0]',
                 '--param', 'depth_scale=0.01', '--timeout', 0.3]
    code, out = regress(capsys, *arguments)
    assert code == 3, out
    assert 'depth_node stopped answering: no result for 3 frames in a row (up to frame 5); ' \
        '2 frames not sent' in out
    assert '6 of 8 frames have no /depth output' in out
    assert cli.main(['replay', *map(str, arguments), '--as-fast-as-possible']) == 1
    assert 'frame 1 (stamp' in capsys.readouterr().out


def test_classifier_regress_on_the_bundled_digits(tmp_path, capsys):
    code, out = regress(capsys, shared_file('data', 'demo_digits_bag'), '--config',
                        shared_file('config', 'classifier.yaml'), '--min-top1', 0.95,
                        '--report', tmp_path / 'report.json')
    assert code == 0, out
    truth = json.loads((tmp_path / 'report.json').read_text())['truth']
    assert truth['frames'] == 20 and truth['top1'] >= 0.95
    assert np.trace(np.asarray(truth['confusion']['matrix'])) == round(20 * truth['top1'])


@pytest.mark.parametrize('override, message', [
    ('model=/no/such/model.xml', "depth_node cannot start: model file '/no/such/model.xml'"),
    ('no_such_parameter=1', 'depth_node declares no parameter no_such_parameter'),
])
def test_a_node_that_cannot_run_as_configured_is_a_clear_error(depth_setup, capsys, override,
                                                               message):
    bag, config = depth_setup
    assert cli.main(['replay', str(bag), '--config', str(config), '--param', override]) == 1
    assert message in capsys.readouterr().err
