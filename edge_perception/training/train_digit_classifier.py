"""Train the bundled handwritten-digit classifier on the CPU and export it as OpenVINO IR.

Run ``python -m edge_perception.training.train_digit_classifier --help`` for the options;
``docs/digit_classifier.md`` has the command that produced the shipped model.

Steps: split scikit-learn's digits into training and test digits (fixed seed); every epoch,
render each training digit afresh as a camera frame (:mod:`.digits`) and apply the input
contract; train a small CNN; export ``digit_classifier.xml``/``.bin`` (FP16 weights) with input
``image`` (1×1×32×32 float32) and output ``logits`` (1×10, no softmax); write ``labels.txt``;
render the test digits as 640×480 camera frames with a fixed seed and measure accuracy through
torch and through the exported IR on the OpenVINO CPU device; write ``metrics.json``.
"""

from __future__ import annotations

import argparse
import json
import math
from pathlib import Path
import time

# isort: off
# First: it sets how torch's OpenMP threads wait, which must come before torch is imported.
from edge_perception.training.run_setup import run_record, set_up_torch, warmup_cosine
# isort: on
import numpy as np
import openvino as ov
import torch
from torch import nn

from edge_perception.core.model_info import CLASSIFICATION, ModelInfo
from edge_perception.core.preprocessing import GRAY_WEIGHTS_RGB
from edge_perception.networks.fastdepth import count_multiply_accumulates, count_parameters
from edge_perception.training.digits import (
    CLASS_COUNT,
    INPUT_MEAN,
    INPUT_SCALE,
    INPUT_SIZE,
    LABELS,
    load_digit_split,
    model_input,
    model_inputs,
    render_camera_frame,
    render_camera_frames,
    SPLIT_SEED,
    TEST_SHARE,
    TRAINING_STYLE,
)
from edge_perception.training.export import export_ir

IR_INPUT_NAME = 'image'
IR_OUTPUT_NAME = 'logits'
IR_FILE_NAME = 'digit_classifier.xml'
LABELS_FILE_NAME = 'labels.txt'
METRICS_FILE_NAME = 'metrics.json'
#: What the IR says about itself: the nodes and tools feed it by this.
MODEL_INFO = ModelInfo(model_type=CLASSIFICATION, mean=(INPUT_MEAN,), scale=(INPUT_SCALE,),
                       labels=LABELS, output_unit='logits',
                       title='Handwritten digit classifier (0-9), logits')

#: The exported IR's contract, as the metrics file states it.
IR_DESCRIPTION = {
    'xml': IR_FILE_NAME,
    'labels': LABELS_FILE_NAME,
    'weights': 'FP16',
    'input': {
        'name': IR_INPUT_NAME,
        'shape': [1, 1, INPUT_SIZE, INPUT_SIZE],
        'type': 'f32',
        'layout': 'NCHW',
        'gray': f'{GRAY_WEIGHTS_RGB[0]} R + {GRAY_WEIGHTS_RGB[1]} G + '
        f'{GRAY_WEIGHTS_RGB[2]} B of the rgb8 frame, float',
        'resize': f'whole frame squashed to {INPUT_SIZE}x{INPUT_SIZE}, bilinear '
        '(cv2.INTER_LINEAR), aspect ratio not kept',
        'normalisation': f'(gray - {INPUT_MEAN}) / {INPUT_SCALE}, not inside the IR',
    },
    'output': {
        'name': IR_OUTPUT_NAME,
        'shape': [1, CLASS_COUNT],
        'type': 'f32',
        'meaning': 'raw logits, no softmax; index i is line i of labels.txt',
    },
}

#: Seed of the camera frames the test digits are rendered into for the reported accuracy.
EVALUATION_SEED = 1_000_000

#: The learning rate: 5 % linear warm-up, then cosine decay.
learning_rate_at = warmup_cosine(warmup_share=0.05)


