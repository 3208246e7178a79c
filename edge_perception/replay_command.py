"""``edge-perception replay``: a camera bag through a configured node, its outputs recorded.

The node is the one the parameter file configures (``depth_node`` or ``classifier_node``),
run in this process or, with ``--subprocess``, in its own as ``ros2 run`` would. Exit codes:
0 replayed, 1 bad input (unreadable bag or parameter file, node that does not start, declares
no such parameter, exits or stops answering), 2 usage.
"""

import argparse
from pathlib import Path
import sys

from .bag_io import DEFAULT_CAMERA_INFO_TOPIC, DEFAULT_IMAGE_TOPIC, STORAGE_PLUGINS
from .node_config import load_node_config
from .replay import replay, ReplayOptions

# Lines of a child-process node's output shown when frames got no result.
NODE_LOG_LINES = 20


def add_node_arguments(parser):
    """Add the options shared by ``replay`` and ``regress``: bag, node, topics, timeouts."""
    parser.add_argument('bag', help='rosbag2 directory (mcap or sqlite3) with camera images')
    parser.add_argument('--config', '--launch-config', dest='config', required=True,
                        help='parameter file of the node to run, e.g. config/depth.yaml: its '
                             'top-level key (depth_node, classifier_node) picks the node')
    parser.add_argument('--param', action='append', default=[], metavar='NAME=VALUE',
                        help='parameter override, value in YAML as with -p name:=value '
                             '(repeatable)')
    parser.add_argument('--subprocess', action='store_true',
                        help='run the node in its own process (--params-file) instead of '
                             'this one')
    parser.add_argument('--image-topic', default=DEFAULT_IMAGE_TOPIC,
                        help='image topic in the bag (default: %(default)s)')
    parser.add_argument('--camera-info-topic', default=DEFAULT_CAMERA_INFO_TOPIC,
                        help='camera info topic in the bag (default: %(default)s)')
    parser.add_argument('--timeout', type=positive_number, default=10.0, metavar='SECONDS',
                        help='lockstep: wait this long for one frame\'s result before counting '
                             'it missing (default: %(default)s)')
    parser.add_argument('--startup-timeout', type=positive_number, default=60.0, metavar='SECONDS',
                        help='for the node to come up and answer the first frame '
                             '(default: %(default)s)')
    parser.add_argument('--storage', choices=tuple(STORAGE_PLUGINS), default='mcap',
                        help='storage of recorded bags (default: %(default)s)')


def add_arguments(parser):
    """Add the replay options to an argparse parser."""
    add_node_arguments(parser)
    pace = parser.add_mutually_exclusive_group()
    pace.add_argument('--rate', type=positive_number, default=1.0,
                      help='playback speed relative to the recording, frames restamped with '
                           'the current time (default: %(default)s)')
    pace.add_argument('--as-fast-as-possible', action='store_true',
                      help='lockstep: each frame once the previous result is back, recorded '
                           'stamps kept, no frame dropped')
    parser.add_argument('--record', metavar='OUT_BAG',
                        help='record every output topic of the node into this new bag')


def run(args):
    """Replay the bag; return the exit code."""
    if args.record and Path(args.record).exists():
        print(f"edge-perception replay: '{args.record}' exists; a recording needs a new "
              'directory', file=sys.stderr)
        return 1
    options = replay_options(args, load_node_config(args.config, args.param),
                             record=args.record,
                             rate=None if args.as_fast_as_possible else args.rate)
    result = replay(options)
    print(summary(result, args.record))
    if result.stopped_answering:
        print(f'edge-perception replay: {result.stopped_answering}', file=sys.stderr)
        return 1
    return 0


def replay_options(args, config, record, rate, outputs=None):
    """Build :class:`ReplayOptions` from the shared command-line options."""
    return ReplayOptions(
        bag=args.bag, config=config, record=record, storage=args.storage, rate=rate,
        subprocess=args.subprocess, image_topic=args.image_topic,
        camera_info_topic=args.camera_info_topic, outputs=outputs, timeout_s=args.timeout,
        startup_timeout_s=args.startup_timeout)


def summary(result, record):
    """One paragraph on what a replay did."""
    pace = 'lockstep' if result.lockstep else 'timed'
    recorded = ', '.join(f'{topic} {count}' for topic, count in result.recorded.items())
    lines = [f'{result.sent}/{result.frames} frames replayed ({pace}) in {result.wall_s:.2f} s; '
             f'received {recorded}' + (f'; recorded into {record}' if record else '')]
    if result.missing:
        lines.append(f'{len(result.missing)} frames without a result (stamps, ns): '
                     f"{', '.join(map(str, result.missing[:10]))}"
                     + (' ...' if len(result.missing) > 10 else ''))
        if result.node_log:
            lines.append('the node said:\n' + '\n'.join(
                result.node_log.strip().splitlines()[-NODE_LOG_LINES:]))
    return '\n'.join(lines)


def positive_number(text):
    """Parse an argparse value that must be a positive number."""
    value = float(text)
    if not value > 0:
        raise argparse.ArgumentTypeError(f'{text} is not a positive number')
    return value
