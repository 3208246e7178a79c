"""Message definitions for reading and writing bags with ``rosbags``: ROS 2 Kilted's standard
messages plus this package's own (``InferenceTiming``, ``Classification``).

The package's definitions come from the installed ``share/edge_perception/msg/*.msg`` files,
so a bag written with this type store carries the same definitions (and RIHS01 type hashes)
as the messages the nodes publish, and ``ros2 bag`` or any MCAP reader can decode them.
"""

from rosbags.typesys import get_types_from_msg, get_typestore, Stores

from edge_perception.package_paths import PACKAGE_NAME, shared_file

IMAGE_TYPE = 'sensor_msgs/msg/Image'
POINT_CLOUD_TYPE = 'sensor_msgs/msg/PointCloud2'
CLASSIFICATION_TYPE = f'{PACKAGE_NAME}/msg/Classification'
INFERENCE_TIMING_TYPE = f'{PACKAGE_NAME}/msg/InferenceTiming'


def package_typestore(msg_directory=None):
    """Return a new ROS 2 Kilted type store with the package's messages registered.

    :param msg_directory: folder of ``.msg`` files; default: the installed
        ``share/edge_perception/msg``.
    :raises FileNotFoundError: when the folder holds no ``.msg`` file (package not installed).
    """
    directory = shared_file('msg') if msg_directory is None else msg_directory
    files = sorted(directory.glob('*.msg'))
    if not files:
        raise FileNotFoundError(f"no .msg files in '{directory}': is {PACKAGE_NAME} installed?")
    typestore = get_typestore(Stores.ROS2_KILTED)
    types = {}
    for file in files:
        types.update(get_types_from_msg(file.read_text(), f'{PACKAGE_NAME}/msg/{file.stem}'))
    typestore.register(types)
    return typestore
