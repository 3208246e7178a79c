"""What the launch files decide, in Python that is tested where ``launch`` cannot run.

``launch/perception_node.launch.py`` declares :data:`ARGUMENTS` and, once they have values,
starts the node :func:`node_settings` describes; ``depth.launch.py`` and
``classifier.launch.py`` include it with ``node`` set. ``launch/camera_depth.launch.py``
declares :data:`BRINGUP_ARGUMENTS` and starts the nodes :func:`bringup_settings` describes:
camera_node, the perception node wired to it and, on request, monitor_node, in one namespace.
The launch files only hand these settings to ``launch``/``launch_ros``. Neither ``launch`` nor
``rclpy`` is imported here.
"""

from dataclasses import dataclass
import os
from pathlib import Path

from edge_perception.nodes.dds_profile import (
    configured_profile,
    PROFILE_FILE,
    PROFILE_VARIABLE,
    profile_variable,
)
from edge_perception.package_paths import PACKAGE_NAME, shared_file

# The parameter file each node starts with unless params_file names another.
PARAMS_FILES = {
    'depth_node': ('config', 'depth.yaml'),
    'classifier_node': ('config', 'classifier.yaml'),
}
NODES = tuple(PARAMS_FILES)
# The node's relative subscriptions that launch arguments of the same name remap. With
# image_transport 'compressed' the node subscribes '<image>/compressed', which it derives from
# the resolved 'image' name (as image_transport does): remapping 'image' moves both.
REMAPPED_TOPICS = {
    'depth_node': ('image', 'camera_info'),
    'classifier_node': ('image',),
}
# Parameters a launch argument sets over the parameter file, only when the argument is given:
# an argument's default must never silently replace what the file says.
PARAMETER_ARGUMENTS = ('use_sim_time', 'autostart')
LOG_LEVELS = ('debug', 'info', 'warn', 'error', 'fatal')
PERCEPTION_LAUNCH_FILE = 'perception_node.launch.py'
# The bring-up's other nodes: their commands and parameter files.
CAMERA_NODE = ('camera_node', ('config', 'camera.yaml'))
MONITOR_NODE = ('monitor_node', ('config', 'monitor.yaml'))
# camera_node's frame sources; one at most is given as a launch argument.
CAMERA_SOURCES = ('device', 'video', 'images')


class LaunchSettingsError(ValueError):
    """A launch argument value the node cannot be started with."""


@dataclass(frozen=True)
class LaunchArgument:
    """One launch argument: ``DeclareLaunchArgument(name, default_value, description, choices)``.

    :param choices: the values allowed (checked by ``launch``); empty: any value.
    """

    name: str
    default: str
    description: str
    choices: tuple = ()


# Not declared by perception_node.launch.py: the file including it sets it (depth.launch.py,
# classifier.launch.py), so that their `--show-args` offers no argument they would override.
NODE_ARGUMENT = LaunchArgument('node', 'depth_node',
                               'Node to run: depth_node (depth image and cloud) or '
                               'classifier_node (top-k classes).', NODES)
ARGUMENTS = (
    LaunchArgument('namespace', '',
                   'Namespace of the node and of its relative topics (image, depth, points, '
                   'classification, ...); empty: none.'),
    LaunchArgument('node_name', '',
                   'Name of the node; empty: its own (depth_node or classifier_node). The '
                   'shipped parameter files are keyed /** and apply under any name.'),
    LaunchArgument('params_file', '',
                   "Parameter file keyed /** (model, device, ...); empty: the package's "
                   'config/depth.yaml or config/classifier.yaml, for the node.'),
    LaunchArgument('image', 'image',
                   'Camera image topic (sensor_msgs/Image); with the parameter image_transport '
                   'set to compressed the node subscribes <image>/compressed.'),
    LaunchArgument('camera_info', 'camera_info',
                   'Camera calibration topic (sensor_msgs/CameraInfo); depth_node only.'),
    LaunchArgument('use_sim_time', '',
                   'true: take time from /clock (bag replay); false: wall time; empty: the '
                   "parameter file's value (false if it has none)."),
    LaunchArgument('autostart', '',
                   'true: the node configures and activates itself; false: it waits for a '
                   "lifecycle manager; empty: the parameter file's value (true if it has none)."),
    LaunchArgument('log_level', 'info', 'Logging level of the node.', LOG_LEVELS),
    LaunchArgument('dds_profile', '',
                   f'Fast DDS XML profile ({PROFILE_VARIABLE}; FASTRTPS_DEFAULT_PROFILES_FILE '
                   'for Humble and Jazzy); empty: the one already set, '
                   "else the package's config/fastdds_large_messages.xml, which lets "
                   'camera-sized best-effort messages cross processes.'),
)


