"""``edge-perception monitor``: the web page of a running depth or classifier node.

Runs :mod:`edge_perception.monitor.node` with these options as its parameters; the node's
topics are found in ``--namespace`` (the namespace the perception node runs in).
"""

import argparse

from edge_perception.monitor.node import main as run_monitor_node
from edge_perception.monitor.node import MONITOR_PARAMETERS

RANGES = {spec.name: spec.value_range for spec in MONITOR_PARAMETERS}


def within(name, kind):
    """Return an argparse type: ``kind`` of the text, inside parameter ``name``'s range.

    Checked here so a bad value is a usage error, not an exception from rclpy.
    """
    low, high = RANGES[name]

    def parse(text):
        try:
            value = kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f'{text!r} is not a number') from None
        if not low <= value <= high:
            raise argparse.ArgumentTypeError(f'{text} is not between {low} and {high}')
        return value

    return parse


def add_arguments(parser):
    """Add the monitor's options to an argparse parser."""
    parser.add_argument('--host', default='127.0.0.1',
                        help='address to serve on; 0.0.0.0 exposes the page to other machines '
                        '(default: %(default)s, this machine only)')
    parser.add_argument('--port', type=within('port', int), default=8080,
                        help='TCP port; 0: a free one (default: %(default)s)')
    parser.add_argument('--max-fps', type=within('max_fps', float), default=10.0,
                        help='most pictures per second to one client (default: %(default)s)')
    parser.add_argument('--width', type=within('width', int), default=640,
                        help='width of the pictures in pixels (default: %(default)s)')
    parser.add_argument('--namespace', default='',
                        help="the perception node's namespace (default: none)")


def run(args):
    """Serve the page until Ctrl-C; return 0, or 1 when the port cannot be bound."""
    ros_arguments = ['--ros-args', '-p', f'host:={args.host}', '-p', f'port:={args.port}',
                     '-p', f'max_fps:={float(args.max_fps)}', '-p', f'width:={args.width}']
    if args.namespace:
        ros_arguments += ['-r', f'__ns:={args.namespace}']
    # The node logs the address once it is bound (with the port chosen when 0 was asked).
    return run_monitor_node(ros_arguments)
