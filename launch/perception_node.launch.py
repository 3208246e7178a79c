"""One edge_perception node, depth_node or classifier_node, with its parameter file and topics.

Included by depth.launch.py and classifier.launch.py, which set `node` (not declared here, so
that their `--show-args` does not offer what they set); usable alone with node given:
ros2 launch edge_perception perception_node.launch.py node:=classifier_node \
    namespace:=robot1 image:=/camera/image_raw params_file:=/path/to/classifier.yaml
The arguments, their defaults and descriptions (`--show-args` lists them), and every decision
made from their values live in edge_perception/nodes/launch_settings.py, which is tested; this
file only hands them to launch and launch_ros.
"""

from launch.actions import DeclareLaunchArgument, OpaqueFunction, SetEnvironmentVariable
from launch_ros.actions import Node
from launch_ros.descriptions import ParameterFile

from edge_perception.nodes import launch_settings
from launch import LaunchDescription


def generate_launch_description():
    return LaunchDescription([
        *(DeclareLaunchArgument(argument.name, default_value=argument.default,
                                description=argument.description,
                                choices=list(argument.choices) or None)
          for argument in launch_settings.ARGUMENTS),
        OpaqueFunction(function=start_node),
    ])


def start_node(context):
    """Start the node as the launch arguments' values say (launch_settings.node_settings)."""
    settings = launch_settings.node_settings(context.launch_configurations)
    return [
        *(SetEnvironmentVariable(name, value) for name, value in settings.environment.items()),
        Node(package=settings.package, executable=settings.executable, name=settings.name,
             namespace=settings.namespace, output='screen',
             parameters=[ParameterFile(settings.params_file, allow_substs=True),
                         settings.parameters],
             remappings=list(settings.remappings),
             ros_arguments=list(settings.ros_arguments)),
    ]
