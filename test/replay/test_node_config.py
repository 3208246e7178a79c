"""Parameter files -> node kind and parameters, for replay and regress."""

from pathlib import Path

import pytest
import yaml

from edge_perception.replay.node_config import (
    ConfigError,
    load_node_config,
    NODE_KINDS,
    parse_override,
    write_params_file,
)

REPO = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize('name', ['depth', 'classifier'])
def test_shipped_parameter_files_pick_their_node_and_keep_every_value(name):
    config = load_node_config(REPO / 'config' / f'{name}.yaml')
    assert config.kind is NODE_KINDS[f'{name}_node']
    document = yaml.safe_load((REPO / 'config' / f'{name}.yaml').read_text())
    assert config.parameters == document[f'{name}_node']['ros__parameters']


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
    ('camera:\n  ros__parameters: {}\n', 'exactly one of depth_node, classifier_node'),
    ('depth_node:\n  ros__parameters: {}\nclassifier_node:\n  ros__parameters: {}\n',
     'exactly one of'),
    ('depth_node:\n  model: x\n', "has no 'ros__parameters' mapping"),
    ('- a list\n', 'is not a mapping'),
    ('depth_node: [unclosed\n', 'cannot read parameter file'),
])
def test_malformed_parameter_files_are_refused_with_the_reason(tmp_path, text, message):
    path = tmp_path / 'params.yaml'
    path.write_text(text)
    with pytest.raises(ConfigError, match=message):
        load_node_config(path)


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
    assert '    mean: [123.675, 116.28, 103.53]\n' in text and '    min_depth: 0.5\n' in text
