"""Fine-tuning starts from an exported IR: its folded weights back in a trainable FastDepth."""

from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip('torch')

from edge_perception.core.openvino_compat import Core  # noqa: E402
from edge_perception.training.warm_start import fastdepth_from_ir, WarmStartError  # noqa: E402

from tiny_models import passthrough_model, write_model  # noqa: E402

SHIPPED_IR = Path(__file__).resolve().parents[2] / 'models' / 'fastdepth' / 'fastdepth.xml'


def _images(count, seed):
    return np.random.default_rng(seed).standard_normal((count, 3, 224, 224)).astype(np.float32)


def _ir_depth(images):
    compiled = Core().compile_model(str(SHIPPED_IR), 'CPU', {'INFERENCE_PRECISION_HINT': 'f32'})
    return compiled(images)['depth']


def test_a_warm_started_network_computes_what_its_ir_computes():
    calibration, images = _images(4, 1), _images(2, 2)
    model = fastdepth_from_ir(SHIPPED_IR, calibration)
    model.eval()
    with torch.no_grad():
        depth = model(torch.from_numpy(images)).numpy()
    np.testing.assert_allclose(depth, _ir_depth(images), rtol=1e-4)


def test_in_training_mode_it_still_computes_the_ir_on_its_calibration_batch():
    # Batch statistics equal the calibration statistics there: the first fine-tuning steps
    # start from the IR's predictions, not from re-normalised activations.
    calibration = _images(4, 3)
    model = fastdepth_from_ir(SHIPPED_IR, calibration)
    model.train()
    with torch.no_grad():
        depth = model(torch.from_numpy(calibration)).numpy()
    np.testing.assert_allclose(depth, _ir_depth(calibration), rtol=1e-3)


def test_an_ir_that_is_not_fastdepth_is_refused_clearly(tmp_path):
    other = write_model(passthrough_model(3, 224, 224), tmp_path, 'other')
    with pytest.raises(WarmStartError, match='0 convolutions, FastDepth has 38'):
        fastdepth_from_ir(other, _images(1, 4))
