"""Parameter files, launch files and package metadata agree with the code."""

import ast
from pathlib import Path
import re

import pytest
import yaml

from edge_perception.nodes import classifier_node, depth_node
from edge_perception.nodes.inference_node import model_parameters
from edge_perception.replay.node_config import NODE_KINDS

REPO = Path(__file__).resolve().parents[2]


HEADS = {
    'depth_node': model_parameters('bundled.xml') + depth_node.DEPTH_PARAMETERS,
    'classifier_node': model_parameters('bundled.xml') + classifier_node.CLASSIFIER_PARAMETERS,
}


@pytest.mark.parametrize('node_name', HEADS)
def test_yaml_holds_every_declared_parameter_with_its_default(node_name):
    specs = HEADS[node_name]
    config_file = REPO / 'config' / f"{node_name.removesuffix('_node')}.yaml"
    text = config_file.read_text()
    values = yaml.safe_load(text)['/**']['ros__parameters']
    # rcl cannot type an empty list, so unset arrays appear as a commented example.
    unset_arrays = [spec.name for spec in specs if spec.is_unset_array]
    for name in unset_arrays:
        assert re.search(rf'^ +# {name}: \[.+\]$', text, re.MULTILINE), name
    assert list(values) == [spec.name for spec in specs if spec.name not in unset_arrays]
    for spec in specs:
        if spec.name in unset_arrays:
            continue
        assert values[spec.name] == spec.default, spec.name
        assert type(values[spec.name]) is type(spec.default), spec.name


@pytest.mark.parametrize('node_name', HEADS)
def test_every_parameter_has_a_description_and_constraints_where_it_has_choices(node_name):
    for spec in HEADS[node_name]:
        descriptor = spec.descriptor()
        assert len(descriptor.description) > 20, spec.name
        if spec.choices:
            assert descriptor.additional_constraints.startswith('Must be one of:')


@pytest.mark.parametrize('node_name', HEADS)
def test_the_replay_tools_know_each_head_by_the_parameters_it_declares(node_name):
    common = {spec.name for spec in model_parameters('bundled.xml')}
    head = [spec.name for spec in HEADS[node_name] if spec.name not in common]
    assert list(NODE_KINDS[node_name].head_parameters) == head


def test_launch_files_declare_documented_arguments_and_use_the_parameter_file():
    for launch_file in (REPO / 'launch').glob('*.launch.py'):
        tree = ast.parse(launch_file.read_text())
        calls = [node for node in ast.walk(tree) if isinstance(node, ast.Call)]
        declared = [call for call in calls
                    if getattr(call.func, 'id', '') == 'DeclareLaunchArgument']
        assert declared, launch_file
        for call in declared:
            keywords = {keyword.arg for keyword in call.keywords}
            assert {'default_value', 'description'} <= keywords, ast.dump(call)
        names = {name.id for name in ast.walk(tree) if isinstance(name, ast.Name)}
        strings = {node.value for node in ast.walk(tree) if isinstance(node, ast.Constant)}
        assert 'ParameterFile' in names or 'perception_node.launch.py' in strings
        assert 'generate_launch_description' in {
            node.name for node in tree.body if isinstance(node, ast.FunctionDef)}
        assert 'subprocess' not in names and 'eval' not in names
        for yaml_name in {'depth.yaml', 'classifier.yaml'} & strings:
            assert (REPO / 'config' / yaml_name).is_file()


def test_package_version_has_one_source():
    package_xml = (REPO / 'package.xml').read_text()
    versions = re.findall(r'<version>([^<]+)</version>', package_xml)
    assert len(versions) == 1
    assert not (REPO / 'setup.py').exists()
