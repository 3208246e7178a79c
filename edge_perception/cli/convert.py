"""``edge-perception convert``: ONNX, PyTorch or TensorFlow model -> OpenVINO IR, validated.

The FastDepth authors' NYU checkpoints (``.pth.tar``) convert with no other option: the network
is rebuilt without running their pickle, traced at 1x3x224x224, and the IR states their input
(RGB in [0, 1]: mean 0, scale 255) and output (metres); options given explicitly still win.

Exit codes: 0 converted (and validated), 1 bad input (missing or unsupported model, corrupt
file, framework not installed), 2 usage, 3 the IR's outputs differ from the source's beyond
the thresholds (no IR is written then).
"""

import argparse
from dataclasses import replace
import os
import sys
import tempfile

from edge_perception.cli.target_runtime import add_target_runtime_option, warn_unreadable
from edge_perception.core.engine import create_core, with_batch_of_one
from edge_perception.core.image_codec import COLOR_ENCODINGS, encoding_info, ImageFormatError
from edge_perception.core.model_info import (
    MODEL_TYPES,
    ModelInfo,
    ModelInfoError,
    OUTPUT_UNITS,
    write_model_info,
)
from edge_perception.core.openvino_compat import openvino_version
from edge_perception.core.preprocessing import (
    embed_preprocessing,
    PreprocessingError,
    resolve_normalisation,
)
from edge_perception.toolchain.conversion import (
    ConversionError,
    format_comparisons,
    open_source,
    require_batch_of_one,
    require_static_inputs,
    save_ir,
    validate,
)
from edge_perception.toolchain.model_inputs import parse_input_shape

VALIDATION_FAILED = 3
_EMBEDDING_OPTIONS = ('encoding', 'camera_size')


def add_arguments(parser):
    """Add the convert options to an argparse parser."""
    parser.add_argument('model', help='.onnx file, PyTorch state_dict (.pt/.pth, with '
                                      "--torch-module), the FastDepth authors' checkpoint "
                                      '(.pth.tar), TensorFlow SavedModel directory, or '
                                      'Keras .keras/.h5 file')
    parser.add_argument('-o', '--output', required=True, help='OpenVINO IR to write (.xml; '
                                                              'the .bin goes beside it)')
    parser.add_argument('--torch-module', metavar='PACKAGE.MODULE:FACTORY',
                        help='importable function or class building the PyTorch module the '
                             'state_dict belongs to (looked up from the current directory, '
                             'then PYTHONPATH and installed packages)')
    parser.add_argument('--input-shape', metavar='N,C,H,W', action='append', type=_shape,
                        help='static input shape, once per input in order; required for '
                             "PyTorch (the FastDepth authors' checkpoints default to "
                             '1,3,224,224) and for models with dynamic dimensions')
    parser.add_argument('--fp32', action='store_true',
                        help='keep FP32 weights (default: FP16 weights, as the NCS2 needs)')
    add_target_runtime_option(parser)
    parser.add_argument('--static', action='store_true',
                        help='write the static batch-1 IR that the NCS2 (MYRIAD) and its '
                             'compile_tool need: a dynamic batch becomes 1, any other batch is '
                             'refused')
    validation = parser.add_argument_group('validation (source framework vs. IR on CPU, f32)')
    validation.add_argument('--no-validate', action='store_true',
                            help='skip running the source framework and the IR')
    validation.add_argument('--samples', type=int, default=3,
                            help='seeded random inputs compared (default: %(default)s)')
    validation.add_argument('--seed', type=int, default=0,
                            help='seed of the random inputs (default: %(default)s)')
    validation.add_argument('--tolerance', type=float,
                            help='largest max-abs error accepted, in output units (default: 2%% '
                                 'of the largest reference magnitude with FP16 weights, 0.1%% '
                                 'with --fp32)')
    validation.add_argument('--min-cosine', type=float,
                            help='lowest cosine similarity accepted (default: 0.999 with FP16 '
                                 'weights, 0.99999 with --fp32)')
    metadata = parser.add_argument_group(
        "what the model says about itself: written into the IR's model_info, from which the "
        'nodes and tools take their defaults (explicit node parameters still win)')
    metadata.add_argument('--mean', type=float, nargs='+',
                          help="per-channel mean on 0-255 values, in the model's channel order, "
                               'as the model was trained')
    metadata.add_argument('--scale', type=float, nargs='+',
                          help='per-channel divisor after the mean, on 0-255 values')
    metadata.add_argument('--color-order', choices=('RGB', 'BGR'),
                          help='channel order the model expects')
    metadata.add_argument('--model-type', choices=MODEL_TYPES,
                          help='what the output is: depth_estimation or Classification')
    metadata.add_argument('--output-unit', choices=OUTPUT_UNITS,
                          help='metres (depth), logits or probabilities (class scores)')
    metadata.add_argument('--labels', metavar='FILE',
                          help='class names, one per line (line i names class i)')
    embedding = parser.add_argument_group(
        'preprocessing in the graph (as the nodes build it): the IR then takes the raw camera '
        'buffer, u8 1xHEIGHTxWIDTHxCHANNELS, normalised with --mean/--scale/--color-order')
    embedding.add_argument('--embed-preprocessing', action='store_true',
                           help='build resize, colour conversion, normalisation and layout '
                                'into the IR; needs --encoding and --camera-size')
    embedding.add_argument('--encoding', choices=COLOR_ENCODINGS,
                           help='camera image encoding')
    embedding.add_argument('--camera-size', metavar='WIDTHxHEIGHT', type=_camera_size,
                           help='camera image size, e.g. 640x480')


