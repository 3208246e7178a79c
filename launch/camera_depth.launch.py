"""Camera to depth on one robot or laptop: camera_node, depth_node (or classifier_node) wired
to it and, with monitor:=true, monitor_node's web page, in one namespace, one parameter file
per node.

ros2 launch edge_perception camera_depth.launch.py video:=clip.mp4 monitor:=true
ros2 launch edge_perception camera_depth.launch.py device:=/dev/video0 \
    calibration:=/path/to/camera.yaml namespace:=robot1 params_file:=/path/to/depth.yaml
`--show-args` lists the arguments. Their defaults and descriptions, and every decision made
from their values, live in edge_perception/nodes/launch_settings.py (bringup_settings), which
is tested; this file only hands them to launch and launch_ros.
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
          for argument in launch_settings.BRINGUP_ARGUMENTS),
        OpaqueFunction(function=start_nodes),
    ])


def start_nodes(context):
    """Start the nodes as the launch arguments' values say (launch_settings.bringup_settings)."""
    bringup = launch_settings.bringup_settings(context.launch_configurations)
    return [
        *(SetEnvironmentVariable(name, value) for name, value in bringup.environment.items()),
        *(Node(package=settings.package, executable=settings.executable, name=settings.name,
               namespace=settings.namespace, output='screen',
               parameters=[ParameterFile(settings.params_file, allow_substs=True),
                           settings.parameters],
               remappings=list(settings.remappings),
               ros_arguments=list(settings.ros_arguments))
          for settings in bringup.nodes),
    ]
