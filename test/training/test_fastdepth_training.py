"""Toy-scale FastDepth training run and OpenVINO export, end to end on the CPU."""

import json
from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip('torch')
ov = pytest.importorskip('openvino')

from edge_perception.bags.reader import read_depth_bag  # noqa: E402
from edge_perception.core.heads import DepthHead  # noqa: E402
from edge_perception.core.metrics import compute_depth_metrics  # noqa: E402
from edge_perception.core.opset_lowering import opset_number  # noqa: E402
from edge_perception.core.pipeline import ImagePipeline, PipelineConfig  # noqa: E402
from edge_perception.core.preprocessing import Normalisation  # noqa: E402
from edge_perception.networks.fastdepth import FastDepth  # noqa: E402
from edge_perception.training import evaluate_on_bag, make_demo_bag, train_fastdepth  # noqa: E402
from edge_perception.training.synthetic_dataset import (  # noqa: E402
    build_datasets,
    HELD_OUT_FAMILY_SEED_START,
    VALIDATION_SEED_START,
)


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


def test_toy_ir_is_a_depth_map_the_depth_node_accepts(toy_run):
    # FP16 compression once put the upsampling scales behind a Convert, which left the output's
    # height and width dynamic, and the depth node refused the model it had just trained.
    xml = toy_run / train_fastdepth.IR_FILE_NAME
    assert ov.Core().read_model(xml).output(0).get_partial_shape() == \
        ov.PartialShape([-1, 1, 224, 224])
    pipeline = ImagePipeline(
        PipelineConfig(str(xml), 'CPU', 'graph', Normalisation((), (), ''), 'LATENCY', 1),
        lambda *result: None, lambda *error: None)
    try:
        DepthHead.check_model(pipeline.output_shapes, pipeline.model_info)
        assert pipeline.output_shapes == [(1, 1, 224, 224)]
    finally:
        pipeline.close()


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
    # In the operations of OpenVINO 2022.3, the NCS2's runtime (opset1 to opset10).
    assert max(opset_number(node) for node in ov.Core().read_model(xml).get_ordered_ops()) <= 10
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


def _log_depth_pair():
    generator = torch.Generator().manual_seed(3)
    truth = torch.exp(torch.rand(2, 1, 8, 8, generator=generator) * 2.0)
    truth[0, 0, 0, :] = float('inf')
    prediction = torch.exp(torch.rand(2, 1, 8, 8, generator=generator) * 2.0)
    return prediction, truth


@pytest.mark.parametrize('scale, shift', [(2.0, 0.0), (1.0, 1.5), (0.3, -2.0), (-1.5, 0.7)])
def test_scale_shift_invariant_loss_ignores_scale_and_shift_of_log_depth(scale, shift):
    prediction, truth = _log_depth_pair()
    reference = train_fastdepth.scale_shift_invariant_loss(prediction, truth)
    # Scale and shift of log depth: exp(scale * log d + shift) = e^shift * d^scale.
    transformed = torch.exp(scale * torch.log(prediction) + shift)
    assert float(reference) > 0.05
    assert float(train_fastdepth.scale_shift_invariant_loss(transformed, truth)) == pytest.approx(
        float(reference), rel=1e-4)


def test_scale_shift_invariant_loss_is_zero_for_aligned_structure_and_has_gradients():
    _, truth = _log_depth_pair()
    finite_truth = torch.where(torch.isfinite(truth), truth, torch.ones_like(truth))
    prediction = (finite_truth**0.5 * 3.0).requires_grad_()
    loss = train_fastdepth.scale_shift_invariant_loss(prediction, truth)
    assert float(loss.detach()) == pytest.approx(0.0, abs=1e-5)
    noisy = (finite_truth * torch.linspace(0.5, 2.0, 64).reshape(1, 1, 8, 8)).requires_grad_()
    train_fastdepth.scale_shift_invariant_loss(noisy, truth).backward()
    assert torch.isfinite(noisy.grad).all() and noisy.grad.abs().sum() > 0
    # A flat prediction (no structure) gives a finite loss, not a division by zero.
    flat = torch.full_like(truth, 2.0)
    assert torch.isfinite(train_fastdepth.scale_shift_invariant_loss(flat, truth))


