"""Parameter files, launch files and package metadata agree with the code."""

import ast
from pathlib import Path
import re
import subprocess
import sys

import yaml

from edge_perception.depth_node import DEPTH_PARAMETERS, IMAGENET_MEAN, IMAGENET_SCALE
from edge_perception.inference_node import model_parameters

REPO = Path(__file__).resolve().parents[1]


def test_depth_yaml_holds_every_declared_parameter_with_its_default():
    specs = model_parameters('bundled.xml', IMAGENET_MEAN, IMAGENET_SCALE) + DEPTH_PARAMETERS
    config = yaml.safe_load((REPO / 'config' / 'depth.yaml').read_text())
    values = config['depth_node']['ros__parameters']
    assert list(values) == [spec.name for spec in specs]
    for spec in specs:
        assert values[spec.name] == spec.default, spec.name
        assert type(values[spec.name]) is type(spec.default), spec.name


def test_every_parameter_has_a_description_and_constraints_where_it_has_choices():
    for spec in model_parameters('bundled.xml', IMAGENET_MEAN, IMAGENET_SCALE) + \
            DEPTH_PARAMETERS:
        descriptor = spec.descriptor()
        assert len(descriptor.description) > 20, spec.name
        if spec.choices:
            assert descriptor.additional_constraints.startswith('Must be one of:')


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
        assert 'ParameterFile' in names and 'generate_launch_description' in {
            node.name for node in tree.body if isinstance(node, ast.FunctionDef)}
        assert 'subprocess' not in names and 'eval' not in names


def test_package_version_has_one_source():
    package_xml = (REPO / 'package.xml').read_text()
    versions = re.findall(r'<version>([^<]+)</version>', package_xml)
    assert len(versions) == 1
    assert not (REPO / 'setup.py').exists()


def test_ruff_linters_pass():
    result = subprocess.run([sys.executable, '-m', 'ruff', 'check', str(REPO)],
                            capture_output=True, text=True, cwd=REPO)
    assert result.returncode == 0, result.stdout + result.stderr


def test_core_modules_do_not_import_rclpy():
    core = ['openvino_compat', 'image_codec', 'preprocessing', 'engine', 'pipeline',
            'depth_geometry', 'pointcloud_layout', 'rate_meter', 'dds_profile',
            'package_paths', 'visualisation', 'metrics']
    for module in core:
        source = (REPO / 'edge_perception' / f'{module}.py').read_text()
        imported = {alias.name.split('.')[0] for node in ast.walk(ast.parse(source))
                    if isinstance(node, (ast.Import, ast.ImportFrom))
                    for alias in (node.names if isinstance(node, ast.Import) else
                                  [ast.alias(node.module or '')])}
        assert not imported & {'rclpy', 'sensor_msgs', 'std_msgs'}, module
