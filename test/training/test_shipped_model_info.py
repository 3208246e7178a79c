"""The bundled IRs say what their training did: one source for normalisation and labels."""

import pytest

pytest.importorskip('torch')
pytest.importorskip('sklearn')

from edge_perception.core.engine import create_core, load_model  # noqa: E402
from edge_perception.core.model_info import read_model_info  # noqa: E402
from edge_perception.package_paths import shared_file  # noqa: E402
from edge_perception.training import train_digit_classifier, train_fastdepth  # noqa: E402


@pytest.mark.parametrize('trainer, folder', [(train_fastdepth, 'fastdepth'),
                                             (train_digit_classifier, 'digits')])
def test_the_bundled_ir_carries_what_its_training_script_writes(trainer, folder):
    model = load_model(create_core(), shared_file('models', folder, trainer.IR_FILE_NAME))
    assert read_model_info(model) == trainer.MODEL_INFO


def test_training_normalises_as_the_ir_says():
    info = train_fastdepth.MODEL_INFO
    assert info.mean == (123.675, 116.28, 103.53) and info.scale == (58.395, 57.12, 57.375)
    assert info.color_order == 'RGB' and info.output_unit == 'metres'
    digits = train_digit_classifier.MODEL_INFO
    assert (digits.mean, digits.scale, digits.output_unit) == ((127.5,), (127.5,), 'logits')
    assert digits.labels == tuple(str(digit) for digit in range(10))
