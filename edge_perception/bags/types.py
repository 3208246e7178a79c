"""What the package's bags hold: message type names, topic names, and message definitions for
``rosbags`` (ROS 2 Kilted's standard messages plus ``InferenceTiming`` and ``Classification``).

The package's definitions come from the installed ``share/edge_perception/msg/*.msg`` files,
so a bag written with :func:`package_typestore` carries the same definitions (and RIHS01 type
hashes) as the messages the nodes publish, and ``ros2 bag`` or any MCAP reader can decode them.
"""

from dataclasses import dataclass

import numpy as np
from rosbags.typesys import get_types_from_msg, get_typestore, Stores

from edge_perception.messages import (  # noqa: F401  (re-exported: one place for type names)
    CAMERA_INFO_TYPE,
    DEFAULT_FRAME_ID,
    IMAGE_TYPE,
    POINT_CLOUD_TYPE,
)
from edge_perception.package_paths import PACKAGE_NAME, shared_file

CLASSIFICATION_TYPE = f'{PACKAGE_NAME}/msg/Classification'
INFERENCE_TIMING_TYPE = f'{PACKAGE_NAME}/msg/InferenceTiming'
LABEL_TYPE = 'std_msgs/msg/UInt8'

# Topics of the bundled recordings, and the defaults of the tools that read recordings.
DEFAULT_IMAGE_TOPIC = '/camera/image_raw'
DEFAULT_CAMERA_INFO_TOPIC = '/camera/camera_info'
DEFAULT_DEPTH_TOPIC = '/camera/depth/ground_truth'
DEFAULT_LABEL_TOPIC = '/camera/digit_label'

@dataclass
class DepthFrame:
    """One camera frame with its calibration and ground-truth depth.

    :param stamp_ns: time of the frame (header stamp and bag timestamp), nanoseconds.
    :param rgb: H×W×3 uint8 RGB image.
    :param depth: H×W float32 z-depth, metres; NaN where unknown.
    :param camera_matrix: 3×3 float64 intrinsics ``K``.
    :param frame_id: optical frame of the camera.
    """

    stamp_ns: int
    rgb: np.ndarray
    depth: np.ndarray
    camera_matrix: np.ndarray
    frame_id: str = DEFAULT_FRAME_ID


# Keys of a replay's recording in its metadata.yaml custom_data: how it was made, and the map
# from the stamps it published to the recorded ones (a timed replay restamps frames).
REPLAY_KEY = 'edge_perception.replay'
STAMP_MAP_KEY = 'edge_perception.input_stamps'

#: ROS 2 Kilted's standard message definitions (no package messages).
TYPESTORE = get_typestore(Stores.ROS2_KILTED)


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
