"""Which node a parameter file configures, and with what: YAML in, node kind and parameters out.

A parameter file is laid out as ``config/depth.yaml``: ``/**`` as the top-level key, so that the
parameters reach the node whatever its namespace and name, ``ros__parameters`` under it. Keys
that name the node (``depth_node``, ``/depth_node``, ``/**/depth_node``) are read too, as rcl
reads them for a node started without a namespace, as the tools start it; sections that apply
are merged in file order. The node kind picks the node class, its command and the topics it
subscribes to and publishes; it is the node named by the caller (``--node``), else the one the
file's keys name, else the one whose own parameters (``depth_scale``..., ``top_k``...) the file
sets. The parameters become parameter overrides (node in the same process) or a
``--params-file`` (node in a child process). No rclpy here.
"""

from dataclasses import dataclass, field
from pathlib import Path
import re

import yaml

from edge_perception.bags.types import (
    CLASSIFICATION_TYPE,
    IMAGE_TYPE,
    INFERENCE_TIMING_TYPE,
    POINT_CLOUD_TYPE,
)
from edge_perception.nodes.parameter_tables import HEAD_PARAMETERS

PARAMETERS_KEY = 'ros__parameters'
WILDCARD_KEY = '/**'
TIMING_TOPIC = 'inference_timing'


class ConfigError(ValueError):
    """A parameter file or override that cannot be used."""


@dataclass(frozen=True)
class NodeKind:
    """One of the package's nodes, as the replay tools need to know it.

    :param name: node name, as the node names itself, and the installed command.
    :param node_class: ``module:Class`` of the node.
    :param inputs: topics the node subscribes to (relative names).
    :param outputs: ``{topic: message type}`` of what it publishes (relative names).
    :param result_topic: the output scored against ground truth and golden outputs.
    :param result: what ``result_topic`` carries: ``depth`` or ``classification``.
    :param head_parameters: names of the parameters only this node declares (its head's, from
        :data:`~edge_perception.nodes.parameter_tables.HEAD_PARAMETERS`). They tell which node
        a file keyed ``/**`` configures.
    """

    name: str
    node_class: str
    inputs: tuple
    outputs: dict = field(hash=False)
    result_topic: str
    result: str
    head_parameters: tuple


def _head_parameter_names(node_name):
    return tuple(spec.name for spec in HEAD_PARAMETERS[node_name])