_PERCEPTION = {argument.name: argument for argument in ARGUMENTS}
BRINGUP_ARGUMENTS = (
    LaunchArgument('node', 'depth_node',
                   'Perception node wired to the camera: depth_node (depth image and cloud) or '
                   'classifier_node (top-k classes).', NODES),
    LaunchArgument('namespace', '',
                   'Namespace of every node and topic (image, camera_info, depth, points, '
                   '...); empty: none.'),
    LaunchArgument('device', '',
                   "V4L2 camera: /dev/videoN or its index N; empty: the camera parameter "
                   "file's. One of device, video and images."),
    LaunchArgument('video', '',
                   'Video file to play as the camera (MP4, MKV, AVI, MOV), e.g. a phone clip, '
                   'from its first frame once the perception node subscribes.'),
    LaunchArgument('images', '',
                   'Folder of images (PNG, JPEG, ...) to play in name order, from the first '
                   'once the perception node subscribes.'),
    LaunchArgument('calibration', '',
                   "Camera calibration in camera_calibration's YAML (a path or file:// URL), "
                   "scaled to the frames; empty: the camera parameter file's camera_info_url "
                   '(a pinhole model of hfov if that is empty too).'),
    LaunchArgument('camera_params_file', '',
                   "camera_node's parameter file keyed /**; empty: the package's "
                   'config/camera.yaml.'),
    LaunchArgument('params_file', '',
                   "The perception node's parameter file keyed /**; empty: the package's "
                   'config/depth.yaml or config/classifier.yaml, for the node.'),
    LaunchArgument('monitor', 'false',
                   "true: also start monitor_node, the web page of the camera and the node's "
                   'outputs (http://127.0.0.1:8080/ by default).', ('true', 'false')),
    LaunchArgument('monitor_params_file', '',
                   "monitor_node's parameter file keyed /** (host, port, ...); empty: the "
                   "package's config/monitor.yaml."),
    _PERCEPTION['autostart'],
    _PERCEPTION['log_level'],
    _PERCEPTION['dds_profile'],
)


@dataclass(frozen=True)
class NodeSettings:
    """What the launch file hands to ``launch_ros.actions.Node`` and to the environment.

    :param package: ``Node(package=)``.
    :param executable: ``Node(executable=)``: the node's installed command.
    :param name: ``Node(name=)``; None: the node's own.
    :param namespace: ``Node(namespace=)``; None: none (a namespace pushed by an including
        launch file still applies).
    :param params_file: ``ParameterFile(params_file)``, first of ``Node(parameters=)``.
    :param parameters: ``{name: value}`` set over the file, second of ``Node(parameters=)``.
    :param remappings: ``((from, to), ...)``, ``Node(remappings=)``.
    :param ros_arguments: ``Node(ros_arguments=)``, after ``--ros-args``.
    :param environment: ``{variable: value}``, one ``SetEnvironmentVariable`` each.
    """

    package: str
    executable: str
    name: str | None
    namespace: str | None
    params_file: str
    parameters: dict
    remappings: tuple
    ros_arguments: tuple
    environment: dict


def node_settings(configurations, environ=os.environ):
    """Decide how to start the node from the launch arguments' values.

    :param configurations: ``{argument: value}`` (strings), the launch context's
        ``launch_configurations``; arguments missing from it take their defaults.
    :param environ: the environment the launch runs in (for ``dds_profile``).
    :raises LaunchSettingsError: when a value is not one the node can start with: an unknown
        node or log level, a boolean that is neither true nor false, an empty topic, or a
        parameter file or DDS profile that does not exist (``launch_ros`` and Fast DDS would
        only warn and carry on without it).
    """
    arguments = (NODE_ARGUMENT, *ARGUMENTS)
    values = {argument.name: str(configurations.get(argument.name, argument.default))
              for argument in arguments}
    for argument in arguments:
        if argument.choices and values[argument.name] not in argument.choices:
            raise LaunchSettingsError(
                f"launch argument '{argument.name}' is '{values[argument.name]}'; must be one "
                f"of: {', '.join(argument.choices)}")
    node = values['node']
    return NodeSettings(
        package=PACKAGE_NAME,
        executable=node,
        name=values['node_name'] or node,
        namespace=values['namespace'] or None,
        params_file=_existing_file('params_file',
                                   values['params_file'] or shared_file(*PARAMS_FILES[node])),
        parameters={name: _boolean(name, values[name]) for name in PARAMETER_ARGUMENTS
                    if values[name] != ''},
        remappings=tuple((topic, _topic(topic, values[topic])) for topic in REMAPPED_TOPICS[node]
                         if values[topic] != topic),
        ros_arguments=('--log-level', values['log_level']),
        environment={profile_variable(environ): _existing_file(
            'dds_profile', values['dds_profile'] or configured_profile(environ)
            or shared_file(*PROFILE_FILE))},
    )


