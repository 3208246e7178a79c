"""``edge-perception benchmark``: latency and throughput of a model, beside other engines."""

import argparse
import json
import os
import sys

from edge_perception.core.engine import check_device, create_core
from edge_perception.toolchain.benchmarking import (
    BenchmarkInputError,
    BenchmarkOptions,
    format_report,
    run_benchmark,
)
from edge_perception.toolchain.model_inputs import parse_input_shape


def _input_shape(text):
    try:
        return parse_input_shape(text)
    except ValueError as error:
        raise argparse.ArgumentTypeError(str(error)) from error


def add_arguments(parser):
    """Add the benchmark options to an argparse parser."""
    parser.add_argument('model', help='OpenVINO IR (.xml) or ONNX model')
    parser.add_argument('--device', default='CPU', help='OpenVINO device (default: %(default)s)')
    parser.add_argument('--input-shape', type=_input_shape, action='append', default=[],
                        metavar='[NAME=]DIMS',
                        help='static shape for a dynamic input, e.g. 1,3,224,224; repeat '
                             'with NAME= for each input of a model with several')
    parser.add_argument('--seed', type=int, default=0,
                        help='seed of the random inputs (default: %(default)s)')
    parser.add_argument('--inference-precision', choices=('f32', 'bf16', 'f16'),
                        help="OpenVINO's inference precision (default: the device's own, "
                             'bf16 on CPUs with AVX-512 BF16 or AMX)')
    parser.add_argument('--iterations', type=int, default=200, metavar='N',
                        help='timed synchronous inferences per engine (default: %(default)s)')
    parser.add_argument('--warmup', type=int, default=10, metavar='N',
                        help='untimed inferences per engine first (default: %(default)s)')
    parser.add_argument('--round', type=int, default=10, dest='round_size', metavar='N',
                        help='inferences per engine in one interleaved round '
                             '(default: %(default)s)')
    parser.add_argument('--requests', type=int, default=0, metavar='N',
                        help="parallel requests for throughput; 0 for the device's optimal "
                             'number (default: %(default)s)')
    amount = parser.add_mutually_exclusive_group()
    amount.add_argument('--duration', type=float, default=5.0, dest='duration_s', metavar='SECONDS',
                        help='seconds of throughput measurement (default: %(default)s)')
    amount.add_argument('--frames', type=int, metavar='N',
                        help='frames of throughput measurement, instead of --duration')
    compare = parser.add_argument_group('comparison with other engines, on the CPU')
    compare.add_argument('--compare', action='store_true',
                         help='also time ONNX Runtime, PyTorch eager and OpenCV DNN where '
                              'installed and applicable, interleaved with OpenVINO')
    compare.add_argument('--onnx', dest='onnx_path', metavar='PATH',
                         help='ONNX file for ONNX Runtime and OpenCV DNN (default: the model '
                              'if ONNX, else an .onnx of the same name beside the IR)')
    compare.add_argument('--torch-module', metavar='PACKAGE.MODULE:FACTORY',
                         help='function returning the model as a torch.nn.Module')
    compare.add_argument('--torch-state-dict', metavar='PATH',
                         help='its weights, a state_dict saved with torch.save')
    parser.add_argument('--json', metavar='PATH',
                        help='also write the figures as JSON to this file')


def _usage_error(args):
    """Return what is wrong with the option values argparse cannot check, or None."""
    for name in ('iterations', 'round_size', 'frames'):
        value = getattr(args, name)
        if value is not None and value < 1:
            return f"--{name.replace('_size', '')} must be at least 1"
    if args.warmup < 0 or args.requests < 0:
        return '--warmup and --requests must not be negative'
    if args.duration_s <= 0:
        return '--duration must be positive'
    if bool(args.torch_module) != bool(args.torch_state_dict):
        return '--torch-module and --torch-state-dict go together'
    if not args.compare and (args.onnx_path or args.torch_module):
        return '--onnx, --torch-module and --torch-state-dict apply only with --compare'
    return None


def run(args):
    """Benchmark the model; return the exit code (1 on bad input, 2 on bad usage)."""
    problem = _usage_error(args)
    if problem:
        print(f'edge-perception benchmark: {problem}', file=sys.stderr)
        return 2
    options = BenchmarkOptions(
        input_shapes=tuple(args.input_shape), seed=args.seed,
        inference_precision=args.inference_precision, iterations=args.iterations,
        warmup=args.warmup, round_size=args.round_size, compare=args.compare,
        onnx_path=args.onnx_path, torch_module=args.torch_module,
        torch_state_dict=args.torch_state_dict, requests=args.requests,
        duration_s=args.duration_s, frames=args.frames)
    if args.torch_module and os.getcwd() not in sys.path:
        sys.path.insert(0, os.getcwd())  # --torch-module resolves like `python -m`
    core = create_core()
    check_device(core, args.device)

    def show_progress(text):
        print(f'\r{text:<60}', end='', file=sys.stderr, flush=True)

    showing = sys.stderr.isatty()
    try:
        report = run_benchmark(core, args.model, args.device, options,
                               progress=show_progress if showing else None)
    except BenchmarkInputError as error:
        print(f'edge-perception benchmark: {error}', file=sys.stderr)
        return 1
    finally:
        if showing:
            print(file=sys.stderr)
    print(format_report(report))
    if args.json:
        try:
            with open(args.json, 'w', encoding='utf-8') as output:
                json.dump(report.to_dict(), output, indent=2)
                output.write('\n')
        except OSError as error:
            print(f'edge-perception benchmark: cannot write {args.json}: {error}',
                  file=sys.stderr)
            return 1
    return 0
