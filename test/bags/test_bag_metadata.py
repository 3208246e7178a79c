"""The bags the package writes and ships are rosbag2 metadata version 8, which Humble's
``ros2 bag`` reads too: ``offered_qos_profiles`` a string, not version 9's YAML sequence (that
Humble's rosbag2 decodes as a string for every version from 4 on, and fails).
"""

import numpy as np
import pytest
import yaml

from edge_perception.bags.types import IMAGE_TYPE, TYPESTORE
from edge_perception.bags.writer import open_bag_writer, ROSBAG2_VERSION, write_mcap_bag
from edge_perception.messages import bag_types, image_msg
from edge_perception.package_paths import shared_file

BUNDLED = sorted(shared_file('data').rglob('metadata.yaml'))


def bag_information(bag):
    return yaml.safe_load((bag / 'metadata.yaml').read_text())['rosbag2_bagfile_information']


def write_one_image(path, **writer_options):
    message = image_msg(np.zeros((2, 2, 3), np.uint8), 'rgb8', stamp=1,
                        types=bag_types(TYPESTORE))
    with open_bag_writer(path, **writer_options) as writer:
        connection = writer.add_connection('/image', IMAGE_TYPE, typestore=TYPESTORE)
        writer.write(connection, 1, TYPESTORE.serialize_cdr(message, IMAGE_TYPE))


def assert_humble_reads_it(information):
    assert information['version'] == 8
    for topic in information['topics_with_message_count']:
        assert isinstance(topic['topic_metadata']['offered_qos_profiles'], str), topic


@pytest.mark.parametrize('metadata', BUNDLED, ids=lambda path: path.parent.name)
def test_every_bundled_bag_is_version_8(metadata):
    assert_humble_reads_it(bag_information(metadata.parent))


def test_the_bundled_recordings_and_goldens_are_all_there():
    assert {path.parent.name for path in BUNDLED} == {
        'demo_depth_bag', 'demo_digits_bag', 'depth_outputs', 'digits_outputs'}


@pytest.mark.parametrize('storage', ['mcap', 'sqlite3'])
def test_bags_are_written_as_version_8_unless_asked_otherwise(tmp_path, storage):
    assert ROSBAG2_VERSION == 8
    write_one_image(tmp_path / 'default', storage=storage)
    assert_humble_reads_it(bag_information(tmp_path / 'default'))
    write_one_image(tmp_path / 'nine', storage=storage, version=9)
    information = bag_information(tmp_path / 'nine')
    assert information['version'] == 9
    assert isinstance(
        information['topics_with_message_count'][0]['topic_metadata']['offered_qos_profiles'],
        list)


def test_the_mcap_writer_of_the_tools_writes_version_8(tmp_path):
    message = image_msg(np.zeros((2, 2, 3), np.uint8), 'rgb8', stamp=1,
                        types=bag_types(TYPESTORE))
    write_mcap_bag(tmp_path / 'bag', {'/image': IMAGE_TYPE}, [('/image', 1, message)])
    assert_humble_reads_it(bag_information(tmp_path / 'bag'))
