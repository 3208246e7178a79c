"""Command-line options more than one subcommand takes, and how they become tool options."""

import argparse

from edge_perception.bags.types import DEFAULT_CAMERA_INFO_TOPIC, DEFAULT_IMAGE_TOPIC
from edge_perception.bags.writer import STORAGE_PLUGINS
from edge_perception.replay.node_config import NODE_KINDS
from edge_perception.replay.session import ReplayOptions


def positive_number(text):
    """Parse an argparse value that must be a positive number."""
    value = float(text)
    if not value > 0:
        raise argparse.ArgumentTypeError(f'{text} is not a positive number')
    return value


def add_node_option(parser):
    """Add ``--node``: which node a parameter file configures."""
    parser.add_argument('--node', choices=tuple(NODE_KINDS),
                        help='the node to run (default: the one the parameter file names, '
                             'else the one whose own parameters it sets: depth_scale... or '
                             'top_k...)')


def add_node_arguments(parser):
    """Add the options shared by ``replay`` and ``regress``: bag, node, topics, timeouts."""
    parser.add_argument('bag', help='rosbag2 directory (mcap or sqlite3) with camera images')
    parser.add_argument('--config', '--launch-config', dest='config', required=True,
                        help='parameter file of the node to run, e.g. config/depth.yaml')
    add_node_option(parser)
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
                        help="lockstep: wait this long for one frame's result before counting "
                             'it missing (default: %(default)s)')
    parser.add_argument('--startup-timeout', type=positive_number, default=60.0, metavar='SECONDS',
                        help='for the node to come up and answer the first frame '
                             '(default: %(default)s)')
    parser.add_argument('--storage', choices=tuple(STORAGE_PLUGINS), default='mcap',
                        help='storage of recorded bags (default: %(default)s)')


def replay_options(args, config, record, rate, outputs=None):
    """Build :class:`ReplayOptions` from the shared command-line options."""
    return ReplayOptions(
        bag=args.bag, config=config, record=record, storage=args.storage, rate=rate,
        subprocess=args.subprocess, image_topic=args.image_topic,
        camera_info_topic=args.camera_info_topic, outputs=outputs, timeout_s=args.timeout,
        startup_timeout_s=args.startup_timeout)
