"""Frames from outside (frames.json folders), the training-data row prior and the per-frame
report of depth_evaluation --real-rgbd, on real OpenVINO models whose depth is known exactly.
"""

import json
import struct
import zlib

import cv2
import numpy as np
import pytest

from edge_perception.core.metrics import compute_depth_metrics
from edge_perception.core.model_info import ModelInfo, write_model_info
from edge_perception.training import depth_evaluation, rgbd_frames
from edge_perception.training.frame_scores import (
    AUTHORS_CENTRE_CROP,
    format_frame_report,
    frame_report,
    median_scale,
)
from edge_perception.training.rgbd_frames import read_rgbd_frames, RgbdFolderError
from edge_perception.training.row_prior import fit_row_prior, RowPrior
from edge_perception.training.synthetic_dataset import DepthDataset

from tiny_models import red_channel_depth_model, write_model

HEIGHT, WIDTH = 48, 64
#: The red-channel model's depth in metres is the red value / RED_PER_METRE.
RED_PER_METRE = 50.0


def _column_depth():
    """Depth rising from 1 m at the left to 4 m at the right, the same in every row."""
    return np.tile(np.linspace(1.0, 4.0, WIDTH, dtype=np.float32), (HEIGHT, 1))


def _image_showing(depth):
    """An RGB image whose red channel tells the red-channel model the depth exactly."""
    rgb = np.zeros((HEIGHT, WIDTH, 3), np.uint8)
    rgb[:, :, 0] = np.clip(np.rint(np.nan_to_num(depth) * RED_PER_METRE), 0, 255).astype(np.uint8)
    rgb[:, :, 2] = 90
    return rgb


def _write_frame(folder, name, rgb, depth, depth_scale, colour_suffix='.png'):
    cv2.imwrite(str(folder / f'{name}{colour_suffix}'), rgb[:, :, ::-1],
                [cv2.IMWRITE_JPEG_QUALITY, 100])
    counts = np.where(np.isfinite(depth), np.rint(depth * depth_scale), 0).astype(np.uint16)
    cv2.imwrite(str(folder / f'{name}_depth.png'), counts)


def _frames_folder(folder, frames):
    """frames: (name, rgb, depth, depth_scale, real, colour_suffix)."""
    folder.mkdir(exist_ok=True)
    entries = []
    for name, rgb, depth, depth_scale, real, suffix in frames:
        _write_frame(folder, name, rgb, depth, depth_scale, suffix)
        entries.append({'color': f'{name}{suffix}', 'depth': f'{name}_depth.png',
                        'depth_scale': depth_scale, 'real': real,
                        'fx': 60.0, 'fy': 60.0, 'cx': 31.5, 'cy': 23.5})
    (folder / 'frames.json').write_text(json.dumps({'frames': entries}))
    return folder


@pytest.fixture
def red_depth_ir(tmp_path):
    """An IR whose depth (metres) is the red channel / RED_PER_METRE, at 32x32 like a network."""
    model = write_model_info(red_channel_depth_model(32, 32), ModelInfo(
        model_type='depth_estimation', mean=(0.0,), scale=(RED_PER_METRE,), color_order='RGB',
        output_unit='metres'))
    return write_model(model, tmp_path, 'red_depth')


@pytest.fixture
def level_row_prior():
    """A row prior of 2.5 m on every row: a constant, so only its scale can be wrong."""
    return RowPrior(np.full(224, 2.5), 'test rows')


def test_a_frames_json_folder_reads_colour_depth_scale_realness_and_intrinsics(tmp_path):
    depth = _column_depth()
    depth[0, :5] = np.nan
    folder = _frames_folder(tmp_path / 'frames', [
        ('camera', _image_showing(depth), depth, 5000, True, '.png'),
        ('render', _image_showing(depth), depth, 1000, False, '.jpg'),
    ])
    camera, render = read_rgbd_frames(folder)
    assert (camera.name, camera.real, render.name, render.real) == \
        ('camera', True, 'render', False)
    assert camera.rgb.shape == (HEIGHT, WIDTH, 3) and camera.rgb.dtype == np.uint8
    assert np.all(camera.rgb[..., 2] == 90)  # RGB order
    np.testing.assert_allclose(camera.depth[1:], depth[1:], atol=1e-4)  # 1/5000 m steps
    np.testing.assert_allclose(render.depth[1:], depth[1:], atol=1e-3)  # millimetres
    assert np.isnan(camera.depth[0, :5]).all() and np.isfinite(camera.depth[0, 5:]).all()
    assert (camera.intrinsics.fx, camera.intrinsics.cx, camera.intrinsics.width) == \
        (60.0, 31.5, WIDTH)


