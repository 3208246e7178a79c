"""``edge-perception regress``: replay a bag in lockstep, score the outputs, check thresholds.

Every frame of the bag goes through the configured node (lockstep: none dropped); its result
and timing topics are recorded and scored against the bag's ground truth and, with
``--golden``, against golden outputs. Exit codes: 0 every threshold met, 1 bad input
(unreadable bag or parameter file, node that does not start), 2 usage, 3 a threshold crossed,
frames without a result, or outputs that differ from the golden ones.
"""

from pathlib import Path
import sys
import tempfile

from edge_perception.cli.options import add_node_arguments, replay_options
from edge_perception.replay.node_config import load_node_config, TIMING_TOPIC
from edge_perception.replay.scoring import (
    DEFAULT_TOLERANCE,
    format_report,
    score,
    Thresholds,
    write_golden,
)
from edge_perception.replay.session import replay

REGRESSION_FAILED = 3


def add_arguments(parser):
    """Add the regress options to an argparse parser."""
    add_node_arguments(parser)
    parser.add_argument('--golden', metavar='GOLDEN_BAG',
                        help='golden outputs to compare with (a bag written by --write-golden)')
    parser.add_argument('--write-golden', metavar='OUT_BAG',
                        help="record the node's result topic into this new golden bag")
    parser.add_argument('--record', metavar='OUT_BAG',
                        help='keep the recorded result and timing topics in this new bag')
    parser.add_argument('--truth-topic',
                        help='ground truth in the bag: a depth image (default for depth '
                             '/camera/depth/ground_truth) or a label with a data field '
                             '(default for classification /camera/digit_label)')
    parser.add_argument('--report', metavar='OUT_JSON', help='write the full report as JSON')
    parser.add_argument('--plot', metavar='OUT_PNG',
                        help='plot error histogram, per-frame metric and latency (matplotlib)')
    limits = parser.add_argument_group(
        'thresholds (exit code 3 when one is crossed; unset ones are not checked)')
    limits.add_argument('--min-delta1', type=float, help='lowest pooled delta1 (depth)')
    limits.add_argument('--max-abs-rel', type=float, help='highest pooled AbsRel (depth)')
    limits.add_argument('--max-rmse', type=float, help='highest pooled RMSE, metres (depth)')
    limits.add_argument('--min-top1', type=float, help='lowest top-1 accuracy, 0-1')
    limits.add_argument('--min-topk', type=float,
                        help='lowest top-k accuracy, 0-1 (k: the top_k parameter)')
    limits.add_argument('--tolerance', type=float, default=DEFAULT_TOLERANCE,
                        help='highest absolute difference from the golden outputs, in output '
                             'units: metres for depth, probability for scores '
                             '(default: %(default)s)')


def run(args):
    """Replay, score, report; return the exit code."""
    for path in (args.record, args.write_golden):
        if path and Path(path).exists():
            print(f"edge-perception regress: '{path}' exists; a recording needs a new "
                  'directory', file=sys.stderr)
            return 1
    config = load_node_config(args.config, args.param, args.node)
    thresholds = Thresholds(args.min_delta1, args.max_abs_rel, args.max_rmse, args.min_top1,
                            args.min_topk, args.tolerance)
    kind = config.kind
    result_topic = f'/{kind.result_topic}'
    with tempfile.TemporaryDirectory(prefix='edge_perception_regress_') as scratch:
        record = args.record or str(Path(scratch) / 'outputs')
        result = replay(replay_options(args, config, record, rate=None,
                                       outputs=(kind.result_topic, TIMING_TOPIC)))
        print(result.summary(args.record))
        report = score(args.bag, record, kind.result, result_topic,
                       timing_topic=f'/{TIMING_TOPIC}', truth_topic=args.truth_topic,
                       golden_bag=args.golden, thresholds=thresholds,
                       image_topic=args.image_topic)
        report.replay = {'config': config.source, 'parameters': config.parameters,
                         'in_process': not args.subprocess, 'wall_s': result.wall_s,
                         'frames_sent': result.sent}
        if result.stopped_answering:
            report.failures.insert(0, result.stopped_answering)
        print(format_report(report))
        if args.report:
            report.write_json(args.report)
            print(f'report: {args.report}')
        if args.plot:
            from edge_perception.replay.plot import write_plot
            write_plot(report, args.plot)
            print(f'plot: {args.plot}')
        if args.write_golden:
            if report.missing:
                print('edge-perception regress: no golden bag written: frames without a '
                      'result', file=sys.stderr)
                return REGRESSION_FAILED
            write_golden(record, args.write_golden, [result_topic])
            size = sum(file.stat().st_size for file in Path(args.write_golden).iterdir())
            print(f'golden outputs: {args.write_golden} ({size / 1e3:.0f} kB)')
    return REGRESSION_FAILED if report.failures else 0
