"""The shipped parameter files reach a node in a namespace and under another name, across
processes: the node started as launch/perception_node.launch.py starts it (the settings of
edge_perception.nodes.launch_settings: the same command, parameter file, namespace, name,
remappings and ROS arguments), each parameter read back through the node's real parameter
services.

This runs without launch_ros (on no package registry); test/launch/ runs the launch files
themselves where it is installed. What launch_ros adds (it turns a relative namespace into an
absolute one) changes nothing here: the files keyed ``/**`` reach the node whatever it is.
"""

import os

from rcl_interfaces.srv import GetParameters
from rclpy.parameter import parameter_value_to_python
import yaml

from edge_perception.nodes.launch_settings import node_settings, PARAMS_FILES
from edge_perception.package_paths import shared_file
from edge_perception.replay.graph import CONNECT_TIMEOUT_S
from edge_perception.replay.node_process import NodeProcess

from tiny_models import channel_mean_model, red_channel_depth_model, write_model

NAMESPACE = 'robot1'
# Values other than the shipped ones for every parameter the files set, and for those they
# show commented out (rcl cannot type an empty list). `device` stays CPU: the only one here.
# Parameters added to the files later keep their shipped values and are checked all the same.
OTHER_VALUES = {
    'image_transport': 'compressed',
    'preprocessing': 'host',
    'mean': [1.0, 2.0, 3.0],
    'scale': [4.0, 5.0, 6.0],
    'color_order': 'BGR',
    'performance_hint': 'THROUGHPUT',
    'num_requests': 2,
    'inference_precision': 'f32',
    'fallback_devices': ['CPU'],
    'max_width': 2048,
    'max_height': 1536,
    'diagnostic_period': 2.5,
    # depth_node
    'depth_scale': 0.5,
    'min_depth': 0.25,
    'max_depth': 20.0,
    'depth_encoding': '16UC1',
    'publish_points': False,
    'cloud_color': 'rgb',
    'cloud_decimation': 2,
    # classifier_node
    'top_k': 2,
    'score_threshold': 0.25,
    'output_is_logits': False,
}
COMMENTED_OUT = ('mean', 'scale', 'fallback_devices')


def shipped_parameters(node):
    """Return the installed parameter file's ``/**`` parameters, checking its shape."""
    text = shared_file(*PARAMS_FILES[node]).read_text()
    document = yaml.safe_load(text)
    assert list(document) == ['/**'] and list(document['/**']) == ['ros__parameters']
    for name in COMMENTED_OUT:
        assert f'    # {name}: [' in text, name
    return document['/**']['ros__parameters']


def other_values_file(node, tmp_path, **values):
    """Write the node's parameter file as a user edits it: every value changed where it can be,
    the commented-out arrays set, laid out as the shipped file (``/**``, ``ros__parameters``).
    """
    parameters = {name: OTHER_VALUES.get(name, value)
                  for name, value in shipped_parameters(node).items()}
    parameters.update({name: OTHER_VALUES[name] for name in COMMENTED_OUT}, **values)
    path = tmp_path / f'{node}.yaml'
    path.write_text(yaml.safe_dump({'/**': {'ros__parameters': parameters}}, sort_keys=False))
    return path, parameters


def start_as_launched(graph, configurations):
    settings = node_settings(configurations)
    # The child inherits this environment: the one the launch file would set (conftest.py).
    assert {name: os.environ.get(name) for name in settings.environment} == settings.environment
    process = NodeProcess(settings.executable, settings.parameters, dict(settings.remappings),
                          settings.params_file, namespace=f'/{settings.namespace}',
                          name=settings.name, ros_arguments=settings.ros_arguments)
    graph.processes.append(process)
    return settings, process


def wait_for_subscriptions(graph, process, name, topics):
    """Wait until the node subscribes to ``topics`` (it has declared its parameters by then)."""
    def subscribed():
        return all(any((info.node_name, info.node_namespace) == (name, f'/{NAMESPACE}')
                       for info in graph.probe.get_subscriptions_info_by_topic(topic))
                   for topic in topics)
    assert graph.wait_for(lambda: not process.running() or subscribed(),
                          CONNECT_TIMEOUT_S), process.output
    assert process.running(), process.output


def parameters_of(graph, node_path, names):
    """Ask the node's get_parameters service for each name; None for what is not set.

    One name a request: the service leaves unset parameters out of its answer.
    """
    client = graph.probe.create_client(GetParameters, f'{node_path}/get_parameters')
    try:
        values = {}
        for name in names:
            response = graph.call(client, GetParameters.Request(names=[name]), CONNECT_TIMEOUT_S)
            assert response is not None, node_path
            answer = response.values
            values[name] = parameter_value_to_python(answer[0]) if answer else None
        return values
    finally:
        graph.probe.destroy_client(client)


def assert_every_parameter_reached(graph, node_path, expected):
    received = parameters_of(graph, node_path, list(expected))
    differ = {name: (value, received[name]) for name, value in expected.items()
              if received[name] != value or type(received[name]) is not type(value)}
    assert not differ, f'{node_path}: {{name: (in the file, on the node)}} {differ}'



def test_the_depth_parameter_file_reaches_a_namespaced_renamed_node(ros_graph, tmp_path):
    model = write_model(red_channel_depth_model(8, 8), tmp_path, 'red')
    params_file, parameters = other_values_file('depth_node', tmp_path, model=str(model))
    changed = [name for name, value in shipped_parameters('depth_node').items()
               if parameters[name] != value]
    assert len(changed) >= 14, changed
    settings, process = start_as_launched(ros_graph, {
        'node': 'depth_node', 'namespace': NAMESPACE, 'node_name': 'front_depth',
        'params_file': str(params_file), 'image': '/front/image_raw',
        'camera_info': '/front/camera_info', 'use_sim_time': 'false', 'log_level': 'debug'})
    # image_transport 'compressed': the remapped 'image' moves '<image>/compressed' too.
    wait_for_subscriptions(ros_graph, process, 'front_depth',
                           ['/front/image_raw/compressed', '/front/camera_info'])
    assert_every_parameter_reached(ros_graph, f'/{NAMESPACE}/front_depth',
                                   {**parameters, **settings.parameters})
    published = {topic for topic, _ in ros_graph.probe.get_publisher_names_and_types_by_node(
        'front_depth', f'/{NAMESPACE}')}
    assert {f'/{NAMESPACE}/depth', f'/{NAMESPACE}/inference_timing'} <= published
    assert process.stop() == 0, process.output


def test_the_classifier_parameter_file_reaches_a_namespaced_renamed_node(ros_graph, tmp_path):
    model = write_model(channel_mean_model(3, 8, 8), tmp_path, 'three_classes')
    labels = tmp_path / 'labels.txt'
    labels.write_text('red\ngreen\nblue\n')
    params_file, parameters = other_values_file('classifier_node', tmp_path, model=str(model),
                                                labels=str(labels))
    _, process = start_as_launched(ros_graph, {
        'node': 'classifier_node', 'namespace': NAMESPACE, 'node_name': 'front_classifier',
        'params_file': str(params_file), 'image': '/front/image_raw'})
    wait_for_subscriptions(ros_graph, process, 'front_classifier',
                           ['/front/image_raw/compressed'])
    assert_every_parameter_reached(ros_graph, f'/{NAMESPACE}/front_classifier', parameters)
    assert process.stop() == 0, process.output