NODE_KINDS = {
    'depth_node': NodeKind(
        'depth_node', 'edge_perception.nodes.depth_node:DepthNode', ('image', 'camera_info'),
        {'depth': IMAGE_TYPE, 'points': POINT_CLOUD_TYPE, TIMING_TOPIC: INFERENCE_TIMING_TYPE},
        'depth', 'depth', _head_parameter_names('depth_node')),
    'classifier_node': NodeKind(
        'classifier_node', 'edge_perception.nodes.classifier_node:ClassifierNode', ('image',),
        {'classification': CLASSIFICATION_TYPE, TIMING_TOPIC: INFERENCE_TIMING_TYPE},
        'classification', 'classification', _head_parameter_names('classifier_node')),
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


def load_node_config(path, overrides=(), node=None):
    """Read a parameter file and apply ``name=value`` overrides.

    :param path: ROS 2 parameter file (keyed ``/**``, ``/**/<node>`` or ``<node>``).
    :param overrides: ``name=value`` strings; values are parsed as YAML, as ``-p name:=value``
        parses them.
    :param node: name of the node the file configures (a key of :data:`NODE_KINDS`); None: the
        node the file's keys name, else the one whose own parameters it sets.
    :raises ConfigError: when the file is unreadable or malformed, configures none of the
        nodes, sets parameters of another node than ``node``, or cannot tell which node it
        configures; or when an override is not ``name=value``.
    """
    sections = _read_sections(path)
    override_values = dict(parse_override(text) for text in overrides)
    if node is not None:
        kind = node_kind(node)
    else:
        kind = _named_kind(sections, path) or _inferred_kind(sections, override_values, path)
    parameters = _parameters_for(sections, kind, path)
    parameters.update(override_values)
    foreign = [name for other in NODE_KINDS.values() if other is not kind
               for name in other.head_parameters if name in parameters]
    if foreign:
        raise ConfigError(f"parameter file '{path}' configures {kind.name} but sets "
                          f"{', '.join(foreign)}, which {kind.name} does not declare")
    source = str(path) + ''.join(f' --param {text}' for text in overrides)
    return NodeConfig(kind, parameters, source)


def read_parameters(path, node=None):
    """Return ``{name: value}`` a parameter file gives a node, whichever node that is.

    For tools that only need values (e.g. the normalisation), not the node kind.

    :param path: ROS 2 parameter file.
    :param node: name of the node; None: the node the file's keys name, else any of them.
    :raises ConfigError: as :func:`load_node_config`, and when the file names both nodes and
        ``node`` is None.
    """
    sections = _read_sections(path)
    kind = node_kind(node) if node is not None else _named_kind(sections, path)
    return _parameters_for(sections, kind, path) if kind is not None else _merged(sections)


def node_kind(name):
    """Return the :class:`NodeKind` called ``name``.

    :raises ConfigError: when the package has no such node.
    """
    if name not in NODE_KINDS:
        raise ConfigError(f"no node '{name}' in edge_perception; one of {', '.join(NODE_KINDS)}")
    return NODE_KINDS[name]


@dataclass(frozen=True)
class _Section:
    key: str
    nodes: frozenset  # names of the NODE_KINDS the key matches
    parameters: dict


def _read_sections(path):
    """Return the file's sections that apply to one of the nodes, in file order."""
    try:
        document = yaml.safe_load(Path(path).read_text())
    except (OSError, yaml.YAMLError) as error:
        raise ConfigError(f"cannot read parameter file '{path}': {yaml_reason(error)}"
                          ) from error
    if not isinstance(document, dict):
        raise ConfigError(f"parameter file '{path}' is not a mapping of node name to "
                          f"'{PARAMETERS_KEY}'")
    sections = []
    for key, section in document.items():
        nodes = frozenset(name for name in NODE_KINDS if node_key_matches(str(key), name))
        if not nodes:
            continue
        parameters = section.get(PARAMETERS_KEY) if isinstance(section, dict) else None
        if not isinstance(parameters, dict):
            raise ConfigError(f"'{key}' in '{path}' has no '{PARAMETERS_KEY}' mapping")
        sections.append(_Section(str(key), nodes, parameters))
    if not sections:
        keys = ', '.join(map(str, document)) or 'none'
        raise ConfigError(
            f"parameter file '{path}' configures none of {', '.join(NODE_KINDS)} (top-level "
            f"keys: {keys}; expected '{WILDCARD_KEY}', '{WILDCARD_KEY}/<node>' or '<node>')")
    return sections


def node_key_matches(key, node_name):
    """Return whether a parameter file's top-level key applies to ``/<node_name>``.

    As rcl matches it: a key without a leading ``/`` is absolute all the same, ``*`` stands
    for one name token and ``**`` for any number of them. The node is the one the tools start:
    named ``node_name``, in no namespace.
    """
    tokens = key.strip('/').split('/')
    pattern = ''.join('(/[^/]+)*' if token == '**' else '/[^/]+' if token == '*'
                      else '/' + re.escape(token) for token in tokens)
    return re.fullmatch(pattern, f'/{node_name}') is not None


def _named_kind(sections, path):
    """Return the node the file's keys name (not only wildcards), or None."""
    named = sorted({name for section in sections if len(section.nodes) == 1
                    for name in section.nodes})
    if len(named) > 1:
        raise ConfigError(f"parameter file '{path}' configures {' and '.join(named)}: name "
                          'the node to run (--node)')
    return NODE_KINDS[named[0]] if named else None


def _inferred_kind(sections, overrides, path):
    """Return the node whose own parameters the file (or an override) sets."""
    names = {**_merged(sections), **overrides}
    kinds = [kind for kind in NODE_KINDS.values()
             if any(name in names for name in kind.head_parameters)]
    if len(kinds) == 1:
        return kinds[0]
    found = 'parameters of more than one' if kinds else 'no parameter of only one'
    heads = '; '.join(f"{kind.name}: {', '.join(kind.head_parameters)}"
                      for kind in NODE_KINDS.values())
    raise ConfigError(f"cannot tell which node parameter file '{path}' configures: it sets "
                      f'{found} of them ({heads}); name the node (--node '
                      f"{' or --node '.join(NODE_KINDS)})")


def _parameters_for(sections, kind, path):
    applying = [section for section in sections if kind.name in section.nodes]
    if not applying:
        raise ConfigError(f"parameter file '{path}' configures no {kind.name} (its keys: "
                          f"{', '.join(section.key for section in sections)})")
    return _merged(applying)


def _merged(sections):
    parameters = {}
    for section in sections:
        parameters.update(section.parameters)
    return parameters


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
        raise ConfigError(f"parameter override '{text}': {yaml_reason(error)}") from error
    return name, '' if parsed is None else parsed


def yaml_reason(error):
    """Return a YAML (or file) error in one line: the problem and where it is."""
    mark = getattr(error, 'problem_mark', None)
    if getattr(error, 'problem', None) and mark is not None:
        return f'{error.problem} (line {mark.line + 1}, column {mark.column + 1})'
    text = str(error).strip()
    return text.splitlines()[0] if text else type(error).__name__


def write_params_file(config, path):
    """Write the config's parameters as a ROS 2 parameter file for ``--params-file``.

    Keyed ``/**``, as the shipped files: the node gets them whatever its namespace and name.

    :param config: the :class:`NodeConfig`.
    :param path: file to write.
    """
    document = {WILDCARD_KEY: {PARAMETERS_KEY: config.parameters}}
    Path(path).write_text(yaml.dump(document, Dumper=_ParameterFileDumper, sort_keys=False))


class _ParameterFileDumper(yaml.SafeDumper):
    """Block style for mappings, flow style for lists, as the shipped files are written:
    ``mean: [123.675, 116.28, 103.53]``.
    """


_ParameterFileDumper.add_representer(list, lambda dumper, values: dumper.represent_sequence(
    'tag:yaml.org,2002:seq', values, flow_style=True))
