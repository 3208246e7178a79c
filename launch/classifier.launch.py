"""Image classification from a camera: classifier_node (bundled digit classifier by default).

ros2 launch edge_perception classifier.launch.py image:=/camera/image_raw \
    namespace:=robot1 params_file:=/path/to/classifier.yaml
Every argument of perception_node.launch.py applies (`--show-args` lists them) but `node`,
which is classifier_node here.
"""

from launch.actions import IncludeLaunchDescription
from launch.launch_description_sources import PythonLaunchDescriptionSource

from edge_perception.nodes import launch_settings
from launch import LaunchDescription


def generate_launch_description():
    return LaunchDescription([
        IncludeLaunchDescription(
            PythonLaunchDescriptionSource(
                launch_settings.launch_file(launch_settings.PERCEPTION_LAUNCH_FILE)),
            launch_arguments={'node': 'classifier_node'}.items()),
    ])