def test_a_folder_of_pairs_reads_millimetre_png_and_metre_npy_as_real_frames(tmp_path):
    rgb = np.zeros((30, 40, 3), np.uint8)
    rgb[:, :, 0] = 200  # red, to check the channel order
    millimetres = np.full((30, 40), 1500, np.uint16)
    millimetres[0] = 0
    cv2.imwrite(str(tmp_path / 'a_rgb.png'), rgb[:, :, ::-1])
    cv2.imwrite(str(tmp_path / 'a_depth.png'), millimetres)
    cv2.imwrite(str(tmp_path / 'b_rgb.jpg'), rgb[:, :, ::-1])
    np.save(tmp_path / 'b_depth.npy', np.full((30, 40), 2.25, np.float32))
    cv2.imwrite(str(tmp_path / 'orphan_rgb.png'), rgb)
    first, second = read_rgbd_frames(tmp_path)
    assert (first.name, second.name, first.real, second.real) == ('a', 'b', True, True)
    assert np.all(first.rgb[..., 0] == 200) and np.all(first.rgb[..., 2] == 0)
    assert np.isnan(first.depth[0]).all()
    np.testing.assert_allclose(first.depth[1:], 1.5)
    np.testing.assert_allclose(second.depth, 2.25)


def test_a_folder_of_pairs_says_what_is_wrong(tmp_path):
    with pytest.raises(RgbdFolderError, match='neither frames.json nor an RGB-D pair'):
        read_rgbd_frames(tmp_path)
    cv2.imwrite(str(tmp_path / 'a_rgb.png'), np.zeros((30, 40, 3), np.uint8))
    cv2.imwrite(str(tmp_path / 'a_depth.png'), np.zeros((20, 40), np.uint16))
    with pytest.raises(RgbdFolderError, match='40x30 but depth is 40x20'):
        read_rgbd_frames(tmp_path)
    (tmp_path / 'a_depth.png').unlink()
    np.save(tmp_path / 'a_depth.npy', np.array([{'a': 1}], dtype=object), allow_pickle=True)
    with pytest.raises(RgbdFolderError, match='not a plain numpy array'):
        read_rgbd_frames(tmp_path)


def _description(folder, **changes):
    entry = {'color': 'a.png', 'depth': 'a_depth.png', 'depth_scale': 1000, 'real': True}
    entry.update(changes)
    (folder / 'frames.json').write_text(json.dumps({'frames': [entry]}))


def _png_stating_size(width, height):
    """A PNG whose header states width x height but holds no real image."""
    header = struct.pack('>IIBBBBB', width, height, 8, 2, 0, 0, 0)
    chunk = b'IHDR' + header
    ihdr = struct.pack('>I', len(header)) + chunk + struct.pack('>I', zlib.crc32(chunk))
    return b'\x89PNG\r\n\x1a\n' + ihdr + b'\x00\x00\x00\x00IEND\xaeB`\x82'


