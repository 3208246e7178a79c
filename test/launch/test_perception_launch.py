"""depth.launch.py and classifier.launch.py executed by ``ros2 launch`` and driven with the
``ros2`` command line in other processes, as an operator on a robot does: names, namespace,
parameter file, remappings, lifecycle, outputs, Ctrl-C, and arguments that are refused.
"""

from lifecycle_msgs.msg import State
import numpy as np
import pytest
from sensor_msgs.msg import CameraInfo, Image, PointCloud2
import yaml

from edge_perception.core.depth_geometry import PinholeIntrinsics
from edge_perception.messages import camera_info_msg, image_msg, stamp_ns
from edge_perception.msg import Classification
from edge_perception.package_paths import shared_file

from ros_helpers import depth_array
from tiny_models import constant_depth_model, write_model

WIDTH, HEIGHT = 64, 48
CONSTANT_DEPTH_M = 2.0
CHANGED = {'min_depth': 0.25, 'max_depth': 7.5, 'cloud_decimation': 2, 'diagnostic_period': 2.5}


def changed_depth_file(tmp_path):
    """Write config/depth.yaml as a user edits it: a model of constant depth, values changed."""
    document = yaml.safe_load(shared_file('config', 'depth.yaml').read_text())
    model = write_model(constant_depth_model(HEIGHT, WIDTH, CONSTANT_DEPTH_M), tmp_path, 'flat')
    document['/**']['ros__parameters'].update(CHANGED, model=str(model))
    path = tmp_path / 'front_depth.yaml'
    path.write_text(yaml.safe_dump(document, sort_keys=False))
    return path, model


def frame(index, frame_id='front_optical'):
    return image_msg(np.full((HEIGHT, WIDTH, 3), 10 * (index % 25), np.uint8), 'rgb8',
                     stamp=(index + 1) * 1_000_000, frame_id=frame_id)


def camera_info(index):
    return camera_info_msg(PinholeIntrinsics.from_horizontal_fov(WIDTH, HEIGHT, 60.0),
                           stamp=(index + 1) * 1_000_000, frame_id='front_optical')


def parameter_text(value):
    kind = {float: 'Double', int: 'Integer', str: 'String'}[type(value)]
    return f'{kind} value is: {value}'


def node_listed(name):
    return lambda result: name in result.stdout.split()


def assert_ended_cleanly(launch, code):
    assert code == 0, launch.output
    assert 'Traceback' not in launch.output, launch.output
    assert 'process has finished cleanly' in launch.output, launch.output


