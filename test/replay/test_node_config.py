"""Parameter files -> node kind and parameters, for replay and regress."""

from pathlib import Path

import pytest
import yaml

from edge_perception.replay.node_config import (
    ConfigError,
    load_node_config,
    node_key_matches,
    NODE_KINDS,
    parse_override,
    read_parameters,
    write_params_file,
)

REPO = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize('name', ['depth', 'classifier'])
def test_shipped_parameter_files_pick_their_node_and_keep_every_value(name):
    config = load_node_config(REPO / 'config' / f'{name}.yaml')
    assert config.kind is NODE_KINDS[f'{name}_node']
    document = yaml.safe_load((REPO / 'config' / f'{name}.yaml').read_text())
    assert list(document) == ['/**']
    assert config.parameters == document['/**']['ros__parameters']
    assert load_node_config(REPO / 'config' / f'{name}.yaml', node=f'{name}_node') == config


@pytest.mark.parametrize('name', ['depth', 'classifier'])
def test_regression_parameter_files_are_the_shipped_ones_computing_in_f32(name):
    shipped = load_node_config(REPO / 'config' / f'{name}.yaml').parameters
    regression = load_node_config(REPO / 'config' / 'regression' / f'{name}.yaml').parameters
    assert regression == {**shipped, 'inference_precision': 'f32'}


def test_overrides_are_parsed_as_yaml_like_ros_args():
    config = load_node_config(REPO / 'config' / 'depth.yaml', [
        'max_depth=5.0', 'num_requests=2', 'mean=[0.0, 0.5, 1.0]', 'model=/tmp/a b.xml',
        'publish_points=false', 'device='])
    parameters = config.parameters
    assert parameters['max_depth'] == 5.0 and parameters['num_requests'] == 2
    assert parameters['mean'] == [0.0, 0.5, 1.0] and parameters['model'] == '/tmp/a b.xml'
    assert parameters['publish_points'] is False and parameters['device'] == ''
    assert parse_override('qos_overrides./depth.publisher.reliability=best_effort') == \
        ('qos_overrides./depth.publisher.reliability', 'best_effort')


@pytest.mark.parametrize('text, message', [
    ('camera:\n  ros__parameters: {}\n', 'configures none of depth_node, classifier_node '
     r"\(top-level keys: camera; expected '/\*\*'"),
    ('/robot1/depth_node:\n  ros__parameters: {}\n', 'configures none of'),
    ('depth_node:\n  ros__parameters: {}\nclassifier_node:\n  ros__parameters: {}\n',
     r'configures classifier_node and depth_node: name the node to run \(--node\)'),
    ('depth_node:\n  model: x\n', "has no 'ros__parameters' mapping"),
    ('/**:\n  ros__parameters: []\n', "'/\\*\\*' in .* has no 'ros__parameters' mapping"),
    ('/**:\n  ros__parameters:\n    device: CPU\n',
     'cannot tell which node .* sets no parameter of only one of them '
     r'\(depth_node: depth_scale, .*classifier_node: labels, .*\); name the node '
     r'\(--node depth_node or --node classifier_node\)'),
    ('/**:\n  ros__parameters:\n    min_depth: 0.2\n    top_k: 3\n',
     'cannot tell which node .* sets parameters of more than one of them'),
    ('depth_node:\n  ros__parameters:\n    top_k: 3\n',
     'configures depth_node but sets top_k, which depth_node does not declare'),
    ('- a list\n', 'is not a mapping'),
    ('depth_node: [unclosed\n', 'cannot read parameter file'),
])
def test_malformed_parameter_files_are_refused_with_the_reason(tmp_path, text, message):
    path = tmp_path / 'params.yaml'
    path.write_text(text)
    with pytest.raises(ConfigError, match=message):
        load_node_config(path)


