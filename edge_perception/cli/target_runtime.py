"""``--target-runtime``: the oldest OpenVINO release the IR a subcommand writes must load on."""

import sys

from edge_perception.core.opset_lowering import DEFAULT_TARGET_RUNTIME, TARGET_RUNTIMES


def add_target_runtime_option(parser):
    """Add ``--target-runtime`` (default 2022.3, the NCS2's LTS release)."""
    parser.add_argument('--target-runtime', choices=TARGET_RUNTIMES,
                        default=DEFAULT_TARGET_RUNTIME,
                        help='oldest OpenVINO release that must read the IR: operations newer '
                             'than it reads are written as their older equivalents (2022.3: '
                             "the NCS2's LTS release, opset1-10; latest: no lowering, for "
                             'users of new releases only; default: %(default)s)')


def warn_unreadable(command, left, target_runtime, output):
    """Print one line naming the operations ``target_runtime`` cannot read, if any."""
    if left:
        print(f'edge-perception {command}: warning: {output} will not load on OpenVINO '
              f'{target_runtime}: no exact older equivalent of {"; ".join(left)}',
              file=sys.stderr)
