"""What the launch files decide (edge_perception.nodes.launch_settings), tested without launch.

The launch files themselves cannot run here; test_ros_configuration.py checks on their syntax
tree that they only hand these settings to launch and launch_ros, and
test_ros_launch_parameters.py starts the node across processes as these settings describe.
"""

import pytest

from edge_perception.nodes.dds_profile import PROFILE_VARIABLE
from edge_perception.nodes.launch_settings import (
    ARGUMENTS,
    launch_file,
    LaunchSettingsError,
    node_settings,
    NODES,
    PARAMETER_ARGUMENTS,
    PARAMS_FILES,
    PERCEPTION_LAUNCH_FILE,
    REMAPPED_TOPICS,
)
from edge_perception.package_paths import shared_file
from edge_perception.replay.node_config import load_node_config, NODE_KINDS

NO_PROFILE = {}


def test_every_argument_is_described_with_a_default_among_its_choices():
    names = [argument.name for argument in ARGUMENTS]
    assert len(set(names)) == len(names)
    assert {'node', 'namespace', 'node_name', 'params_file', 'image', 'camera_info',
            'use_sim_time', 'autostart', 'log_level', 'dds_profile'} == set(names)
    for argument in ARGUMENTS:
        assert len(argument.description) > 20 and argument.description.endswith('.'), argument
        assert isinstance(argument.default, str), argument
        if argument.choices:
            assert argument.default in argument.choices, argument
    assert set(PARAMETER_ARGUMENTS) <= set(names)
    assert {topic for topics in REMAPPED_TOPICS.values() for topic in topics} <= set(names)


@pytest.mark.parametrize('node', NODES)
def test_each_node_has_an_installed_parameter_file_and_launch_file(node):
    params_file = shared_file(*PARAMS_FILES[node])
    assert load_node_config(params_file).kind is NODE_KINDS[node]
    assert launch_file(f"{node.removesuffix('_node')}.launch.py").endswith(
        f"share/edge_perception/launch/{node.removesuffix('_node')}.launch.py")
    assert shared_file('launch', PERCEPTION_LAUNCH_FILE).is_file()
    assert shared_file('launch', f"{node.removesuffix('_node')}.launch.py").is_file()


@pytest.mark.parametrize('node', NODES)
def test_the_remapped_topics_are_what_the_node_subscribes(node):
    # 'image' alone: the compressed transport's topic follows it (the node derives it).
    assert REMAPPED_TOPICS[node] == NODE_KINDS[node].inputs


def test_defaults_start_the_depth_node_with_its_file_and_nothing_over_it():
    settings = node_settings({}, NO_PROFILE)
    assert (settings.package, settings.executable, settings.name) == \
        ('edge_perception', 'depth_node', 'depth_node')
    assert settings.namespace is None
    assert settings.params_file == str(shared_file('config', 'depth.yaml'))
    assert settings.parameters == {} and settings.remappings == ()
    assert settings.ros_arguments == ('--log-level', 'info')
    assert settings.environment == {
        PROFILE_VARIABLE: str(shared_file('config', 'fastdds_large_messages.xml'))}


def test_given_values_name_place_remap_and_override(tmp_path):
    params_file = tmp_path / 'front.yaml'
    params_file.write_text('/**:\n  ros__parameters:\n    top_k: 3\n')
    settings = node_settings({
        'node': 'depth_node', 'namespace': 'robot1', 'node_name': 'front_depth',
        'params_file': str(params_file), 'image': '/front/image_raw',
        'camera_info': '/front/camera_info', 'use_sim_time': 'True', 'autostart': 'false',
        'log_level': 'debug'}, NO_PROFILE)
    assert (settings.executable, settings.name, settings.namespace) == \
        ('depth_node', 'front_depth', 'robot1')
    assert settings.params_file == str(params_file)
    assert settings.parameters == {'use_sim_time': True, 'autostart': False}
    assert settings.remappings == (('image', '/front/image_raw'),
                                   ('camera_info', '/front/camera_info'))
    assert settings.ros_arguments == ('--log-level', 'debug')


def test_the_classifier_gets_its_own_file_and_only_its_image_remapped():
    settings = node_settings({'node': 'classifier_node', 'image': '/camera/image_raw',
                              'camera_info': '/camera/camera_info'}, NO_PROFILE)
    assert (settings.executable, settings.name) == ('classifier_node', 'classifier_node')
    assert settings.params_file == str(shared_file('config', 'classifier.yaml'))
    assert settings.remappings == (('image', '/camera/image_raw'),)


def test_the_dds_profile_already_set_wins_over_the_shipped_one_and_a_given_one_over_both(
        tmp_path):
    mine, given = tmp_path / 'mine.xml', tmp_path / 'given.xml'
    mine.write_text('<dds/>')
    given.write_text('<dds/>')
    environ = {PROFILE_VARIABLE: str(mine)}
    assert node_settings({}, environ).environment == {PROFILE_VARIABLE: str(mine)}
    assert node_settings({'dds_profile': str(given)}, environ).environment == \
        {PROFILE_VARIABLE: str(given)}


@pytest.mark.parametrize('configurations, message', [
    ({'node': 'segmentation_node'},
     "'node' is 'segmentation_node'; must be one of: depth_node, classifier_node"),
    ({'log_level': 'loud'}, "'log_level' is 'loud'; must be one of: debug, info"),
    ({'autostart': 'yes'}, "'autostart' is 'yes'; must be true or false"),
    ({'use_sim_time': '1'}, "'use_sim_time' is '1'; must be true or false"),
    ({'image': ''}, "'image' is empty"),
    ({'params_file': '/no/such/depth.yaml'}, "'params_file': '/no/such/depth.yaml' is not a file"),
    ({'dds_profile': '/no/such/profile.xml'}, "'dds_profile': '/no/such/profile.xml' is not a"),
])
def test_values_the_node_cannot_start_with_are_refused_before_it_starts(configurations, message):
    # launch_ros only warns about a missing parameter file and starts the node without it.
    with pytest.raises(LaunchSettingsError, match=message):
        node_settings(configurations, NO_PROFILE)
