"""``edge-perception quantize``: INT8 post-training quantisation, and what it costs."""

import sys

import yaml

from edge_perception.core.engine import check_device, create_core, load_model
from edge_perception.core.openvino_compat import save_model
from edge_perception.core.preprocessing import Normalisation
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
                        help='node parameter YAML to take mean/scale/color_order from '
                             '(e.g. config/depth.yaml)')
    parser.add_argument('--mean', type=float, nargs='+', default=[0.0],
                        help='per-channel mean on 0-255 values, as the node applies it')
    parser.add_argument('--scale', type=float, nargs='+', default=[1.0],
                        help='per-channel scale on 0-255 values, as the node applies it')
    parser.add_argument('--color-order', choices=('RGB', 'BGR'), default='RGB')
    parser.add_argument('--eval', action='store_true',
                        help='print FP32, FP16-weight and INT8 accuracy (needs labels or '
                             'ground-truth depth)')
    parser.add_argument('--eval-data',
                        help='held-out frames for --eval, read like --data (default: --data)')
    parser.add_argument('--device', default='CPU', help='device for --eval (default: CPU)')


def run(args):
    """Quantise, save, and optionally compare accuracies; return the exit code."""
    normalisation = _normalisation(args)
    core = create_core()
    check_device(core, args.device)
    model = load_model(core, args.model)
    frames = load_frames(args.data, image_topic=args.image_topic)
    print(f'calibrating on {min(args.subset_size, len(frames))} of {len(frames)} frames '
          f'from {args.data}', file=sys.stderr)
    quantized = quantize(model, frames, normalisation, args.subset_size, args.preset)
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


def _normalisation(args):
    if not args.params_file:
        return Normalisation(tuple(args.mean), tuple(args.scale), args.color_order)
    with open(args.params_file, encoding='utf-8') as params_file:
        document = yaml.safe_load(params_file)
    parameters = next(iter(document.values()))['ros__parameters']
    return Normalisation(tuple(parameters['mean']), tuple(parameters['scale']),
                         parameters.get('color_order', 'RGB'))
