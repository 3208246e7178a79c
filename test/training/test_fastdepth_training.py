"""Toy-scale FastDepth training run and OpenVINO export, end to end on the CPU."""

import json

import numpy as np
import pytest

torch = pytest.importorskip('torch')
ov = pytest.importorskip('openvino')

from edge_perception.bags.reader import read_depth_bag  # noqa: E402
from edge_perception.training import evaluate_on_bag, make_demo_bag, train_fastdepth  # noqa: E402
from edge_perception.training.fastdepth import FastDepth  # noqa: E402


@pytest.fixture(scope='module')
def toy_run(tmp_path_factory):
    output_dir = tmp_path_factory.mktemp('fastdepth')
    train_fastdepth.main(
        [
            '--output-dir',
            str(output_dir),
            '--no-cache',
            '--train-scenes',
            '4',
            '--validation-scenes',
            '2',
            '--render-workers',
            '1',
            '--steps',
            '3',
            '--warmup-size',
            '64',
            '--warmup-batch-size',
            '2',
            '--batch-size',
            '2',
            '--log-every',
            '1',
        ]
    )
    return output_dir


def test_toy_run_writes_fp16_ir_and_metrics(toy_run):
    xml = toy_run / train_fastdepth.IR_FILE_NAME
    weights = xml.with_suffix('.bin')
    assert xml.exists()
    # 3.96 M parameters at 2 bytes each (FP16), plus a little for BN folded into constants.
    assert 7.5e6 < weights.stat().st_size < 8.5e6
    report = json.loads((toy_run / train_fastdepth.METRICS_FILE_NAME).read_text())
    assert report['training']['steps'] == 3
    assert report['training']['steps_at_warmup_size'] >= 1
    assert report['parameters'] == 3_960_929
    # The same network scored twice, in PyTorch (FP32) and through the exported FP16 IR: the
    # export and both evaluation paths must agree, pixel count for pixel count.
    torch_metrics = report['held_out_metrics_torch_fp32']
    ir_metrics = report['held_out_metrics_openvino_fp16']
    assert torch_metrics['valid_pixels'] == ir_metrics['valid_pixels'] > 0
    assert ir_metrics['delta1'] == pytest.approx(torch_metrics['delta1'], abs=0.02)
    assert ir_metrics['abs_rel'] == pytest.approx(torch_metrics['abs_rel'], rel=0.02)
    assert ir_metrics['rmse'] == pytest.approx(torch_metrics['rmse'], rel=0.02)


def test_toy_ir_compiles_with_named_input_and_output(toy_run):
    compiled = ov.Core().compile_model(toy_run / train_fastdepth.IR_FILE_NAME, 'CPU')
    assert compiled.input(0).get_any_name() == 'image'
    assert compiled.output(0).get_any_name() == 'depth'
    assert compiled.input(0).get_partial_shape() == ov.PartialShape([-1, 3, 224, 224])
    depth = compiled(np.zeros((2, 3, 224, 224), np.float32))['depth']
    assert depth.shape == (2, 1, 224, 224)
    assert np.all(depth > 0)


def test_exported_ir_matches_torch_within_fp16_tolerance(tmp_path):
    torch.manual_seed(1)
    model = FastDepth()
    with torch.no_grad():
        # Give the head a spread of outputs and the BN layers realistic statistics, so the
        # comparison is not between two near-constant images.
        model.head.weight.normal_(0.0, 10.0)
        model.train()
        model(torch.randn(4, 3, 224, 224))
    model.eval()
    image = torch.randn(1, 3, 224, 224, generator=torch.Generator().manual_seed(2))
    with torch.no_grad():
        expected = model(image).numpy()
    xml = tmp_path / 'model.xml'
    train_fastdepth.export_openvino(model, xml)
    compiled = ov.Core().compile_model(xml, 'CPU')
    actual = compiled(image.numpy())['depth']
    assert expected.std() > 0.1
    np.testing.assert_allclose(actual, expected, rtol=2e-2, atol=1e-2)


def test_loss_ignores_sky_and_is_zero_for_a_perfect_prediction():
    truth = torch.full((1, 1, 4, 4), 2.0)
    truth[..., 0, :] = float('inf')
    prediction = torch.full((1, 1, 4, 4), 2.0)
    prediction[..., 0, :] = 50.0
    assert float(train_fastdepth.depth_loss(prediction, truth)) == pytest.approx(0.0, abs=1e-6)
    assert float(train_fastdepth.depth_loss(prediction * 1.1, truth)) > 0.0


def test_learning_rate_schedule_warms_up_and_decays_to_zero():
    peak = 1e-3
    assert train_fastdepth.learning_rate_at(0.0, peak) < 0.1 * peak
    assert train_fastdepth.learning_rate_at(0.03, peak) == pytest.approx(peak)
    assert train_fastdepth.learning_rate_at(1.0, peak) == pytest.approx(0.0, abs=1e-12)


def constant_depth_ir(path, metres):
    """A 224x224 "FastDepth" IR whose depth is ``metres`` everywhere."""
    image = ov.opset8.parameter([1, 3, 224, 224], ov.Type.f32, name='image')
    zero = ov.opset8.multiply(
        ov.opset8.reduce_sum(image, ov.opset8.constant(np.array([1], np.int64)), True),
        ov.opset8.constant(np.float32(0.0)),
    )
    depth = ov.opset8.add(zero, ov.opset8.constant(np.float32(metres)))
    depth.output(0).get_tensor().set_names({'depth'})
    ov.save_model(ov.Model([depth], [image], 'constant'), path)
    return path


def test_evaluation_on_a_bag_scores_a_known_prediction_at_camera_resolution(tmp_path):
    bag = tmp_path / 'bag'
    make_demo_bag.main(['--output', str(bag), '--frames', '2', '--width', '64', '--height', '48'])
    metrics, frame_count, _ = evaluate_on_bag.evaluate_on_bag(
        constant_depth_ir(tmp_path / 'constant.xml', 3.0), bag
    )
    # Worked out here from the recorded ground truth alone.
    truth = np.stack([frame.depth for frame in read_depth_bag(bag)])
    known = truth[np.isfinite(truth) & (truth > 0)].astype(np.float64)
    assert frame_count == 2 and metrics.valid_pixels == known.size > 0
    assert metrics.delta1 == pytest.approx(np.mean(np.maximum(3.0 / known, known / 3.0) < 1.25))
    assert metrics.abs_rel == pytest.approx(np.mean(np.abs(3.0 - known) / known))
    assert metrics.rmse == pytest.approx(np.sqrt(np.mean((3.0 - known) ** 2)))


def test_toy_ir_evaluates_on_a_demo_bag(toy_run, tmp_path):
    bag = tmp_path / 'bag'
    make_demo_bag.main(['--output', str(bag), '--frames', '2', '--width', '64', '--height', '48'])
    metrics, frame_count, _ = evaluate_on_bag.evaluate_on_bag(
        toy_run / train_fastdepth.IR_FILE_NAME, bag
    )
    assert frame_count == 2 and metrics.valid_pixels > 0
