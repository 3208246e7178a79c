"""Parameter files, launch files and package metadata agree with the code."""

import ast
import dataclasses
from pathlib import Path
import re

import pytest
import yaml

from edge_perception.monitor.node import MONITOR_PARAMETERS
from edge_perception.nodes import camera_node, classifier_node, depth_node, launch_settings
from edge_perception.nodes.parameter_tables import model_parameters
from edge_perception.nodes.parameters import parameter_descriptor
from edge_perception.replay.node_config import NODE_KINDS

REPO = Path(__file__).resolve().parents[2]


HEADS = {
    'depth_node': model_parameters('bundled.xml') + depth_node.DEPTH_PARAMETERS,
    'classifier_node': model_parameters('bundled.xml') + classifier_node.CLASSIFIER_PARAMETERS,
}
# Every node with a parameter file; the heads are also driven by the replay tools.
NODES = {**HEADS, 'camera_node': camera_node.CAMERA_PARAMETERS,
         'monitor_node': MONITOR_PARAMETERS}


@pytest.mark.parametrize('node_name', NODES)
def test_yaml_holds_every_declared_parameter_with_its_default(node_name):
    specs = NODES[node_name]
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


@pytest.mark.parametrize('node_name', NODES)
def test_every_parameter_has_a_description_and_constraints_where_it_has_choices(node_name):
    for spec in NODES[node_name]:
        descriptor = parameter_descriptor(spec)
        assert len(descriptor.description) > 20, spec.name
        if spec.choices:
            assert descriptor.additional_constraints.startswith('Must be one of:')


@pytest.mark.parametrize('node_name', HEADS)
def test_the_replay_tools_know_each_head_by_the_parameters_it_declares(node_name):
    common = {spec.name for spec in model_parameters('bundled.xml')}
    head = [spec.name for spec in HEADS[node_name] if spec.name not in common]
    assert list(NODE_KINDS[node_name].head_parameters) == head


# The launch API the launch files may use: what each name is, and the keyword arguments and
# number of positional arguments used, present with the same meaning in the Humble (launch
# 1.0, launch_ros 0.19) and Jazzy (launch 3.4, launch_ros 0.26) documentation and sources.
LAUNCH_API = {
    'LaunchDescription': ('launch', 1, set()),
    'DeclareLaunchArgument': ('launch.actions', 1, {'default_value', 'description', 'choices'}),
    'OpaqueFunction': ('launch.actions', 0, {'function'}),
    'SetEnvironmentVariable': ('launch.actions', 2, set()),
    'IncludeLaunchDescription': ('launch.actions', 1, {'launch_arguments'}),
    'PythonLaunchDescriptionSource': ('launch.launch_description_sources', 1, set()),
    'Node': ('launch_ros.actions', 0, {'package', 'executable', 'name', 'namespace', 'output',
                                       'parameters', 'remappings', 'ros_arguments'}),
    'ParameterFile': ('launch_ros.descriptions', 1, {'allow_substs'}),
}
# What the launch files use of the settings module, and of the objects it returns.
SETTINGS_ATTRIBUTES = {
    'launch_settings': set(dir(launch_settings)),
    'argument': {field.name for field in dataclasses.fields(launch_settings.LaunchArgument)},
    'settings': {field.name for field in dataclasses.fields(launch_settings.NodeSettings)},
    'bringup': {field.name for field in dataclasses.fields(launch_settings.Bringup)},
    'context': {'launch_configurations'},
}


@pytest.mark.parametrize('launch_file', sorted((REPO / 'launch').glob('*.launch.py')),
                         ids=lambda path: path.name)
def test_launch_files_use_only_the_documented_api_and_the_tested_settings(launch_file):
    # Where launch cannot run (it is on no package registry; test/launch/ runs the files where
    # it is installed), what they may do is checked on their syntax tree, and what they decide
    # is tested in test_launch_settings.py.
    tree = ast.parse(launch_file.read_text())
    imported = {}
    for statement in tree.body:
        if isinstance(statement, ast.ImportFrom):
            imported.update((alias.name, statement.module) for alias in statement.names)
        else:
            assert isinstance(statement, ast.FunctionDef) or (
                isinstance(statement, ast.Expr) and isinstance(statement.value, ast.Constant)), \
                f'{launch_file.name}:{statement.lineno} does more than import and define'
    assert imported.pop('launch_settings') == 'edge_perception.nodes'
    assert {name: LAUNCH_API[name][0] for name in imported} == imported
    functions = {node.name: node for node in tree.body if isinstance(node, ast.FunctionDef)}
    assert 'generate_launch_description' in functions
    assert not functions['generate_launch_description'].args.args
    for call in (node for node in ast.walk(tree) if isinstance(node, ast.Call)):
        name = getattr(call.func, 'id', None)
        if name in LAUNCH_API:
            _, positional, keywords = LAUNCH_API[name]
            assert len(call.args) <= positional, ast.unparse(call)
            assert {keyword.arg for keyword in call.keywords} <= keywords, ast.unparse(call)
        else:
            assert name in (None, 'list'), f'{name}() in {launch_file.name}'
    for attribute in (node for node in ast.walk(tree) if isinstance(node, ast.Attribute)):
        owner = getattr(attribute.value, 'id', None)
        if owner in SETTINGS_ATTRIBUTES:
            assert attribute.attr in SETTINGS_ATTRIBUTES[owner], ast.unparse(attribute)
    names = {node.id for node in ast.walk(tree) if isinstance(node, ast.Name)}
    assert not names & {'eval', 'exec', 'open', 'os', 'subprocess', 'sys', '__import__'}
    for function in functions.values():
        if function.name != 'generate_launch_description':
            assert [argument.arg for argument in function.args.args] == ['context'], \
                f'{function.name}: an OpaqueFunction takes the launch context'


def test_every_node_has_a_launch_file_that_includes_the_one_that_starts_it():
    nodes = {}
    for launch_file in (REPO / 'launch').glob('*.launch.py'):
        tree = ast.parse(launch_file.read_text())
        for call in (node for node in ast.walk(tree) if isinstance(node, ast.Call)):
            if getattr(call.func, 'id', None) == 'IncludeLaunchDescription':
                arguments = ast.literal_eval(next(
                    keyword.value.func.value for keyword in call.keywords
                    if keyword.arg == 'launch_arguments'))
                nodes[arguments['node']] = launch_file.name
    assert sorted(nodes) == sorted(launch_settings.NODES)
    assert set(nodes.values()) == {f"{node.removesuffix('_node')}.launch.py" for node in nodes}
    assert (REPO / 'launch' / launch_settings.PERCEPTION_LAUNCH_FILE).is_file()


def test_package_version_has_one_source():
    package_xml = (REPO / 'package.xml').read_text()
    versions = re.findall(r'<version>([^<]+)</version>', package_xml)
    assert len(versions) == 1
    assert not (REPO / 'setup.py').exists()
