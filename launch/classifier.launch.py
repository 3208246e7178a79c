"""Image classification from a camera: classifier_node (bundled digit classifier).

ros2 launch edge_perception classifier.launch.py image:=/camera/image_raw \
    params_file:=/path/to/classifier.yaml
Every argument of perception_node.launch.py applies (namespace, log_level, dds_profile, ...).
"""

import os

from ament_index_python.packages import get_package_share_directory
from launch.actions import DeclareLaunchArgument, IncludeLaunchDescription
from launch.launch_description_sources import PythonLaunchDescriptionSource
from launch.substitutions import LaunchConfiguration

from launch import LaunchDescription


def generate_launch_description():
    share = get_package_share_directory('edge_perception')
    return LaunchDescription([
        DeclareLaunchArgument('params_file',
                              default_value=os.path.join(share, 'config', 'classifier.yaml'),
                              description='Parameter file of classifier_node'),
        IncludeLaunchDescription(
            PythonLaunchDescriptionSource(
                os.path.join(share, 'launch', 'perception_node.launch.py')),
            launch_arguments={'node': 'classifier_node',
                              'params_file': LaunchConfiguration('params_file')}.items()),
    ])