def test_scale_shift_invariant_loss_stays_gentle_on_an_untrained_networks_flat_output():
    # An untrained network's log depth varies by ~0.1 % over an image; an unbounded closed-form
    # scale turns that into a gradient hundreds of times the metric loss's, which killed the
    # decoder of a real run. The SSI gradient must not outweigh the metric one there.
    _, truth = _log_depth_pair()
    generator = torch.Generator().manual_seed(5)
    log_prediction = (0.7 + 1e-3 * torch.randn(truth.shape, generator=generator)).requires_grad_()
    train_fastdepth.scale_shift_invariant_loss(torch.exp(log_prediction), truth).backward()
    ssi_gradient = log_prediction.grad.norm()
    log_prediction.grad = None
    train_fastdepth.depth_loss(torch.exp(log_prediction), truth).backward()
    assert ssi_gradient <= log_prediction.grad.norm()


def test_photometric_augmentation_is_off_by_default_and_seeded_when_on():
    from edge_perception.training.augmentation import PhotometricAugmentation
    from edge_perception.training.synthetic_dataset import build_datasets

    dataset = build_datasets([0, 1, 2], (64,))[64]
    indices = np.array([0, 2])

    def batch(seed, photometric=None):
        return train_fastdepth._augmented_batch(dataset, indices, np.random.default_rng(seed),
                                                photometric)

    assert train_fastdepth.parse_arguments([]).photometric_augmentation is False
    on = [batch(4, PhotometricAugmentation()) for _ in range(2)]
    torch.testing.assert_close(on[0][0], on[1][0])
    assert on[0][0].shape == batch(4)[0].shape == (2, 3, 64, 64)
    assert on[0][0].dtype == torch.float32
    assert not torch.equal(on[0][0], batch(4)[0])


def _real_rgbd_folder(folder):
    """Two rendered frames written as a user's RGB-D folder (PNG + 16-bit mm PNG, and .npy)."""
    import cv2

    from edge_perception.core.depth_geometry import PinholeIntrinsics
    from edge_perception.training.scenes import render_scene

    folder.mkdir()
    intrinsics = PinholeIntrinsics.from_horizontal_fov(64, 48, 65.0)
    first, second = (render_scene(seed, intrinsics) for seed in (500, 501))
    cv2.imwrite(str(folder / 'first_rgb.png'), first.rgb[:, :, ::-1])
    millimetres = np.where(np.isfinite(first.depth), np.rint(first.depth * 1000.0), 0)
    cv2.imwrite(str(folder / 'first_depth.png'), millimetres.astype(np.uint16))
    cv2.imwrite(str(folder / 'second_rgb.png'), second.rgb[:, :, ::-1])
    np.save(folder / 'second_depth.npy', second.depth)
    return folder


@pytest.fixture(scope='module')
def generalisation_run(tmp_path_factory):
    output_dir = tmp_path_factory.mktemp('fastdepth_generalisation')
    real = _real_rgbd_folder(tmp_path_factory.mktemp('real') / 'rgbd')
    train_fastdepth.main(
        [
            '--output-dir', str(output_dir), '--no-cache',
            '--train-scenes', '4', '--validation-scenes', '2', '--held-out-family-scenes', '2',
            '--render-workers', '2', '--steps', '3', '--warmup-size', '64',
            '--warmup-batch-size', '2', '--batch-size', '2', '--log-every', '1',
            '--scene-style', 'indoor-robot', '--texture-family', 'A',
            '--photometric-augmentation', '--ssi-loss-weight', '0.5',
            '--real-rgbd', str(real), '--device', 'cpu',
        ]
    )
    return output_dir, real


