"""``edge-perception profile``: per-layer time, precision and MFLOPs of a model on a device."""

import sys

from edge_perception.core.engine import check_device, create_core, load_model
from edge_perception.toolchain.profiling import format_table, profile, write_csv, write_html


def add_arguments(parser):
    """Add the profile options to an argparse parser."""
    parser.add_argument('model', help='OpenVINO IR (.xml) or ONNX model with static shapes')
    parser.add_argument('--device', default='CPU', help='OpenVINO device (default: %(default)s)')
    parser.add_argument('--iterations', type=int, default=100,
                        help='inferences averaged (default: %(default)s)')
    parser.add_argument('--top', type=int, default=20,
                        help='layers listed, longest first; 0 for all (default: %(default)s)')
    parser.add_argument('--csv', help='also write every layer as CSV to this file')
    parser.add_argument('--html', help='also write every layer as an HTML table to this file')


def run(args):
    """Profile the model; return the exit code (1 on a model or device error)."""
    if args.iterations < 1:
        print('edge-perception profile: --iterations must be at least 1', file=sys.stderr)
        return 2
    core = create_core()
    check_device(core, args.device)
    model = load_model(core, args.model)

    def show_progress(done):
        print(f'\rprofiling: {done}/{args.iterations} inferences',
              end='\n' if done == args.iterations else '', file=sys.stderr, flush=True)

    layers, wall_ms = profile(core, model, args.device, args.iterations,
                              progress=show_progress if sys.stderr.isatty() else None)
    print(f'{args.model} on {args.device}: {len(layers)} executed layers, mean of '
          f'{args.iterations} inferences')
    print(format_table(layers, args.top or None))
    print(f'wall-clock inference, mean: {wall_ms:.3f} ms')
    if args.csv:
        write_csv(layers, args.csv)
    if args.html:
        write_html(layers, args.html, f'{args.model} on {args.device}')
    return 0