class DigitClassifier(nn.Module):
    """A small VGG-style CNN: 32×32 gray in, 10 logits out.

    Three stages of 3×3 convolution + batch norm + ReLU, each followed by 2×2 max pooling
    (32 → 16 → 8 → 4), then dropout and one linear layer over the 4×4×64 features. Flattening
    instead of global pooling keeps where each stroke is, which separates e.g. 6 from 9.
    """

    def __init__(self, classes: int = CLASS_COUNT) -> None:
        super().__init__()

        def stage(*channels: int) -> list[nn.Module]:
            layers: list[nn.Module] = []
            for in_channels, out_channels in zip(channels[:-1], channels[1:], strict=True):
                layers += [
                    nn.Conv2d(in_channels, out_channels, 3, padding=1, bias=False),
                    nn.BatchNorm2d(out_channels),
                    nn.ReLU(inplace=True),
                ]
            return [*layers, nn.MaxPool2d(2)]

        self.features = nn.Sequential(*stage(1, 16), *stage(16, 32, 32), *stage(32, 64))
        self.classifier = nn.Sequential(
            nn.Flatten(), nn.Dropout(0.25), nn.Linear(64 * (INPUT_SIZE // 8) ** 2, classes)
        )

    def forward(self, image: torch.Tensor) -> torch.Tensor:
        """Map N×1×32×32 normalised gray images to N×10 logits."""
        return self.classifier(self.features(image))


def _parse_size(text: str) -> tuple[int, int]:
    """Parse ``WIDTHxHEIGHT``."""
    width, _, height = text.lower().partition('x')
    try:
        size = (int(width), int(height))
    except ValueError:
        raise argparse.ArgumentTypeError(f'{text!r} is not WIDTHxHEIGHT') from None
    if min(size) < 8:
        raise argparse.ArgumentTypeError(f'{text!r}: both sides must be at least 8 pixels')
    return size


def parse_arguments(argv: list[str] | None = None) -> argparse.Namespace:
    """Command-line options.

    :param argv: arguments without the program name; ``sys.argv[1:]`` when ``None``.
    :returns: parsed options.
    """
    parser = argparse.ArgumentParser(
        description=__doc__.split('\n\n')[0],
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    parser.add_argument(
        '--output-dir',
        type=Path,
        default=Path('models/digits'),
        help='where the IR, labels.txt and metrics.json are written',
    )
    parser.add_argument('--epochs', type=int, default=40, help='passes over the training digits')
    parser.add_argument('--batch-size', type=int, default=64)
    parser.add_argument('--learning-rate', type=float, default=3e-3, help='peak AdamW rate')
    parser.add_argument('--weight-decay', type=float, default=5e-4)
    parser.add_argument('--label-smoothing', type=float, default=0.05)
    parser.add_argument(
        '--render-sizes',
        type=_parse_size,
        nargs='+',
        default=[(128, 96), (160, 120)],
        metavar='WxH',
        help='camera frame sizes training frames are rendered at (one drawn per frame)',
    )
    parser.add_argument(
        '--evaluation-size',
        type=_parse_size,
        default=(640, 480),
        metavar='WxH',
        help='camera frame size the test digits are rendered at',
    )
    parser.add_argument(
        '--train-limit',
        type=int,
        default=0,
        help='use only the first N training digits (0: all); for quick trials',
    )
    parser.add_argument(
        '--test-limit',
        type=int,
        default=0,
        help='evaluate only the first N test digits (0: all); for quick trials',
    )
    parser.add_argument('--threads', type=int, default=1, help='torch CPU threads')
    parser.add_argument('--seed', type=int, default=0, help='seed of weights, order and renders')
    parser.add_argument('--log-every', type=int, default=5, help='epochs between log lines')
    return parser.parse_args(argv)


def render_training_inputs(
    images: np.ndarray,
    sizes: list[tuple[int, int]],
    seed: int,
    epoch: int,
) -> np.ndarray:
    """Render every training digit as a fresh camera frame and apply the input contract.

    Frames use :data:`~.digits.TRAINING_STYLE`: the test frames' camera conditions plus a random
    warp of the handwriting.

    Frame ``i`` of an epoch uses the render seed ``(seed, epoch, i)``; frame sizes are drawn
    from ``sizes`` with the seed ``(seed, epoch)``. A run is therefore reproducible.

    :param images: N×8×8 training digits.
    :param sizes: (width, height) choices.
    :param seed: run seed.
    :param epoch: epoch number.
    :returns: N×1×32×32 float32 model inputs.
    """
    size_choices = np.random.default_rng((seed, epoch)).integers(len(sizes), size=len(images))
    inputs = np.empty((len(images), 1, INPUT_SIZE, INPUT_SIZE), dtype=np.float32)
    for index, (image, size_choice) in enumerate(zip(images, size_choices, strict=True)):
        width, height = sizes[size_choice]
        frame = render_camera_frame(image, width, height, (seed, epoch, index), TRAINING_STYLE)
        inputs[index] = model_input(frame)
    return inputs


def train(
    model: DigitClassifier,
    images: np.ndarray,
    labels: np.ndarray,
    arguments: argparse.Namespace,
) -> dict[str, float | int]:
    """Optimise ``model`` on freshly rendered frames of the training digits.

    :param model: the network, updated in place.
    :param images: N×8×8 training digits.
    :param labels: their classes.
    :param arguments: options from :func:`parse_arguments`.
    :returns: steps, final training loss and accuracy, wall time of rendering and optimising.
    """
    rng = np.random.default_rng(arguments.seed)
    optimiser = torch.optim.AdamW(
        model.parameters(), lr=arguments.learning_rate, weight_decay=arguments.weight_decay
    )
    loss_function = nn.CrossEntropyLoss(label_smoothing=arguments.label_smoothing)
    steps_per_epoch = math.ceil(len(images) / arguments.batch_size)
    total_steps = arguments.epochs * steps_per_epoch
    label_tensor = torch.from_numpy(labels)
    render_seconds = 0.0
    start = time.monotonic()
    step = 0
    for epoch in range(arguments.epochs):
        render_start = time.monotonic()
        inputs = torch.from_numpy(
            render_training_inputs(images, arguments.render_sizes, arguments.seed, epoch)
        )
        render_seconds += time.monotonic() - render_start
        model.train()
        order = rng.permutation(len(images))
        loss_sum = 0.0
        correct = 0
        for batch_start in range(0, len(order), arguments.batch_size):
            batch = torch.from_numpy(order[batch_start : batch_start + arguments.batch_size])
            for group in optimiser.param_groups:
                group['lr'] = learning_rate_at(step / total_steps, arguments.learning_rate)
            logits = model(inputs[batch])
            loss = loss_function(logits, label_tensor[batch])
            optimiser.zero_grad(set_to_none=True)
            loss.backward()
            optimiser.step()
            loss_sum += loss.item() * len(batch)
            correct += int((logits.argmax(1) == label_tensor[batch]).sum())
            step += 1
        epoch_loss = loss_sum / len(images)
        epoch_accuracy = correct / len(images)
        if (epoch + 1) % arguments.log_every == 0 or epoch + 1 == arguments.epochs:
            print(
                f'epoch {epoch + 1:3d}/{arguments.epochs}  step {step:5d}  '
                f'loss {epoch_loss:.4f}  train accuracy {epoch_accuracy:.4f}  '
                f'{time.monotonic() - start:6.1f} s',
                flush=True,
            )
    model.eval()
    return {
        'steps': step,
        'final_epoch_loss': round(epoch_loss, 5),
        'final_epoch_train_accuracy': round(epoch_accuracy, 5),
        'render_seconds': round(render_seconds, 1),
        'seconds': round(time.monotonic() - start, 1),
    }


def predict_with_torch(model: DigitClassifier, inputs: np.ndarray) -> np.ndarray:
    """Logits for model inputs.

    :param model: the network (switched to eval mode).
    :param inputs: N×1×32×32 float32 (the input contract applied).
    :returns: N×10 float32 logits.
    """
    model.eval()
    with torch.no_grad():
        return model(torch.from_numpy(inputs)).numpy()


def predict_with_openvino(compiled: ov.CompiledModel, inputs: np.ndarray) -> np.ndarray:
    """Logits from the compiled IR, one frame per inference (its batch is fixed at 1).

    :param compiled: the compiled classifier IR.
    :param inputs: N×1×32×32 float32.
    :returns: N×10 float32 logits.
    """
    request = compiled.create_infer_request()
    return np.concatenate(
        [request.infer({IR_INPUT_NAME: single[None]})[IR_OUTPUT_NAME] for single in inputs]
    )


def export_openvino(model: DigitClassifier, xml_path: Path) -> ov.Model:
    """Export the classifier: input ``image`` 1×1×32×32, output ``logits`` 1×10 raw scores
    (the node adds the softmax to the graph), FP16 weights.
    """
    return export_ir(model, [1, 1, INPUT_SIZE, INPUT_SIZE], xml_path, IR_INPUT_NAME,
                     IR_OUTPUT_NAME, MODEL_INFO)


def write_labels(path: Path) -> None:
    """Write one class name per line, line ``i`` naming class ``i``.

    :param path: destination file.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(''.join(f'{label}\n' for label in LABELS))


def confusion_matrix(truth: np.ndarray, predicted: np.ndarray) -> np.ndarray:
    """Count matrix, rows the true class and columns the predicted class.

    :param truth: N true classes.
    :param predicted: N predicted classes.
    :returns: 10×10 int64.
    """
    matrix = np.zeros((CLASS_COUNT, CLASS_COUNT), dtype=np.int64)
    np.add.at(matrix, (truth, predicted), 1)
    return matrix


def _classification_report(truth: np.ndarray, logits: np.ndarray) -> dict:
    """Accuracy, confusion matrix and the confusions that occurred, most frequent first."""
    predicted = logits.argmax(axis=1)
    matrix = confusion_matrix(truth, predicted)
    off_diagonal = [
        (int(matrix[row, column]), row, column)
        for row in range(CLASS_COUNT)
        for column in range(CLASS_COUNT)
        if row != column and matrix[row, column]
    ]
    return {
        'accuracy': round(float(np.mean(predicted == truth)), 5),
        'correct': int(np.sum(predicted == truth)),
        'total': len(truth),
        'confusion_matrix_rows_true_columns_predicted': matrix.tolist(),
        'confusions': [
            {'true': LABELS[row], 'predicted': LABELS[column], 'count': count}
            for count, row, column in sorted(off_diagonal, key=lambda item: (-item[0], item[1:]))
        ],
    }


def main(argv: list[str] | None = None) -> None:
    """Entry point: split, training, export, labels, evaluation, metrics JSON.

    :param argv: arguments without the program name; ``sys.argv[1:]`` when ``None``.
    """
    arguments = parse_arguments(argv)
    set_up_torch(arguments.threads, arguments.seed)
    run_start = time.monotonic()
    train_images, train_labels, test_images, test_labels = _digit_split(arguments)
    print(f'digits: {len(train_images)} training, {len(test_images)} test', flush=True)

    model = DigitClassifier()
    training_summary = train(model, train_images, train_labels, arguments)
    xml_path = arguments.output_dir / IR_FILE_NAME
    export_openvino(model, xml_path)
    write_labels(arguments.output_dir / LABELS_FILE_NAME)

    evaluation_width, evaluation_height = arguments.evaluation_size
    test_inputs = model_inputs(render_camera_frames(
        test_images, evaluation_width, evaluation_height, EVALUATION_SEED))
    torch_logits = predict_with_torch(model, test_inputs)
    openvino_logits = predict_with_openvino(ov.Core().compile_model(xml_path, 'CPU'), test_inputs)
    torch_report = _classification_report(test_labels, torch_logits)
    openvino_report = _classification_report(test_labels, openvino_logits)
    print(f"test accuracy (torch, FP32): {torch_report['accuracy']:.4f}", flush=True)
    print(f"test accuracy (OpenVINO CPU, FP16 IR): {openvino_report['accuracy']:.4f}", flush=True)

    report = {
        'model': 'DigitClassifier: 4 conv3x3+BN+ReLU (16, 32, 32, 64), 3 max-pools, linear',
        'parameters': count_parameters(model),
        'multiply_accumulates': count_multiply_accumulates(
            model, (1, 1, INPUT_SIZE, INPUT_SIZE)
        ),
        'ir': IR_DESCRIPTION,
        'dataset': {
            'source': 'sklearn.datasets.load_digits (1797 8x8 images, bundled with scikit-learn)',
            'split': f'stratified per class, {TEST_SHARE:.0%} test, seed {SPLIT_SEED}',
            'train_digits': len(train_images),
            'test_digits': len(test_images),
            'training_render_sizes': [f'{w}x{h}' for w, h in arguments.render_sizes],
            'test_frames': f'{evaluation_width}x{evaluation_height}, render seed '
            f'{EVALUATION_SEED} (frame i: seed ({EVALUATION_SEED}, i))',
        },
        'training': run_record(arguments, training_summary),
        'test_torch_fp32': torch_report,
        'test_openvino_cpu_fp16': openvino_report,
        'torch_openvino_prediction_agreement': round(
            float(np.mean(torch_logits.argmax(1) == openvino_logits.argmax(1))), 5
        ),
        'torch_openvino_max_abs_logit_difference': round(
            float(np.max(np.abs(torch_logits - openvino_logits))), 5
        ),
        'openvino_version': ov.get_version(),
        'total_seconds': round(time.monotonic() - run_start, 1),
    }
    metrics_path = arguments.output_dir / METRICS_FILE_NAME
    metrics_path.write_text(json.dumps(report, indent=2) + '\n')
    print(f'wrote {xml_path}, {LABELS_FILE_NAME} and {metrics_path}', flush=True)


def _digit_split(arguments: argparse.Namespace) -> tuple[np.ndarray, ...]:
    """Training images and labels, test images and labels, cut to ``--train/test-limit``."""
    split = load_digit_split()
    train_images, train_labels = split.train_images, split.train_labels
    if arguments.train_limit:
        train_images = train_images[: arguments.train_limit]
        train_labels = train_labels[: arguments.train_limit]
    test_images, test_labels = split.test_images, split.test_labels
    if arguments.test_limit:
        test_images = test_images[: arguments.test_limit]
        test_labels = test_labels[: arguments.test_limit]
    return train_images, train_labels, test_images, test_labels


if __name__ == '__main__':
    main()