@pytest.mark.parametrize('key, depth_node, classifier_node', [
    ('/**', True, True),
    ('/**/depth_node', True, False),
    ('depth_node', True, False),
    ('/depth_node', True, False),
    ('/*', True, True),
    ('/*/depth_node', False, False),
    ('/robot1/depth_node', False, False),
    ('/**/front_depth', False, False),
    ('depth_node_2', False, False),
])
def test_keys_apply_to_the_node_as_rcl_matches_them_for_a_node_without_namespace(
        key, depth_node, classifier_node):
    assert node_key_matches(key, 'depth_node') is depth_node
    assert node_key_matches(key, 'classifier_node') is classifier_node


def test_sections_that_apply_are_merged_in_file_order_as_rcl_merges_them(tmp_path):
    path = tmp_path / 'params.yaml'
    path.write_text('/**:\n  ros__parameters:\n    device: GPU\n    num_requests: 2\n'
                    'camera_driver:\n  ros__parameters:\n    frame_rate: 30\n'
                    '/**/classifier_node:\n  ros__parameters:\n    num_requests: 4\n'
                    '    top_k: 3\n')
    config = load_node_config(path)
    assert config.kind is NODE_KINDS['classifier_node']
    assert config.parameters == {'device': 'GPU', 'num_requests': 4, 'top_k': 3}
    assert load_node_config(path, node='depth_node').parameters == \
        {'device': 'GPU', 'num_requests': 2}
    assert read_parameters(path) == config.parameters
    path.write_text('classifier_node:\n  ros__parameters:\n    top_k: 3\n')
    with pytest.raises(ConfigError, match=r'configures no depth_node \(its keys: classifier_node'):
        load_node_config(path, node='depth_node')


def test_the_node_is_named_or_inferred_from_the_parameters_only_it_declares(tmp_path):
    path = tmp_path / 'params.yaml'
    path.write_text('/**:\n  ros__parameters:\n    device: CPU\n')
    assert load_node_config(path, node='classifier_node').kind.name == 'classifier_node'
    assert load_node_config(path, ['max_depth=5.0']).kind.name == 'depth_node'
    assert read_parameters(path) == {'device': 'CPU'}
    with pytest.raises(ConfigError, match="no node 'segmentation_node' in edge_perception"):
        load_node_config(path, node='segmentation_node')
    with pytest.raises(ConfigError, match='configures classifier_node but sets depth_scale'):
        load_node_config(REPO / 'config' / 'depth.yaml', node='classifier_node')
    both = tmp_path / 'both.yaml'
    both.write_text('depth_node:\n  ros__parameters: {}\nclassifier_node:\n'
                    '  ros__parameters:\n    top_k: 2\n')
    assert read_parameters(both, node='classifier_node') == {'top_k': 2}
    with pytest.raises(ConfigError, match='name the node'):
        read_parameters(both)


def test_a_leading_slash_on_the_node_name_is_accepted_and_bad_overrides_refused(tmp_path):
    path = tmp_path / 'params.yaml'
    path.write_text('/classifier_node:\n  ros__parameters:\n    top_k: 3\n')
    assert load_node_config(path).kind.name == 'classifier_node'
    with pytest.raises(ConfigError, match="'top_k' is not name=value"):
        load_node_config(path, ['top_k'])
    with pytest.raises(ConfigError, match='is not name=value'):
        load_node_config(path, ['=3'])
    with pytest.raises(ConfigError, match='cannot read parameter file'):
        load_node_config(tmp_path / 'missing.yaml')


def test_params_file_round_trips(tmp_path):
    config = load_node_config(REPO / 'config' / 'depth.yaml',
                              ['min_depth=0.5', 'mean=[123.675, 116.28, 103.53]'])
    write_params_file(config, tmp_path / 'depth_node.yaml')
    again = load_node_config(tmp_path / 'depth_node.yaml')
    assert again.kind is config.kind and again.parameters == config.parameters
    text = (tmp_path / 'depth_node.yaml').read_text()
    assert list(yaml.safe_load(text)) == ['/**']
    assert '    mean: [123.675, 116.28, 103.53]\n' in text and '    min_depth: 0.5\n' in text