@pytest.mark.parametrize(('change', 'message'), [
    ({'color': '../a.png'}, 'not a file name inside the folder'),
    ({'color': '/etc/passwd'}, 'not a file name inside the folder'),
    ({'color': 'missing.png'}, 'no such file'),
    ({'depth_scale': 0}, 'depth_scale: 0 is not a positive number'),
    ({'depth_scale': 'x'}, 'depth_scale'),
    ({'real': 'yes'}, "'real' must be true or false"),
    ({'fx': -1.0, 'fy': 1.0, 'cx': 1.0, 'cy': 1.0}, 'fx: -1.0 is not a positive number'),
    ({'depth': 'eight_bit.png'}, '16-bit'),
    ({'depth': 'small_depth.png'}, 'colour is 64x48 but depth is 64x20'),
    ({'color': 'text.png'}, 'neither a JPEG nor a PNG'),
    ({'color': 'huge.png'}, 'larger than'),
])
def test_untrusted_folders_are_refused_with_what_is_wrong(tmp_path, change, message):
    _write_frame(tmp_path, 'a', _image_showing(_column_depth()), _column_depth(), 1000)
    cv2.imwrite(str(tmp_path / 'eight_bit.png'), np.zeros((HEIGHT, WIDTH), np.uint8))
    cv2.imwrite(str(tmp_path / 'small_depth.png'), np.ones((20, WIDTH), np.uint16))
    (tmp_path / 'text.png').write_text('not an image')
    (tmp_path / 'huge.png').write_bytes(_png_stating_size(100_000, 100_000))
    _description(tmp_path, **change)
    with pytest.raises(RgbdFolderError, match=message):
        read_rgbd_frames(tmp_path)


def test_oversized_files_and_descriptions_are_refused_before_reading(tmp_path, monkeypatch):
    _write_frame(tmp_path, 'a', _image_showing(_column_depth()), _column_depth(), 1000)
    _description(tmp_path)
    monkeypatch.setattr(rgbd_frames, 'MAX_FILE_BYTES', 100)
    with pytest.raises(RgbdFolderError, match=r'a\.png: \d+ bytes, more than the 100 read'):
        read_rgbd_frames(tmp_path)
    (tmp_path / 'frames.json').write_text('{"frames": [' + ' ' * (1 << 20) + ']}')
    with pytest.raises(RgbdFolderError, match='more than the 1048576 read'):
        read_rgbd_frames(tmp_path)
    (tmp_path / 'frames.json').write_text('{"frames": []}')
    with pytest.raises(RgbdFolderError, match="non-empty list 'frames'"):
        read_rgbd_frames(tmp_path)


def test_the_row_prior_is_the_training_sets_median_by_row_and_knows_nothing_else(tmp_path):
    depths = np.full((3, 4, 2), np.inf, np.float32)  # row 0: sky in every image
    depths[:, 1] = [[1, 1], [2, 2], [9, 9]]
    depths[:, 2] = 3.0
    depths[:, 3] = [[4, 4], [4, 4], [np.nan, 0]]
    prior = fit_row_prior(DepthDataset(np.zeros((3, 4, 2, 3), np.uint8), depths,
                                       np.arange(3)), 'three images')
    np.testing.assert_allclose(prior.depth_by_row, [2.0, 2.0, 3.0, 4.0])
    # Bands of the frame's height, interpolated between band centres, the same in every column.
    two_rows = RowPrior(np.array([1.0, 2.0]), 'two rows').predict(4, 3)
    np.testing.assert_allclose(two_rows, np.array([[1.0], [1.25], [1.75], [2.0]]).repeat(3, 1))
    path = tmp_path / 'prior.json'
    path.write_text(prior.to_json())
    read = RowPrior.read(path)
    np.testing.assert_allclose(read.depth_by_row, prior.depth_by_row)
    assert read.fitted_on == 'three images'
    path.write_text('{"fitted_on": "x", "depth_by_row_m": [1.0, -2.0]}')
    with pytest.raises(ValueError, match='positive numbers'):
        RowPrior.read(path)
    with pytest.raises(ValueError, match='no valid depth'):
        fit_row_prior(DepthDataset(np.zeros((1, 2, 2, 3), np.uint8),
                                   np.full((1, 2, 2), np.inf, np.float32), np.arange(1)), 'sky')


def test_median_scaling_of_one_frame_uses_pixels_valid_in_both():
    truth = np.array([[2.0, 4.0, np.nan, 8.0]], np.float32)
    prediction = np.array([[1.0, 2.0, 3.0, np.nan]], np.float32)
    np.testing.assert_allclose(median_scale(prediction, truth), [[2.0, 4.0, 6.0, np.nan]])