def test_toy_run_with_every_new_option_reports_generalisation(generalisation_run):
    output_dir, _ = generalisation_run
    report = json.loads((output_dir / train_fastdepth.METRICS_FILE_NAME).read_text())
    assert report['training']['steps'] == 3
    assert report['dataset']['scene_style'] == 'indoor-robot'
    assert report['dataset']['held_out_family'] == 'B'
    arguments = report['training']['arguments']
    assert arguments['photometric_augmentation'] is True and arguments['ssi_loss_weight'] == 0.5
    generalisation = report['generalisation']
    assert set(generalisation) == {'held_out_synthetic_A', 'held_out_family_B', 'real_rgbd'}
    real = generalisation.pop('real_rgbd')
    for scoring in ('whole_frame', 'centre_crop'):
        assert [frame['name'] for frame in real[scoring]['frames']] == ['first', 'second']
        assert real[scoring]['mean']['real']['frames'] == 2
        for predictor in ('model', 'constant_prior', 'row_prior'):
            assert 0.0 <= real[scoring]['mean']['real'][predictor]['median_scaled_delta1'] <= 1
    assert real['row_prior'] == 'the 4 training scenes of this run (224x224)'
    prior = json.loads((output_dir / train_fastdepth.ROW_PRIOR_FILE_NAME).read_text())
    assert len(prior['depth_by_row_m']) == 224
    for name, entry in generalisation.items():
        assert entry['images'] == 2, name
        for predictor in ('model', 'constant_prior', 'row_prior'):
            for kind in ('metric', 'median_scaled'):
                assert 0.0 <= entry[predictor][kind]['delta1'] <= 1.0, (name, predictor, kind)
                assert entry[predictor][kind]['valid_pixels'] > 0
    # The synthetic entry scores the same predictions as the validation metrics.
    assert generalisation['held_out_synthetic_A']['model']['metric'] == \
        report['held_out_metrics_torch_fp32']


def test_evaluation_command_scores_an_ir_on_a_real_rgbd_folder(generalisation_run, tmp_path):
    from edge_perception.training import depth_evaluation

    output_dir, real = generalisation_run
    depth_evaluation.main(['--model', str(output_dir / train_fastdepth.IR_FILE_NAME),
                           '--real-rgbd', str(real), '--synthetic-scenes', '1',
                           '--row-prior', str(output_dir / train_fastdepth.ROW_PRIOR_FILE_NAME),
                           '--render-workers', '1', '--output', str(tmp_path / 'reports.json')])
    reports = json.loads((tmp_path / 'reports.json').read_text())
    assert set(reports) == {'real_rgbd', 'synthetic_classic_A', 'synthetic_classic_B'}
    # The same exported IR on the same frames: what the training run reported.
    trained = json.loads((output_dir / train_fastdepth.METRICS_FILE_NAME).read_text())
    for scoring in ('whole_frame', 'centre_crop'):
        for predictor in ('model', 'constant_prior', 'row_prior'):
            assert reports['real_rgbd'][scoring]['mean']['real'][predictor] == pytest.approx(
                trained['generalisation']['real_rgbd'][scoring]['mean']['real'][predictor],
                abs=1e-3)
    assert reports['synthetic_classic_B']['images'] == 1
    with pytest.raises(SystemExit):
        depth_evaluation.main(['--model', str(output_dir / train_fastdepth.IR_FILE_NAME)])


def test_evaluation_command_scores_the_sets_a_training_run_cached(generalisation_run, tmp_path):
    from edge_perception.training import depth_evaluation
    from edge_perception.training.synthetic_dataset import (
        load_or_build_datasets,
        VALIDATION_SEED_START,
    )

    output_dir, _ = generalisation_run
    cached = tmp_path / 'validation_1.npz'
    load_or_build_datasets(cached, [VALIDATION_SEED_START], (224,))
    model = str(output_dir / train_fastdepth.IR_FILE_NAME)
    depth_evaluation.main(['--model', model, '--cached-set', str(cached), '--synthetic-scenes',
                           '1', '--render-workers', '1', '--output', str(tmp_path / 'r.json')])
    reports = json.loads((tmp_path / 'r.json').read_text())
    # The cached file and a fresh rendering of the same seed are the same scene.
    assert reports['validation_1'] == reports['synthetic_classic_A']
    assert reports['validation_1']['images'] == 1


