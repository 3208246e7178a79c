"""``edge-perception soak``: overload a node (its own process) for a bounded time.

A synthetic camera publishes faster than the node serves; the command prints latency, drop
counts and the node's memory over the soak, and exits 3 when latency or memory crossed the
limits given (1 when the node did not start or died, 2 usage).
"""

import json
import sys
import tempfile

from edge_perception.cli.options import add_node_option, positive_number
from edge_perception.replay.node_config import load_node_config
from edge_perception.replay.soak import soak, SoakOptions


def add_arguments(parser):
    """Add the soak options to an argparse parser."""
    parser.add_argument('--config', required=True,
                        help='parameter file of the node, e.g. config/depth.yaml')
    add_node_option(parser)
    parser.add_argument('--param', action='append', default=[], metavar='NAME=VALUE',
                        help='parameter override, value in YAML (repeatable)')
    parser.add_argument('--rate', type=positive_number, default=60.0,
                        help='camera Hz (default: 60)')
    parser.add_argument('--duration', type=positive_number, default=30.0,
                        help='seconds of soak after a 3 s warm-up (default: 30)')
    parser.add_argument('--width', type=int, default=640)
    parser.add_argument('--height', type=int, default=480)
    parser.add_argument('--max-p99-latency-ms', type=float, default=None,
                        help='fail (exit 3) when the p99 latency exceeds this')
    parser.add_argument('--max-memory-growth-mib', type=float, default=None,
                        help='fail (exit 3) when the node grows by more than this')
    parser.add_argument('--json', metavar='FILE', help='also write the figures as JSON')


def run(args):
    """Run the soak; return the exit code."""
    config = load_node_config(args.config, args.param, args.node)
    with tempfile.TemporaryDirectory() as scratch:
        options = SoakOptions(config, args.rate, args.duration, args.width, args.height,
                              scratch)
        try:
            report = soak(options)
        except RuntimeError as error:
            print(f'edge-perception soak: {error}', file=sys.stderr)
            return 1
    print(report.summary(options))
    figures = report.figures()
    if args.json:
        with open(args.json, 'w', encoding='utf-8') as output:
            json.dump(figures, output, indent=2)
    failed = []
    if args.max_p99_latency_ms is not None and \
            not figures['latency_p99_ms'] <= args.max_p99_latency_ms:
        failed.append(f"p99 latency {figures['latency_p99_ms']:.1f} ms > "
                      f'{args.max_p99_latency_ms:g}')
    if args.max_memory_growth_mib is not None and \
            not figures['memory_growth_mib'] <= args.max_memory_growth_mib:
        failed.append(f"memory growth {figures['memory_growth_mib']:.1f} MiB > "
                      f'{args.max_memory_growth_mib:g}')
    for reason in failed:
        print(f'edge-perception soak: FAILED: {reason}', file=sys.stderr)
    return 3 if failed else 0