def test_the_report_scores_an_exact_model_against_both_priors_frame_by_frame(
        tmp_path, red_depth_ir, level_row_prior):
    depth = _column_depth()
    wrong_border = depth.copy()
    # Measured depth that disagrees with the image only outside the authors' centre crop.
    wrong_border[:2] = wrong_border[-2:] = 20.0
    frames = read_rgbd_frames(_frames_folder(tmp_path / 'frames', [
        ('camera', _image_showing(depth), wrong_border, 1000, True, '.png'),
        ('render_a', _image_showing(depth), depth, 1000, False, '.png'),
        ('render_b', _image_showing(depth), depth, 1000, False, '.png'),
    ]))
    report = frame_report(red_depth_ir, frames, level_row_prior)

    whole, crop = report['whole_frame'], report['centre_crop']
    assert (whole['input_crop'], crop['input_crop']) == (1.0, AUTHORS_CENTRE_CROP)
    assert [entry['name'] for entry in whole['frames']] == ['camera', 'render_a', 'render_b']
    render = whole['frames'][1]
    assert render['model']['metric']['delta1'] == 1.0
    assert render['model']['median_scaled']['abs_rel'] < 0.02
    # The priors, computed here from the measured depth alone.
    truth = frames[1].depth
    constant = compute_depth_metrics(np.full(truth.shape, np.median(truth)), truth)
    assert render['constant_prior']['metric']['delta1'] == pytest.approx(constant.delta1)
    assert render['constant_prior']['median_scaled']['delta1'] == pytest.approx(constant.delta1)
    assert render['row_prior']['metric'] == compute_depth_metrics(
        np.full(truth.shape, 2.5, np.float32), truth).as_dict()
    assert render['row_prior']['median_scaled']['delta1'] == pytest.approx(constant.delta1)
    assert constant.delta1 < 0.6

    # The camera frame is wrong on its border: whole frame only, not in the centre crop.
    camera_whole, camera_crop = whole['frames'][0], crop['frames'][0]
    assert camera_whole['model']['metric']['delta1'] < 0.95
    assert camera_crop['model']['metric']['delta1'] == 1.0
    assert camera_crop['model']['metric']['valid_pixels'] == 44 * 58  # round(0.912 * side)
    assert camera_crop['row_prior']['metric']['valid_pixels'] == 44 * 58

    means = whole['mean']
    assert (means['real']['frames'], means['rendered']['frames']) == (1, 2)
    assert means['rendered']['model']['metric_delta1'] == 1.0
    assert means['real']['model']['metric_delta1'] == camera_whole['model']['metric']['delta1']
    assert means['rendered']['constant_prior']['median_scaled_delta1'] == \
        pytest.approx(constant.delta1)

    text = format_frame_report(report, 'red on frames')
    assert 'whole frame (input_crop 1.0)' in text and 'centre crop (input_crop 0.912)' in text
    assert 'mean, real (1)' in text and 'mean, rendered (2)' in text
    assert 'row prior fitted on test rows' in text


def test_depth_evaluation_prints_and_writes_the_real_frame_report(
        tmp_path, red_depth_ir, level_row_prior, capsys):
    depth = _column_depth()
    folder = _frames_folder(tmp_path / 'frames', [
        ('camera', _image_showing(depth), depth, 5000, True, '.png')])
    prior_path = tmp_path / 'prior.json'
    prior_path.write_text(level_row_prior.to_json())
    depth_evaluation.main(['--model', str(red_depth_ir), '--real-rgbd', str(folder),
                           '--row-prior', str(prior_path), '--output', str(tmp_path / 'r.json')])
    printed = capsys.readouterr().out
    written = json.loads((tmp_path / 'r.json').read_text())['real_rgbd']
    assert written['whole_frame']['mean']['real']['model']['metric_delta1'] == 1.0
    assert written['whole_frame']['mean']['rendered'] == {'frames': 0}
    camera_line = next(line for line in printed.splitlines() if line.startswith('camera (real)'))
    constant = written['whole_frame']['frames'][0]['constant_prior']['median_scaled']['delta1']
    assert camera_line.split()[2:4] == ['1.000', '1.000'] and f'{constant:.3f}' in camera_line
    with pytest.raises(SystemExit):
        depth_evaluation.main(['--model', str(red_depth_ir), '--real-rgbd',
                               str(tmp_path / 'missing')])
