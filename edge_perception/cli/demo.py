"""``edge-perception demo``: a bundled model on its bundled camera recording.

``demo`` (or ``demo depth``) runs FastDepth on the synthetic camera recording; ``demo
classifier`` runs the digit classifier on frames of digits on paper; ``--camera`` feeds the
node from a webcam, a video file or an image folder instead (``camera_node``). What it prints
and writes: :mod:`edge_perception.replay.demo`.
"""

from edge_perception.replay.demo import CameraDemoOptions, DemoOptions, HEADS, IMAGE_TOPIC
from edge_perception.replay.demo import run as run_demo
from edge_perception.replay.demo import run_camera as run_camera_demo


def add_arguments(parser):
    """Add the demo's options to an argparse parser."""
    parser.add_argument('head', nargs='?', default='depth', choices=sorted(HEADS),
                        help='which node and recording (default: %(default)s)')
    parser.add_argument('--bag', default='', help='rosbag2 directory; default: the bundled '
                        f'recording of the head (camera on {IMAGE_TOPIC})')
    parser.add_argument('--model', default='', help='model file; default: the bundled model')
    parser.add_argument('--device', default='CPU', help='OpenVINO device (default: %(default)s)')
    parser.add_argument('--preprocessing', default='auto', choices=('graph', 'host', 'auto'))
    parser.add_argument('--loops', type=int, default=3, help='times to play the recording')
    parser.add_argument('--rate', type=float, default=1.0,
                        help='playback speed relative to the recording (default: %(default)s)')
    parser.add_argument('--output-dir', default='depth_demo',
                        help='where the depth PNGs go (default: %(default)s)')
    parser.add_argument('--pngs', type=int, default=4, help='depth PNG images to write')
    parser.add_argument('--camera', nargs='?', const='0', default=None, metavar='DEVICE|FILE',
                        help='feed the node from a camera instead of the recording: a V4L2 '
                        'device (/dev/videoN or N; default 0), a video file or an image folder')
    parser.add_argument('--seconds', type=float, default=20.0,
                        help='with --camera: longest run after the first result '
                        '(default: %(default)s)')
    parser.add_argument('--monitor', action='store_true',
                        help='also start the web monitor (edge-perception monitor) and print '
                        'its address')
    parser.add_argument('--monitor-port', type=int, default=8080,
                        help='port of the monitor page (default: %(default)s)')


def run(args):
    """Run the demo; return the process exit code."""
    if args.camera is not None:
        return run_camera_demo(CameraDemoOptions(
            args.head, args.camera, args.model, args.device, args.preprocessing, args.seconds,
            args.output_dir, args.pngs, args.monitor_port if args.monitor else None))
    return run_demo(DemoOptions(args.head, args.bag, args.model, args.device, args.preprocessing,
                                args.loops, args.rate, args.output_dir, args.pngs,
                                args.monitor_port if args.monitor else None))
