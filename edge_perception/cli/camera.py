"""``edge-perception camera``: a webcam, a video file or an image folder as a ROS camera.

Publishes ``image`` (rgb8) and ``camera_info`` with the same header, as ``camera_node`` does
(:mod:`edge_perception.nodes.camera_node`): the options are its parameters.
"""

import rclpy
from rclpy.parameter import Parameter

from edge_perception.messages import DEFAULT_FRAME_ID
from edge_perception.nodes.camera_node import CameraNode, spin_camera
from edge_perception.nodes.dds_profile import apply_large_message_profile
from edge_perception.nodes.parameter_tables import DEFAULT_HFOV_DEG


def add_arguments(parser):
    """Add the camera's options to an argparse parser."""
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument('--device', help="V4L2 camera: /dev/videoN or its index N (e.g. '0')")
    source.add_argument('--video', help='video file to play, e.g. a phone clip (MP4, MOV, ...)')
    source.add_argument('--images', help='folder of images to play in name order')
    parser.add_argument('--width', type=int, default=0,
                        help='frame width to ask the device for (default: its own)')
    parser.add_argument('--height', type=int, default=0,
                        help='frame height to ask the device for (default: its own)')
    parser.add_argument('--fps', type=float, default=0.0,
                        help='frame rate to ask the device for (default: its own)')
    parser.add_argument('--rate', type=float, default=0.0,
                        help="frames per second to play a video or folder at (default: the "
                        "video's own, 10 for a folder)")
    parser.add_argument('--loop', action='store_true',
                        help='play a video or folder again after its last frame')
    parser.add_argument('--calibration', default='',
                        help="calibration YAML as ROS's camera_calibration writes it")
    parser.add_argument('--hfov', type=float, default=DEFAULT_HFOV_DEG,
                        help='horizontal field of view in degrees without a calibration '
                        '(default: %(default)s)')
    parser.add_argument('--frame-id', default=DEFAULT_FRAME_ID,
                        help='frame_id of the headers (default: %(default)s)')
    parser.add_argument('--reconnect', action='store_true',
                        help='wait for a disconnected device to come back instead of exiting')
    parser.add_argument('--wait-for-subscribers', type=int, default=0, metavar='N',
                        help="hold the first frame until N subscriptions to 'image' are "
                        'matched (default: %(default)s, start at once)')


def parameters_of(args):
    """Return the ``camera_node`` parameters that the options of ``args`` stand for."""
    return {'device': args.device or '', 'video': args.video or '',
            'images': args.images or '', 'width': args.width, 'height': args.height,
            'fps': args.fps, 'rate': args.rate, 'loop': args.loop,
            'camera_info_url': args.calibration, 'hfov': args.hfov, 'frame_id': args.frame_id,
            'reconnect': args.reconnect, 'wait_for_subscribers': args.wait_for_subscribers}


def run(args):
    """Publish the camera until its source ends or Ctrl-C; return the process exit code.

    :raises SourceError, CalibrationError: when the source or calibration cannot be used
        (``edge-perception`` prints them as one line).
    """
    apply_large_message_profile()
    rclpy.init(args=[])
    try:
        node = CameraNode(parameter_overrides=[Parameter(name, value=value) for name, value
                                               in parameters_of(args).items()])
    except BaseException:
        rclpy.try_shutdown()
        raise
    return spin_camera(node)