def test_depth_launch_names_places_configures_remaps_serves_and_stops_on_ctrl_c(
        ros2, ros_graph, tmp_path):
    params_file, model = changed_depth_file(tmp_path)
    with ros2.launch('depth.launch.py', 'namespace:=robot1', 'node_name:=front_depth',
                     'image:=/front/image_raw', 'camera_info:=/front/camera_info',
                     f'params_file:={params_file}') as launch:
        ros2.poll('node', 'list', until=node_listed('/robot1/front_depth'))
        for name, value in {**CHANGED, 'model': str(model)}.items():
            result = ros2.poll('param', 'get', '/robot1/front_depth', name,
                               until=lambda result: result.returncode == 0)
            assert result.stdout.strip() == parameter_text(value), name
        for topic in ('/front/image_raw', '/front/camera_info'):
            ros2.poll('topic', 'info', topic,
                      until=lambda result: 'Subscription count: 1' in result.stdout)

        images = ros_graph.publisher(Image, '/front/image_raw')
        infos = ros_graph.publisher(CameraInfo, '/front/camera_info')
        depth = ros_graph.collect_by_stamp(Image, '/robot1/depth')
        clouds = ros_graph.collect_by_stamp(PointCloud2, '/robot1/points')

        def publish(attempt):
            infos.publish(camera_info(attempt))
            images.publish(frame(attempt))
            return stamp_ns(frame(attempt))

        sent = ros_graph.warm_up(publish, lambda stamp: stamp in depth and stamp in clouds,
                                 60.0)
        depth_msg = depth[sent].message
        assert depth_msg.header.frame_id == 'front_optical'
        np.testing.assert_allclose(depth_array(depth_msg), CONSTANT_DEPTH_M)
        cloud = clouds[sent].message
        assert (cloud.width, cloud.height) == (WIDTH // 2, HEIGHT // 2)  # cloud_decimation 2
        code = launch.interrupt()
    assert_ended_cleanly(launch, code)
    assert 'user interrupted with ctrl-c (SIGINT)' in launch.output


def test_without_autostart_the_node_waits_for_lifecycle_transitions(ros2, ros_graph, tmp_path):
    params_file, _ = changed_depth_file(tmp_path)
    node = '/robot1/depth_node'
    with ros2.launch('depth.launch.py', 'namespace:=robot1', 'autostart:=false',
                     f'params_file:={params_file}') as launch:
        result = ros2.poll('lifecycle', 'get', node, until=lambda result: 'unconfigured'
                           in result.stdout)
        assert f'[{State.PRIMARY_STATE_UNCONFIGURED}]' in result.stdout
        assert ros2.run('param', 'get', node, 'autostart').stdout.strip() == \
            'Boolean value is: False'
        # An operator's typo, and a transition this state does not have: refused, node alive.
        refused = ros2.run('lifecycle', 'set', node, 'activate')
        assert refused.returncode != 0 and 'Unknown transition requested' in refused.stderr
        refused = ros2.run('service', 'call', f'{node}/change_state',
                           'lifecycle_msgs/srv/ChangeState', '{transition: {id: 3}}')
        assert 'ChangeState_Response(success=False)' in refused.stdout, refused
        images = ros_graph.publisher(Image, '/robot1/image', wait=False)
        infos = ros_graph.publisher(CameraInfo, '/robot1/camera_info', wait=False)
        depth = ros_graph.collect_by_stamp(Image, '/robot1/depth', wait=False)
        for transition in ('configure', 'activate'):
            result = ros2.run('lifecycle', 'set', node, transition)
            assert result.stdout.strip() == 'Transitioning successful', result.stderr
        assert 'active' in ros2.run('lifecycle', 'get', node).stdout
        ros_graph.wait_until_connected(images, infos)

        def publish(attempt):
            infos.publish(camera_info(attempt))
            images.publish(frame(attempt))
            return stamp_ns(frame(attempt))

        ros_graph.warm_up(publish, lambda stamp: stamp in depth, 60.0)
        result = ros2.run('lifecycle', 'set', node, 'deactivate')
        assert result.stdout.strip() == 'Transitioning successful', result.stderr
        assert ros_graph.wait_for(lambda: images.get_subscription_count() == 0, 30.0)
        depth.clear()
        for index in range(100, 105):
            publish(index)
        ros_graph.spin_for(1.0)
        assert not depth, 'an inactive node published depth'
        code = launch.interrupt()
    assert_ended_cleanly(launch, code)


def test_classifier_launch_classifies_under_its_name_in_a_namespace(ros2, ros_graph):
    node = '/robot1/front_classifier'
    with ros2.launch('classifier.launch.py', 'namespace:=robot1',
                     'node_name:=front_classifier', 'image:=/front/image_raw') as launch:
        ros2.poll('node', 'list', until=node_listed(node))
        result = ros2.run('param', 'get', node, 'top_k')
        assert result.stdout.strip() == 'Integer value is: 5', result.stderr
        ros2.poll('topic', 'info', '/front/image_raw',
                  until=lambda result: 'Subscription count: 1' in result.stdout)
        images = ros_graph.publisher(Image, '/front/image_raw')
        results = ros_graph.collect_by_stamp(Classification, '/robot1/classification')

        def publish(attempt):
            images.publish(frame(attempt))
            return stamp_ns(frame(attempt))

        sent = ros_graph.warm_up(publish, lambda stamp: stamp in results, 60.0)
        classification = results[sent].message
        assert len(classification.class_ids) == 5
        assert list(classification.scores) == sorted(classification.scores, reverse=True)
        code = launch.interrupt()
    assert_ended_cleanly(launch, code)


@pytest.mark.parametrize('launch_file', ['depth.launch.py', 'classifier.launch.py'])
def test_show_args_lists_every_argument_and_offers_no_node_to_override(ros2, launch_file):
    result = ros2.run('launch', 'edge_perception', launch_file, '--show-args')
    assert result.returncode == 0, result.stderr
    listed = [line.strip().strip("':") for line in result.stdout.splitlines()
              if line.startswith("    '")]
    assert listed == ['namespace', 'node_name', 'params_file', 'image', 'camera_info',
                      'use_sim_time', 'autostart', 'log_level', 'dds_profile']


@pytest.mark.parametrize('argument, message', [
    ('params_file:=/missing.yaml', "launch argument 'params_file': '/missing.yaml' is not a file"),
    ('use_sim_time:=maybe', "launch argument 'use_sim_time' is 'maybe'; must be true or false"),
    ('log_level:=loud', 'Argument "log_level" provided value "loud" is not valid'),
])
def test_a_bad_argument_ends_the_launch_with_one_clear_message(ros2, argument, message):
    with ros2.launch('depth.launch.py', argument) as launch:
        code = launch.wait()
    assert code != 0
    errors = [line for line in launch.output.splitlines() if 'ERROR' in line]
    assert errors and message in errors[-1], launch.output
    assert 'Traceback' not in launch.output and 'process started' not in launch.output