def run(args):
    """Convert, validate and write the IR; return the exit code."""
    usage_error = _usage_error(args)
    if usage_error:
        print(f'edge-perception convert: {usage_error}', file=sys.stderr)
        return 2
    fp16 = not args.fp32
    if args.torch_module and os.getcwd() not in sys.path:
        sys.path.insert(0, os.getcwd())  # --torch-module resolves like `python -m`
    try:
        return _convert(args, fp16)
    except (ConversionError, PreprocessingError, ImageFormatError, ModelInfoError,
            OSError) as error:
        print(f'edge-perception convert: {error}', file=sys.stderr)
        return 1


def _convert(args, fp16):
    core = create_core()
    source = open_source(args.model, args.torch_module)
    if not args.no_validate:
        source.require_reference()  # fails now, not after converting, when it is missing
    what = getattr(source, 'description', f'{source.framework} model')
    _progress(f"converting {what} from {args.model} with OpenVINO "
              f"{openvino_version().split('-')[0]}")
    model = source.to_openvino(core, args.input_shape)
    if args.static:
        require_batch_of_one(with_batch_of_one(model))
    require_static_inputs(model)
    model_info = getattr(source, 'model_info', ModelInfo()).merged(_model_info(args))
    write_model_info(model, model_info)
    directory = os.path.dirname(os.path.abspath(args.output))
    os.makedirs(directory, exist_ok=True)
    weights = 'FP16' if fp16 else 'FP32'
    with tempfile.TemporaryDirectory(dir=directory, prefix='.convert-') as scratch:
        scratch_xml = os.path.join(scratch, 'model.xml')
        left = save_ir(model, scratch_xml, fp16, args.target_runtime)
        if not args.no_validate:
            _progress(f'validating the {weights} IR against {source.framework} on '
                      f'{args.samples} seeded random inputs (seed {args.seed})')
            label, comparisons = validate(core, scratch_xml, source, args.samples, args.seed,
                                          fp16, args.tolerance, args.min_cosine)
            when = ' before embedding the preprocessing' if args.embed_preprocessing else ''
            print(f'validation{when}: {label} vs. the {weights} IR on OpenVINO CPU (f32 '
                  f'inference), {args.samples} random inputs, seed {args.seed}')
            print(format_comparisons(comparisons))
            if not all(item.passed for item in comparisons):
                failed = ', '.join(item.name for item in comparisons if not item.passed)
                print(f'edge-perception convert: validation failed for {failed}; '
                      f'{args.output} not written', file=sys.stderr)
                return VALIDATION_FAILED
        if args.embed_preprocessing:
            width, height = args.camera_size
            normalisation, _ = resolve_normalisation(model_info)
            model = embed_preprocessing(model, args.encoding, height, width, normalisation)
            # The graph now takes the camera's buffer as it comes: nothing is left to do to it.
            write_model_info(model, replace(
                model_info, mean=(0.0,), scale=(1.0,),
                color_order=encoding_info(args.encoding).color_order
                if encoding_info(args.encoding).color_order in ('RGB', 'BGR') else ''))
            left = save_ir(model, args.output, fp16, args.target_runtime)
        else:
            base = os.path.splitext(args.output)[0]
            os.replace(scratch_xml, args.output)
            os.replace(os.path.join(scratch, 'model.bin'), base + '.bin')
    warn_unreadable('convert', left, args.target_runtime, args.output)
    shapes = ', '.join(f'{port.get_element_type().get_type_name()} {port.get_partial_shape()}'
                       for port in model.inputs)
    print(f'wrote {args.output} ({weights} weights; input {shapes})')
    return 0


def _model_info(args):
    labels = ()
    if args.labels:
        with open(args.labels, encoding='utf-8') as labels_file:
            labels = tuple(line.strip() for line in labels_file if line.strip())
    return ModelInfo(model_type=args.model_type or '', mean=tuple(args.mean or ()),
                     scale=tuple(args.scale or ()), color_order=args.color_order or '',
                     labels=labels, output_unit=args.output_unit or '')


def _usage_error(args):
    if os.path.splitext(args.output)[1].lower() != '.xml':
        return f"--output '{args.output}' must end in .xml"
    if args.torch_module and not args.input_shape:
        return '--torch-module needs --input-shape: the example input PyTorch is traced with'
    if args.samples < 1:
        return '--samples must be at least 1'
    if args.embed_preprocessing and not (args.encoding and args.camera_size):
        return '--embed-preprocessing needs --encoding and --camera-size'
    given = [name for name in _EMBEDDING_OPTIONS if getattr(args, name) is not None]
    if given and not args.embed_preprocessing:
        options = ', '.join('--' + name.replace('_', '-') for name in given)
        return f'{options} only apply with --embed-preprocessing'
    return ''


def _progress(message):
    print(f'{message} ...', file=sys.stderr, flush=True)


def _shape(text):
    try:
        name, shape = parse_input_shape(text)
    except ValueError as error:
        raise argparse.ArgumentTypeError(str(error)) from None
    if name is not None:
        raise argparse.ArgumentTypeError(f"'{text}': convert takes the shapes in input order, "
                                         'without NAME=')
    return shape


def _camera_size(text):
    width, _, height = text.lower().partition('x')
    try:
        size = int(width), int(height)
    except ValueError:
        raise argparse.ArgumentTypeError(f"'{text}' is not WIDTHxHEIGHT") from None
    if min(size) < 1:
        raise argparse.ArgumentTypeError(f"'{text}': width and height must be positive")
    return size
