"""``edge-perception monitor``: the web page of a running depth or classifier node.

Runs :mod:`edge_perception.monitor.node` with these options as its parameters; the node's
topics are found in ``--namespace`` (the namespace the perception node runs in).
"""

from edge_perception.monitor.node import main as run_monitor_node


def add_arguments(parser):
    """Add the monitor's options to an argparse parser."""
    parser.add_argument('--host', default='127.0.0.1',
                        help='address to serve on; 0.0.0.0 exposes the page to other machines '
                        '(default: %(default)s, this machine only)')
    parser.add_argument('--port', type=int, default=8080, help='TCP port (default: %(default)s)')
    parser.add_argument('--max-fps', type=float, default=10.0,
                        help='most pictures per second to one client (default: %(default)s)')
    parser.add_argument('--width', type=int, default=640,
                        help='width of the pictures in pixels (default: %(default)s)')
    parser.add_argument('--namespace', default='',
                        help="the perception node's namespace (default: none)")


def run(args):
    """Serve the page until Ctrl-C; return 0, or 1 when the port cannot be bound."""
    ros_arguments = ['--ros-args', '-p', f'host:={args.host}', '-p', f'port:={args.port}',
                     '-p', f'max_fps:={float(args.max_fps)}', '-p', f'width:={args.width}']
    if args.namespace:
        ros_arguments += ['-r', f'__ns:={args.namespace}']
    print(f'edge-perception monitor: http://{args.host}:{args.port}/ (Ctrl-C stops it)')
    return run_monitor_node(ros_arguments)