@dataclass(frozen=True)
class Bringup:
    """What camera_depth.launch.py starts.

    :param nodes: the :class:`NodeSettings` of camera_node, the perception node and, with
        ``monitor:=true``, monitor_node, in that order.
    :param environment: ``{variable: value}``, one ``SetEnvironmentVariable`` each, before them.
    """

    nodes: tuple
    environment: dict


def bringup_settings(configurations, environ=os.environ):
    """Decide how to start camera_node, the perception node and monitor_node.

    :param configurations: ``{argument: value}`` (strings) of :data:`BRINGUP_ARGUMENTS`;
        arguments missing from it take their defaults.
    :param environ: the environment the launch runs in (for ``dds_profile``).
    :raises LaunchSettingsError: when a value is one the nodes cannot start with: those
        :func:`node_settings` refuses, more than one camera source, a video, image folder,
        calibration or parameter file that does not exist, ``monitor`` neither true nor false.
    """
    values = {argument.name: str(configurations.get(argument.name, argument.default))
              for argument in BRINGUP_ARGUMENTS}
    perception = node_settings(
        {name: values[name] for name in ('node', 'namespace', 'params_file', 'autostart',
                                         'log_level', 'dds_profile')}, environ)
    sources = {name: values[name] for name in CAMERA_SOURCES if values[name]}
    if len(sources) > 1:
        raise LaunchSettingsError(
            f"launch arguments {' and '.join(sources)} are all given; give one camera source")
    if 'video' in sources:
        _existing_file('video', sources['video'])
    if 'images' in sources and not Path(sources['images']).is_dir():
        raise LaunchSettingsError(
            f"launch argument 'images': '{sources['images']}' is not a folder")
    camera_parameters = dict(sources)
    if values['calibration']:
        _existing_file('calibration', values['calibration'].removeprefix('file://'))
        camera_parameters['camera_info_url'] = values['calibration']
    if sources.keys() & {'video', 'images'}:
        # A clip is played from its first frame on, not into a node still loading its model.
        camera_parameters['wait_for_subscribers'] = 1
    camera = _helper_node(CAMERA_NODE, values['camera_params_file'], 'camera_params_file',
                          camera_parameters, perception)
    nodes = (camera, perception)
    if _boolean('monitor', values['monitor']):
        nodes += (_helper_node(MONITOR_NODE, values['monitor_params_file'],
                               'monitor_params_file', {}, perception),)
    return Bringup(nodes=nodes, environment=perception.environment)


def _helper_node(node, params_file, argument, parameters, perception):
    """Return the settings of camera_node or monitor_node beside ``perception``'s node."""
    executable, default_params_file = node
    # Not renamed: a name given to launch_ros renames every node of the process, and
    # monitor_node has a second one for its frame subscriptions.
    return NodeSettings(
        package=PACKAGE_NAME, executable=executable, name=None,
        namespace=perception.namespace,
        params_file=_existing_file(argument, params_file or shared_file(*default_params_file)),
        parameters=parameters, remappings=(), ros_arguments=perception.ros_arguments,
        environment=perception.environment)


def launch_file(name):
    """Return the path of one of the package's installed launch files."""
    return str(shared_file('launch', name))


def _boolean(name, text):
    if text.lower() in ('true', 'false'):
        return text.lower() == 'true'
    raise LaunchSettingsError(f"launch argument '{name}' is '{text}'; must be true or false "
                              "(or empty for the parameter file's value)")


def _topic(name, text):
    if not text:
        raise LaunchSettingsError(f"launch argument '{name}' is empty; give a topic name")
    return text


def _existing_file(name, path):
    if not Path(path).is_file():
        raise LaunchSettingsError(f"launch argument '{name}': '{path}' is not a file")
    return str(path)
