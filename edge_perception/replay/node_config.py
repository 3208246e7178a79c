"""Which node a parameter file configures, and with what: YAML in, node kind and parameters out.

A parameter file is laid out as ``config/depth.yaml``: the node name as the one top-level key
(``depth_node`` or ``classifier_node``), ``ros__parameters`` under it. The node name picks the
node class, its command and the topics it subscribes to and publishes; the parameters become
parameter overrides (node in the same process) or a ``--params-file`` (node in a child
process). No rclpy here.
"""

from dataclasses import dataclass, field
from pathlib import Path

import yaml

from edge_perception.bags.types import (
    CLASSIFICATION_TYPE,
    IMAGE_TYPE,
    INFERENCE_TIMING_TYPE,
    POINT_CLOUD_TYPE,
)

PARAMETERS_KEY = 'ros__parameters'
TIMING_TOPIC = 'inference_timing'


class ConfigError(ValueError):
    """A parameter file or override that cannot be used."""


@dataclass(frozen=True)
class NodeKind:
    """One of the package's nodes, as the replay tools need to know it.

    :param name: node name, the parameter file's top-level key, and the installed command.
    :param node_class: ``module:Class`` of the node.
    :param inputs: topics the node subscribes to (relative names).
    :param outputs: ``{topic: message type}`` of what it publishes (relative names).
    :param result_topic: the output scored against ground truth and golden outputs.
    :param result: what ``result_topic`` carries: ``depth`` or ``classification``.
    """

    name: str
    node_class: str
    inputs: tuple
    outputs: dict = field(hash=False)
    result_topic: str
    result: str


NODE_KINDS = {
    'depth_node': NodeKind(
        'depth_node', 'edge_perception.nodes.depth_node:DepthNode', ('image', 'camera_info'),
        {'depth': IMAGE_TYPE, 'points': POINT_CLOUD_TYPE, TIMING_TOPIC: INFERENCE_TIMING_TYPE},
        'depth', 'depth'),
    'classifier_node': NodeKind(
        'classifier_node', 'edge_perception.nodes.classifier_node:ClassifierNode', ('image',),
        {'classification': CLASSIFICATION_TYPE, TIMING_TOPIC: INFERENCE_TIMING_TYPE},
        'classification', 'classification'),
}


@dataclass(frozen=True)
class NodeConfig:
    """A node kind with the parameters to start it with.

    :param kind: the :class:`NodeKind`.
    :param parameters: ``{name: value}``, the file's values with overrides applied.
    :param source: where the parameters came from (for messages).
    """

    kind: NodeKind
    parameters: dict = field(hash=False)
    source: str


def load_node_config(path, overrides=()):
    """Read a parameter file and apply ``name=value`` overrides.

    :param path: YAML parameter file keyed by node name.
    :param overrides: ``name=value`` strings; values are parsed as YAML, as ``-p name:=value``
        parses them.
    :raises ConfigError: when the file is unreadable, names no known node or is malformed,
        or an override is not ``name=value``.
    """
    try:
        document = yaml.safe_load(Path(path).read_text())
    except (OSError, yaml.YAMLError) as error:
        raise ConfigError(f"cannot read parameter file '{path}': {error}") from error
    if not isinstance(document, dict):
        raise ConfigError(f"parameter file '{path}' is not a mapping of node name to "
                          f"'{PARAMETERS_KEY}'")
    names = [key for key in document if str(key).lstrip('/') in NODE_KINDS]
    if len(names) != 1:
        raise ConfigError(
            f"parameter file '{path}' must configure exactly one of {', '.join(NODE_KINDS)} "
            f"(top-level keys: {', '.join(map(str, document)) or 'none'})")
    section = document[names[0]]
    parameters = section.get(PARAMETERS_KEY) if isinstance(section, dict) else None
    if not isinstance(parameters, dict):
        raise ConfigError(f"'{names[0]}' in '{path}' has no '{PARAMETERS_KEY}' mapping")
    parameters = dict(parameters)
    parameters.update(parse_override(text) for text in overrides)
    source = str(path) + ''.join(f' --param {text}' for text in overrides)
    return NodeConfig(NODE_KINDS[names[0].lstrip('/')], parameters, source)


def parse_override(text):
    """Split ``name=value`` into ``(name, value)``, the value parsed as YAML ('' when empty).

    :raises ConfigError: when there is no ``=`` or no name.
    """
    name, separator, value = text.partition('=')
    name = name.strip()
    if not separator or not name:
        raise ConfigError(f"parameter override '{text}' is not name=value")
    try:
        parsed = yaml.safe_load(value)
    except yaml.YAMLError as error:
        raise ConfigError(f"parameter override '{text}': {error}") from error
    return name, '' if parsed is None else parsed


def write_params_file(config, path):
    """Write the config's parameters as a ROS 2 parameter file for ``--params-file``.

    :param config: the :class:`NodeConfig`.
    :param path: file to write.
    """
    document = {config.kind.name: {PARAMETERS_KEY: config.parameters}}
    Path(path).write_text(yaml.dump(document, Dumper=_ParameterFileDumper, sort_keys=False))


class _ParameterFileDumper(yaml.SafeDumper):
    """Block style for mappings, flow style for lists, as the shipped files are written:
    ``mean: [123.675, 116.28, 103.53]``.
    """


_ParameterFileDumper.add_representer(list, lambda dumper, values: dumper.represent_sequence(
    'tag:yaml.org,2002:seq', values, flow_style=True))
