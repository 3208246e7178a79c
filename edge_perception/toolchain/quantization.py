"""INT8 post-training quantisation with NNCF, and what 8 bits cost in accuracy.

Calibration frames go through :class:`~edge_perception.core.preprocessing.HostPreprocessor`, the
same steps the nodes run in the graph, so the quantiser sees the inputs the robot will feed.
No rclpy here.
"""

from pathlib import Path
import tempfile

import numpy as np

from edge_perception.core.engine import compile_model
from edge_perception.core.heads import ClassifierHead, DepthHead
from edge_perception.core.metrics import compute_depth_metrics
from edge_perception.core.openvino_compat import save_model
from edge_perception.core.preprocessing import HostPreprocessor

PRESETS = ('performance', 'mixed')


class QuantizationError(RuntimeError):
    """NNCF is missing or could not quantise the model."""


def quantize(model, frames, normalisation, subset_size=300, preset='performance'):
    """Return an INT8 copy of ``model`` calibrated on ``frames``.

    :param model: ``ov.Model`` with one static image input.
    :param frames: :class:`~edge_perception.toolchain.labelled_frames.LabelledFrame` list.
    :param normalisation: the :class:`~edge_perception.core.preprocessing.Normalisation` the node
        applies to this model.
    :param subset_size: calibration frames used (at most ``len(frames)``).
    :param preset: 'performance' (symmetric) or 'mixed' (asymmetric activations).
    """
    try:
        import nncf
    except ImportError as error:
        raise QuantizationError('INT8 quantisation needs NNCF: pip install nncf') from error
    preprocess = HostPreprocessor(model, 'rgb8', normalisation)
    dataset = nncf.Dataset(frames, lambda frame: preprocess(frame.rgb))
    return nncf.quantize(model, dataset, subset_size=min(subset_size, len(frames)),
                         preset=getattr(nncf.QuantizationPreset, preset.upper()))


def with_fp16_weights(core, model):
    """Return ``model`` with its floating-point weights rounded to FP16 (as an FP16 IR has)."""
    with tempfile.TemporaryDirectory() as directory:
        path = Path(directory) / 'model.xml'
        save_model(model, path, compress_to_fp16=True)
        return core.read_model(str(path))


def evaluate(core, model, frames, normalisation, device='CPU'):
    """Score ``model`` on labelled frames with full-precision (f32) arithmetic.

    :return: ``{'top-1 %': ...}`` when the frames carry class labels, ``{'delta1': ...,
        'abs_rel': ..., 'rmse': ...}`` (means over frames) when they carry depth.
    :raises ValueError: when the frames carry neither.
    """
    preprocess = HostPreprocessor(model, 'rgb8', normalisation)
    compiled = compile_model(core, model, device, 'LATENCY',
                             inference_precision='f32' if device == 'CPU' else 'default')
    output = compiled.outputs[0]
    if all(frame.label is not None for frame in frames):
        head = ClassifierHead([], top_k=1)
        correct = sum(int(head.classify([compiled(preprocess(frame.rgb))[output]]).class_ids[0])
                      == frame.label for frame in frames)
        return {'top-1 %': 100.0 * correct / len(frames)}
    if all(frame.depth is not None for frame in frames):
        head = DepthHead()
        scores = []
        for frame in frames:
            height, width = frame.depth.shape
            depth = head.depth([compiled(preprocess(frame.rgb))[output]], width, height)
            scores.append(compute_depth_metrics(depth, frame.depth))
        return {name: float(np.mean([getattr(score, name) for score in scores]))
                for name in ('delta1', 'abs_rel', 'rmse')}
    raise ValueError('the frames carry neither class labels nor ground-truth depth')
