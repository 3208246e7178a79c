"""One edge_perception node with its parameter file, remappings and DDS profile.

Included by depth.launch.py and classifier.launch.py, which choose the node; usable alone:
ros2 launch edge_perception perception_node.launch.py node:=classifier_node \
    params_file:=/path/to/classifier.yaml image:=/camera/image_raw
"""

import os

from ament_index_python.packages import get_package_share_directory
from launch.actions import DeclareLaunchArgument, SetEnvironmentVariable
from launch.substitutions import EnvironmentVariable, LaunchConfiguration
from launch_ros.actions import Node
from launch_ros.descriptions import ParameterFile

from launch import LaunchDescription


def generate_launch_description():
    share = get_package_share_directory('edge_perception')

    node = LaunchConfiguration('node')
    namespace = LaunchConfiguration('namespace')
    params_file = LaunchConfiguration('params_file')
    use_sim_time = LaunchConfiguration('use_sim_time')
    log_level = LaunchConfiguration('log_level')
    image = LaunchConfiguration('image')
    camera_info = LaunchConfiguration('camera_info')
    dds_profile = LaunchConfiguration('dds_profile')

    arguments = [
        DeclareLaunchArgument('node', default_value='depth_node',
                              description='Node to run: depth_node or classifier_node'),
        DeclareLaunchArgument('namespace', default_value='',
                              description='Namespace of the node and its relative topics'),
        DeclareLaunchArgument('params_file',
                              default_value=os.path.join(share, 'config', 'depth.yaml'),
                              description='Parameter file keyed by node name (model, device, '
                                          '...)'),
        DeclareLaunchArgument('use_sim_time', default_value='false',
                              description='Use the /clock topic (bag replay) instead of wall time'),
        DeclareLaunchArgument('log_level', default_value='info',
                              description='Logging level: debug, info, warn, error, fatal'),
        DeclareLaunchArgument('image', default_value='image',
                              description='Camera image topic (sensor_msgs/Image)'),
        DeclareLaunchArgument('camera_info', default_value='camera_info',
                              description='Camera calibration topic (sensor_msgs/CameraInfo); '
                                          'used by depth_node'),
        DeclareLaunchArgument(
            'dds_profile',
            default_value=EnvironmentVariable(
                'FASTDDS_DEFAULT_PROFILES_FILE',
                default_value=os.path.join(share, 'config', 'fastdds_large_messages.xml')),
            description='Fast DDS XML profile; the default lets camera-sized best-effort '
                        'messages cross processes'),
    ]

    perception_node = Node(
        package='edge_perception',
        executable=node,
        name=node,
        namespace=namespace,
        output='screen',
        parameters=[ParameterFile(params_file, allow_substs=True),
                    {'use_sim_time': use_sim_time}],
        remappings=[('image', image), ('camera_info', camera_info)],
        arguments=['--ros-args', '--log-level', log_level],
    )

    return LaunchDescription(arguments + [
        SetEnvironmentVariable('FASTDDS_DEFAULT_PROFILES_FILE', dds_profile),
        perception_node,
    ])
