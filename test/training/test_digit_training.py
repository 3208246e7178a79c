"""Toy-scale digit classifier training and OpenVINO export, end to end on the CPU."""

import json

import numpy as np
import pytest

torch = pytest.importorskip('torch')
pytest.importorskip('sklearn')
ov = pytest.importorskip('openvino')

from edge_perception.core.classification import class_count, load_labels  # noqa: E402
from edge_perception.core.opset_lowering import opset_number  # noqa: E402
from edge_perception.training import digits, train_digit_classifier  # noqa: E402
from edge_perception.training.train_digit_classifier import DigitClassifier  # noqa: E402


@pytest.fixture(scope='module')
def toy_run(tmp_path_factory):
    torch.set_num_threads(1)
    output_dir = tmp_path_factory.mktemp('digits')
    train_digit_classifier.main(
        [
            '--output-dir',
            str(output_dir),
            '--epochs',
            '1',
            '--train-limit',
            '24',
            '--test-limit',
            '6',
            '--batch-size',
            '12',
            '--render-sizes',
            '64x48',
            '--evaluation-size',
            '64x48',
            '--log-every',
            '1',
        ]
    )
    return output_dir


def test_toy_run_writes_ir_labels_and_metrics(toy_run):
    xml = toy_run / train_digit_classifier.IR_FILE_NAME
    assert xml.exists() and xml.with_suffix('.bin').exists()
    report = json.loads((toy_run / train_digit_classifier.METRICS_FILE_NAME).read_text())
    assert report['training']['steps'] == 2
    # From the architecture: 3x3 convolutions 1->16, 16->32, 32->32, 32->64 without bias, batch
    # norm (2 per channel) after each, and a linear layer over 64 x 4 x 4 features to 10 logits.
    convolutions = [(1, 16), (16, 32), (32, 32), (32, 64)]
    expected = sum(9 * c_in * c_out + 2 * c_out for c_in, c_out in convolutions) + 64 * 16 * 10 + 10
    assert report['parameters'] == expected
    assert report['ir']['input']['name'] == 'image'
    assert report['ir']['output']['name'] == 'logits'
    for key in ('test_torch_fp32', 'test_openvino_cpu_fp16'):
        assert report[key]['total'] == 6
        assert np.array(report[key]['confusion_matrix_rows_true_columns_predicted']).sum() == 6


def test_labels_file_names_class_i_on_line_i(toy_run):
    text = (toy_run / train_digit_classifier.LABELS_FILE_NAME).read_text()
    assert text == '0\n1\n2\n3\n4\n5\n6\n7\n8\n9\n'
    labels_path = str(toy_run / train_digit_classifier.LABELS_FILE_NAME)
    assert load_labels(labels_path, 10) == [str(digit) for digit in range(10)]


def test_toy_ir_compiles_with_named_static_input_and_logits_output(toy_run):
    model = ov.Core().read_model(toy_run / train_digit_classifier.IR_FILE_NAME)
    assert any(
        op.get_type_name() == 'Constant' and op.get_element_type() == ov.Type.f16
        for op in model.get_ops()
    )
    compiled = ov.Core().compile_model(model, 'CPU')
    assert compiled.input(0).get_any_name() == 'image'
    assert compiled.output(0).get_any_name() == 'logits'
    assert compiled.input(0).get_partial_shape() == ov.PartialShape([1, 1, 32, 32])
    assert compiled.input(0).get_element_type() == ov.Type.f32
    assert compiled.output(0).get_partial_shape() == ov.PartialShape([1, 10])
    assert class_count([list(compiled.output(0).get_shape())]) == 10
    logits = compiled(np.zeros((1, 1, 32, 32), np.float32))['logits']
    # Raw logits, not probabilities: no softmax inside the IR.
    assert logits.shape == (1, 10)
    assert not np.isclose(logits.sum(), 1.0, atol=1e-3)


def test_exported_ir_matches_torch_within_fp16_tolerance(tmp_path):
    torch.manual_seed(1)
    model = DigitClassifier()
    with torch.no_grad():
        # Realistic batch-norm statistics and a spread of logits, so the comparison is not
        # between near-constant outputs.
        model.classifier[-1].weight.normal_(0.0, 0.2)
        model.train()
        model(torch.randn(8, 1, 32, 32))
    model.eval()
    frame = digits.render_camera_frame(np.eye(8, dtype=np.float32) * 16, 160, 120, seed=3)
    image = digits.model_input(frame)
    expected = train_digit_classifier.predict_with_torch(model, image)
    xml = tmp_path / 'model.xml'
    train_digit_classifier.export_openvino(model, xml)
    # In the operations of OpenVINO 2022.3, the NCS2's runtime (opset1 to opset10).
    assert max(opset_number(node) for node in ov.Core().read_model(xml).get_ordered_ops()) <= 10
    compiled = ov.Core().compile_model(xml, 'CPU')
    actual = train_digit_classifier.predict_with_openvino(compiled, image)
    assert expected.std() > 0.1
    np.testing.assert_allclose(actual, expected, rtol=2e-2, atol=2e-2 * np.abs(expected).max())


def test_confusion_matrix_counts_true_rows_and_predicted_columns():
    matrix = train_digit_classifier.confusion_matrix(np.array([1, 1, 2]), np.array([1, 7, 2]))
    assert matrix[1, 1] == 1 and matrix[1, 7] == 1 and matrix[2, 2] == 1
    assert matrix.sum() == 3


def test_learning_rate_schedule_warms_up_and_decays_to_zero():
    peak = 1e-3
    assert train_digit_classifier.learning_rate_at(0.0, peak) < 0.1 * peak
    assert train_digit_classifier.learning_rate_at(0.05, peak) == pytest.approx(peak)
    assert train_digit_classifier.learning_rate_at(1.0, peak) == pytest.approx(0.0, abs=1e-12)
