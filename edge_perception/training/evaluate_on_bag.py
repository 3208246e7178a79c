r"""Evaluate a FastDepth IR through OpenVINO on a recording with ground-truth depth.

Usage::

    python -m edge_perception.training.evaluate_on_bag \
        --model models/fastdepth/fastdepth.xml --bag data/demo_depth_bag \
        --output models/fastdepth/fastdepth_demo_bag_metrics.json

Each frame goes through the node's steps, with the node's code: the camera image is squashed to
the model's input size (bilinear) and normalised as the IR's metadata says
(:class:`~edge_perception.core.preprocessing.HostPreprocessor`), inferred, and the depth map is
resized back to the camera resolution (:class:`~edge_perception.core.heads.DepthHead`, no range
cut). Metrics compare that with the ground truth at camera resolution, pooled over all valid
pixels of all frames.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
import time

import numpy as np

from edge_perception.bags.reader import read_depth_bag
from edge_perception.bags.types import DEFAULT_DEPTH_TOPIC, DEFAULT_IMAGE_TOPIC
from edge_perception.core.engine import compile_model, create_core, load_model
from edge_perception.core.heads import DepthHead
from edge_perception.core.metrics import compute_depth_metrics, DepthMetrics
from edge_perception.core.model_info import read_model_info
from edge_perception.core.preprocessing import HostPreprocessor, resolve_normalisation


def evaluate_on_bag(
    model_path: Path,
    bag_path: Path,
    device: str = 'CPU',
    image_topic: str = DEFAULT_IMAGE_TOPIC,
    depth_topic: str = DEFAULT_DEPTH_TOPIC,
) -> tuple[DepthMetrics, int, float]:
    """Run the IR on every frame of a bag and compare with its ground truth.

    :param model_path: FastDepth ``.xml``.
    :param bag_path: rosbag2 directory with image, camera info and ground-truth depth.
    :param device: OpenVINO device.
    :param image_topic: colour image topic.
    :param depth_topic: ground-truth depth topic.
    :returns: pooled metrics, number of frames, median inference-plus-resize time in ms.
    """
    core = create_core()
    model = load_model(core, model_path)
    normalisation, _ = resolve_normalisation(read_model_info(model))
    preprocess = HostPreprocessor(model, 'rgb8', normalisation)
    request = compile_model(core, model, device).create_infer_request()
    head = DepthHead(min_depth=0.0, max_depth=float('inf'))
    frames = read_depth_bag(bag_path, image_topic=image_topic, depth_topic=depth_topic)
    predictions = []
    durations = []
    for frame in frames:
        start = time.perf_counter()
        height, width = frame.rgb.shape[:2]
        outputs = request.infer({0: preprocess(frame.rgb)})
        predictions.append(head.depth(list(outputs.values()), width, height))
        durations.append(time.perf_counter() - start)
    metrics = compute_depth_metrics(
        np.stack(predictions), np.stack([frame.depth for frame in frames])
    )
    return metrics, len(frames), float(np.median(durations) * 1000.0) if durations else 0.0


def main(argv: list[str] | None = None) -> None:
    """Entry point.

    :param argv: arguments without the program name; ``sys.argv[1:]`` when ``None``.
    """
    parser = argparse.ArgumentParser(
        description='Evaluate a FastDepth IR on a bag with ground-truth depth.',
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    parser.add_argument('--model', type=Path, default=Path('models/fastdepth/fastdepth.xml'))
    parser.add_argument('--bag', type=Path, default=Path('data/demo_depth_bag'))
    parser.add_argument('--device', default='CPU', help='OpenVINO device')
    parser.add_argument('--output', type=Path, help='also write the metrics to this JSON file')
    arguments = parser.parse_args(argv)
    metrics, frame_count, median_ms = evaluate_on_bag(
        arguments.model, arguments.bag, arguments.device
    )
    report = {
        'model': str(arguments.model),
        'bag': str(arguments.bag),
        'frames': frame_count,
        'device': arguments.device,
        'evaluated_at': 'camera resolution, model output resized bilinearly',
        'median_inference_and_resize_ms': round(median_ms, 1),
        'metrics': metrics.as_dict(),
    }
    text = json.dumps(report, indent=2)
    print(text)
    if arguments.output:
        arguments.output.write_text(text + '\n')


if __name__ == '__main__':
    main()
