"""``edge-perception quantize``: INT8 post-training quantisation, and what it costs."""

import sys

from edge_perception.cli.target_runtime import add_target_runtime_option, warn_unreadable
from edge_perception.core.engine import check_device, create_core, load_model
from edge_perception.core.model_info import read_model_info, write_model_info
from edge_perception.core.openvino_compat import save_model
from edge_perception.core.opset_lowering import lower_for_runtime
from edge_perception.core.preprocessing import resolve_normalisation
from edge_perception.replay.node_config import read_parameters
from edge_perception.toolchain.labelled_frames import DEFAULT_IMAGE_TOPIC, load_frames
from edge_perception.toolchain.quantization import evaluate, PRESETS, quantize, with_fp16_weights


def add_arguments(parser):
    """Add the quantize options to an argparse parser."""
    parser.add_argument('model', help='OpenVINO IR (.xml) or ONNX model to quantise')
    parser.add_argument('--data', required=True,
                        help='calibration frames: a folder of images (class folders 0/, 1/, ... '
                             'give labels) or a rosbag2 directory')
    parser.add_argument('-o', '--output', required=True, help='INT8 IR to write (.xml)')
    parser.add_argument('--image-topic', default=DEFAULT_IMAGE_TOPIC,
                        help='image topic in a bag (default: %(default)s)')
    parser.add_argument('--subset-size', type=int, default=300,
                        help='calibration frames used (default: %(default)s)')
    parser.add_argument('--preset', choices=PRESETS, default='performance',
                        help='NNCF preset (default: %(default)s)')
    parser.add_argument('--params-file',
                        help='node parameter file whose mean/scale/color_order the node would '
                             'apply (e.g. config/depth.yaml); unset ones come from the model')
    parser.add_argument('--mean', type=float, nargs='+', default=[],
                        help="per-channel mean on 0-255 values (default: the parameter file's, "
                             "else the model's own, else 0)")
    parser.add_argument('--scale', type=float, nargs='+', default=[],
                        help="per-channel scale on 0-255 values (default: the parameter file's, "
                             "else the model's own, else 1)")
    parser.add_argument('--color-order', choices=('RGB', 'BGR'), default='',
                        help="channel order of a colour model (default: the parameter file's, "
                             "else the model's own, else RGB)")
    parser.add_argument('--eval', action='store_true',
                        help='print FP32, FP16-weight and INT8 accuracy (needs labels or '
                             'ground-truth depth)')
    parser.add_argument('--eval-data',
                        help='held-out frames for --eval, read like --data (default: --data)')
    parser.add_argument('--device', default='CPU', help='device for --eval (default: CPU)')
    add_target_runtime_option(parser)


def run(args):
    """Quantise, save, and optionally compare accuracies; return the exit code."""
    core = create_core()
    check_device(core, args.device)
    model = load_model(core, args.model)
    model_info = read_model_info(model)
    normalisation = _normalisation(args, model_info)
    frames = load_frames(args.data, image_topic=args.image_topic)
    print(f'calibrating on {min(args.subset_size, len(frames))} of {len(frames)} frames '
          f'from {args.data}', file=sys.stderr)
    quantized = write_model_info(
        quantize(model, frames, normalisation, args.subset_size, args.preset), model_info)
    warn_unreadable('quantize', lower_for_runtime(quantized, args.target_runtime),
                    args.target_runtime, args.output)
    save_model(quantized, args.output, compress_to_fp16=True)
    print(f'wrote {args.output}')
    if args.eval:
        variants = (('FP32', model), ('FP16 weights', with_fp16_weights(core, model)),
                    ('INT8', load_model(core, args.output)))
        eval_frames = load_frames(args.eval_data, image_topic=args.image_topic) \
            if args.eval_data else frames
        results = [(name, evaluate(core, variant, eval_frames, normalisation, args.device))
                   for name, variant in variants]
        metrics = list(results[0][1])
        print(f'{"precision":<14}' + ''.join(f'{name:>12}' for name in metrics))
        for name, values in results:
            print(f'{name:<14}' + ''.join(f'{values[metric]:>12.4f}' for metric in metrics))
    return 0


def _normalisation(args, model_info):
    """Options first, then the parameter file the node would run with, then the model."""
    parameters = read_parameters(args.params_file) if args.params_file else {}
    normalisation, _ = resolve_normalisation(
        model_info, args.mean or parameters.get('mean', ()),
        args.scale or parameters.get('scale', ()),
        args.color_order or parameters.get('color_order', ''))
    return normalisation
