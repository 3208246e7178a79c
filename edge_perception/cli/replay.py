"""``edge-perception replay``: a camera bag through a configured node, its outputs recorded.

The node is the one the parameter file configures (``depth_node`` or ``classifier_node``;
``--node`` names it where the file cannot tell), run in this process or, with
``--subprocess``, in its own as ``ros2 run`` would. Exit codes: 0 replayed, 1 bad input
(unreadable bag or parameter file, node that does not start, declares no such parameter, exits
or stops answering), 2 usage.
"""

from pathlib import Path
import sys

from edge_perception.cli.options import add_node_arguments, positive_number, replay_options
from edge_perception.replay.node_config import load_node_config
from edge_perception.replay.session import replay


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
    options = replay_options(args, load_node_config(args.config, args.param, args.node),
                             record=args.record,
                             rate=None if args.as_fast_as_possible else args.rate)
    result = replay(options)
    print(result.summary(args.record))
    if result.stopped_answering:
        print(f'edge-perception replay: {result.stopped_answering}', file=sys.stderr)
        return 1
    return 0