def test_bad_new_options_are_refused(tmp_path):
    with pytest.raises(SystemExit):
        train_fastdepth.parse_arguments(['--texture-family', 'C'])
    with pytest.raises(SystemExit):
        train_fastdepth.parse_arguments(['--ssi-loss-weight', '-1'])
    with pytest.raises(SystemExit):
        train_fastdepth.parse_arguments(['--real-rgbd', str(tmp_path / 'missing')])
    with pytest.raises(SystemExit):
        train_fastdepth.parse_arguments(['--device', 'no-such-device'])
    if not torch.cuda.is_available():
        with pytest.raises(SystemExit):
            train_fastdepth.parse_arguments(['--device', 'cuda'])


def test_a_mixed_run_shares_each_set_between_the_styles(tmp_path):
    cache = tmp_path / 'cache'
    train_fastdepth.main(
        [
            '--output-dir', str(tmp_path / 'run'), '--cache-dir', str(cache),
            '--train-scenes', '4', '--validation-scenes', '2', '--held-out-family-scenes', '2',
            '--render-workers', '1', '--steps', '2', '--warmup-size', '64',
            '--warmup-batch-size', '2', '--batch-size', '2', '--scene-style', 'mixed',
        ]
    )
    # Every other seed in each style, each style in its own cache file.
    parts = {
        'train_4_64_224_part0of2.npz': [0, 2],
        'train_4_64_224_part1of2_indoor-robot_A.npz': [1, 3],
        'held_out_family_2_part0of2_classic_B.npz': [HELD_OUT_FAMILY_SEED_START],
        'held_out_family_2_part1of2_indoor-robot_B.npz': [HELD_OUT_FAMILY_SEED_START + 1],
    }
    for name, seeds in parts.items():
        with np.load(cache / name) as cached:
            assert cached['seeds'].tolist() == seeds, name
    report = json.loads((tmp_path / 'run' / train_fastdepth.METRICS_FILE_NAME).read_text())
    assert report['dataset']['scene_style'] == 'mixed'
    assert {entry['images'] for entry in report['generalisation'].values()} == {2}


def test_a_toy_run_can_fine_tune_the_shipped_ir(tmp_path, toy_run):
    shipped = Path(__file__).resolve().parents[2] / 'models' / 'fastdepth' / 'fastdepth.xml'
    common = ['--no-cache', '--train-scenes', '4', '--validation-scenes', '2',
              '--held-out-family-scenes', '0', '--render-workers', '1', '--steps', '1',
              '--warmup-size', '64', '--warmup-share', '0', '--batch-size', '2',
              '--learning-rate', '1e-9']
    train_fastdepth.main(['--output-dir', str(tmp_path), '--initial-weights', str(shipped),
                          *common])
    report = json.loads((tmp_path / train_fastdepth.METRICS_FILE_NAME).read_text())
    assert report['training']['arguments']['initial_weights'] == str(shipped)
    # One step at a negligible rate: the shipped IR's own depth on the same held-out scenes,
    # whatever scenes it was trained on, and its skill at the shape of depth far above the
    # toy run's from random weights.
    warm = report['generalisation']['held_out_synthetic_A']
    scenes = build_datasets(range(VALIDATION_SEED_START, VALIDATION_SEED_START + 2), (224,))[224]
    compiled = ov.Core().compile_model(shipped, 'CPU', {'INFERENCE_PRECISION_HINT': 'f32'})
    shipped_depth = train_fastdepth.predict_with_openvino(compiled, scenes.images)
    shipped_delta1 = compute_depth_metrics(shipped_depth, scenes.depths).delta1
    assert warm['model']['metric']['delta1'] == pytest.approx(shipped_delta1, abs=0.03)
    cold = json.loads((toy_run / train_fastdepth.METRICS_FILE_NAME).read_text())
    cold = cold['generalisation']['held_out_synthetic_A']
    assert warm['model']['median_scaled']['delta1'] > \
        cold['model']['median_scaled']['delta1'] + 0.2


def test_initial_weights_must_exist(tmp_path):
    with pytest.raises(SystemExit):
        train_fastdepth.parse_arguments(['--initial-weights', str(tmp_path / 'missing.xml')])
