"""Bags and parameter files from outside: YAML tags that would construct Python objects and
truncated recordings get one line and exit 1 from the commands a user runs; nothing runs.
"""

from pathlib import Path
import shutil
import subprocess

import pytest

from edge_perception.bags.reader import BagError, custom_data, read_messages
from edge_perception.replay.node_process import installed_command

from command_results import assert_one_line_exit_1

REPOSITORY = Path(__file__).resolve().parents[2]
DEMO_BAG = REPOSITORY / 'data' / 'demo_depth_bag'
DEPTH_CONFIG = REPOSITORY / 'config' / 'depth.yaml'


def python_tag(marker):
    """A YAML value that an unsafe loader would turn into a call of os.system."""
    return f'!!python/object/apply:os.system ["touch {marker}"]'


def run(*arguments, cwd):
    return subprocess.run([str(installed_command('edge-perception')), *map(str, arguments)],
                          capture_output=True, text=True, timeout=300, cwd=cwd)


@pytest.fixture
def bag_copy(tmp_path):
    copy = tmp_path / 'bag'
    shutil.copytree(DEMO_BAG, copy)
    return copy


def test_a_bag_whose_metadata_carries_a_python_tag_is_refused(bag_copy, tmp_path):
    marker = tmp_path / 'code_ran'
    (bag_copy / 'metadata.yaml').write_text(f'rosbag2_bagfile_information: {python_tag(marker)}\n')
    with pytest.raises(BagError, match='cannot read bag'):
        custom_data(bag_copy)
    with pytest.raises(BagError, match='cannot read bag'):
        list(read_messages(bag_copy, ['/camera/image_raw']))
    for command in ('replay', 'regress'):
        assert_one_line_exit_1(run(command, bag_copy, '--config', DEPTH_CONFIG, cwd=tmp_path),
                               f"cannot read bag '{bag_copy}'")
    assert not marker.exists()


def test_a_truncated_recording_is_one_error(bag_copy, tmp_path):
    recording = next(bag_copy.glob('*.mcap'))
    recording.write_bytes(recording.read_bytes()[:recording.stat().st_size // 2])
    with pytest.raises(BagError, match='cannot read bag'):
        list(read_messages(bag_copy, ['/camera/image_raw']))
    assert_one_line_exit_1(run('replay', bag_copy, '--config', DEPTH_CONFIG, cwd=tmp_path),
                           f"cannot read bag '{bag_copy}'")


def test_a_parameter_file_with_a_python_tag_is_refused(bag_copy, tmp_path):
    marker = tmp_path / 'code_ran'
    config = tmp_path / 'depth.yaml'
    config.write_text(f'/**:\n  ros__parameters:\n    model: {python_tag(marker)}\n')
    assert_one_line_exit_1(run('replay', bag_copy, '--config', config, cwd=tmp_path),
                           f"cannot read parameter file '{config}'")
    assert not marker.exists()
