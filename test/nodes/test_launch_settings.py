"""What the launch files decide (edge_perception.nodes.launch_settings), tested without launch.

The launch files themselves run in test/launch/ where ``launch`` is installed (from
../shared/ros2; on no package registry); test_ros_configuration.py checks on their syntax tree
that they only hand these settings to launch and launch_ros, and test_ros_launch_parameters.py
starts the node across processes as these settings describe, with no launch at all.
"""

import pytest

from edge_perception.nodes.dds_profile import profile_variable, PROFILE_VARIABLES
from edge_perception.nodes.launch_settings import (
    ARGUMENTS,
    BRINGUP_ARGUMENTS,
    bringup_settings,
    launch_file,
    LaunchSettingsError,
    NODE_ARGUMENT,
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


@pytest.mark.parametrize('arguments', [ARGUMENTS, BRINGUP_ARGUMENTS, (NODE_ARGUMENT,)],
                         ids=['perception', 'bringup', 'node'])
def test_every_argument_is_described_with_a_default_among_its_choices(arguments):
    names = [argument.name for argument in arguments]
    assert len(set(names)) == len(names)
    for argument in arguments:
        assert len(argument.description) > 20 and argument.description.endswith('.'), argument
        assert isinstance(argument.default, str), argument
        if argument.choices:
            assert argument.default in argument.choices, argument


def test_the_perception_launch_files_offer_no_node_argument_they_would_override():
    names = [argument.name for argument in ARGUMENTS]
    assert {'namespace', 'node_name', 'params_file', 'image', 'camera_info',
            'use_sim_time', 'autostart', 'log_level', 'dds_profile'} == set(names)
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
    # The name this Fast DDS reads: FASTDDS_ (Fast DDS 3, Kilted), FASTRTPS_ (2: Humble, Jazzy).
    assert settings.environment == {
        profile_variable(NO_PROFILE): str(shared_file('config', 'fastdds_large_messages.xml'))}


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
    for variable in PROFILE_VARIABLES:  # set by the user under either name
        environ = {variable: str(mine)}
        assert node_settings({}, environ).environment == {profile_variable(environ): str(mine)}
        assert node_settings({'dds_profile': str(given)}, environ).environment == \
            {profile_variable(environ): str(given)}


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


def test_the_bringup_starts_the_camera_and_the_depth_node_with_their_files_in_one_namespace(
        tmp_path):
    clip = tmp_path / 'clip.mp4'
    clip.write_bytes(b'')
    bringup = bringup_settings({'video': str(clip), 'namespace': 'robot1',
                                'log_level': 'debug'}, NO_PROFILE)
    camera, depth = bringup.nodes
    assert (camera.executable, camera.name, camera.namespace) == ('camera_node', None, 'robot1')
    assert camera.params_file == str(shared_file('config', 'camera.yaml'))
    assert camera.parameters == {'video': str(clip), 'wait_for_subscribers': 1}
    assert (depth.executable, depth.name, depth.namespace) == \
        ('depth_node', 'depth_node', 'robot1')
    assert depth.params_file == str(shared_file('config', 'depth.yaml'))
    # The camera publishes the relative names the perception node subscribes: no remapping.
    assert camera.remappings == depth.remappings == ()
    assert camera.ros_arguments == depth.ros_arguments == ('--log-level', 'debug')
    assert bringup.environment == depth.environment


def test_the_bringup_adds_the_monitor_and_takes_the_classifier_and_the_files_given(tmp_path):
    files = {name: tmp_path / f'{name}.yaml' for name in ('camera', 'calibration', 'monitor')}
    for path in files.values():
        path.write_text('/**:\n  ros__parameters: {}\n')
    bringup = bringup_settings({
        'node': 'classifier_node', 'device': '/dev/video2', 'monitor': 'true',
        'camera_params_file': str(files['camera']), 'calibration': f"file://{files['calibration']}",
        'monitor_params_file': str(files['monitor'])}, NO_PROFILE)
    camera, classifier, monitor = bringup.nodes
    assert camera.params_file == str(files['camera'])
    assert camera.parameters == {'device': '/dev/video2',
                                 'camera_info_url': f"file://{files['calibration']}"}
    assert classifier.executable == 'classifier_node'
    assert (monitor.executable, monitor.name, monitor.params_file) == \
        ('monitor_node', None, str(files['monitor']))
    assert shared_file('config', 'monitor.yaml').is_file()


@pytest.mark.parametrize('configurations, message', [
    ({'device': '0', 'video': 'clip.mp4'}, 'device and video are all given; give one'),
    ({'video': '/no/such/clip.mp4'}, "'video': '/no/such/clip.mp4' is not a file"),
    ({'images': '/no/such/folder'}, "'images': '/no/such/folder' is not a folder"),
    ({'calibration': 'file:///no/such.yaml'}, "'calibration': '/no/such.yaml' is not a file"),
    ({'monitor': 'yes'}, "'monitor' is 'yes'; must be true or false"),
    ({'node': 'bogus'}, "'node' is 'bogus'; must be one of: depth_node, classifier_node"),
    ({'camera_params_file': '/no/such.yaml'}, "'camera_params_file': '/no/such.yaml' is not"),
])
def test_bringup_values_the_nodes_cannot_start_with_are_refused(configurations, message):
    with pytest.raises(LaunchSettingsError, match=message):
        bringup_settings(configurations, NO_PROFILE)
