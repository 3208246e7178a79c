"""Calibration files in camera_calibration's format: reading, writing, scaling."""

import numpy as np
import pytest

from edge_perception.camera.calibration import (
    CalibrationError,
    CameraCalibration,
    load_calibration,
)

K = [612.5, 0.0, 321.25, 0.0, 610.0, 243.75, 0.0, 0.0, 1.0]
D = [0.11, -0.23, 0.001, -0.002, 0.05]
R = [1.0, 0.0, 0.0, 0.0, 1.0, 0.0, 0.0, 0.0, 1.0]
P = [600.0, 0.0, 318.5, -12.0, 0.0, 605.0, 240.5, 0.0, 0.0, 0.0, 1.0, 0.0]
# What camera_calibration's cameracalibrator writes (camera_calibration_parsers' YAML layout).
CAMERA_CALIBRATION_YAML = f"""image_width: 640
image_height: 480
camera_name: phone
camera_matrix:
  rows: 3
  cols: 3
  data: {K}
distortion_model: plumb_bob
distortion_coefficients:
  rows: 1
  cols: 5
  data: {D}
rectification_matrix:
  rows: 3
  cols: 3
  data: {R}
projection_matrix:
  rows: 3
  cols: 4
  data: {P}
"""


@pytest.fixture
def calibration_file(tmp_path):
    path = tmp_path / 'phone.yaml'
    path.write_text(CAMERA_CALIBRATION_YAML)
    return path


def test_a_camera_calibration_file_reads_back_its_values(calibration_file):
    calibration = load_calibration(str(calibration_file))
    assert (calibration.width, calibration.height) == (640, 480)
    assert calibration.camera_name == 'phone'
    assert calibration.distortion_model == 'plumb_bob'
    assert list(calibration.k) == K and list(calibration.d) == D
    assert list(calibration.r) == R and list(calibration.p) == P
    assert calibration.calibrated
    assert load_calibration(f'file://{calibration_file}') == calibration


def test_written_yaml_reads_back_the_same_calibration(calibration_file, tmp_path):
    calibration = load_calibration(str(calibration_file))
    copy = tmp_path / 'copy.yaml'
    copy.write_text(calibration.to_yaml())
    assert load_calibration(str(copy)) == calibration


def test_scaling_to_half_resolution_scales_k_and_p_about_pixel_centres(calibration_file):
    calibration = load_calibration(str(calibration_file)).scaled_to(320, 240)
    assert (calibration.width, calibration.height) == (320, 240)
    k, p = np.reshape(calibration.k, (3, 3)), np.reshape(calibration.p, (3, 4))
    np.testing.assert_allclose(k, [[306.25, 0.0, (321.25 + 0.5) / 2 - 0.5],
                                   [0.0, 305.0, (243.75 + 0.5) / 2 - 0.5],
                                   [0.0, 0.0, 1.0]])
    np.testing.assert_allclose(p, [[300.0, 0.0, (318.5 + 0.5) / 2 - 0.5, -6.0],
                                   [0.0, 302.5, (240.5 + 0.5) / 2 - 0.5, 0.0],
                                   [0.0, 0.0, 1.0, 0.0]])
    assert list(calibration.d) == D and list(calibration.r) == R


def test_scaling_up_and_back_returns_the_calibration(calibration_file):
    calibration = load_calibration(str(calibration_file))
    round_trip = calibration.scaled_to(1920, 1440).scaled_to(640, 480)
    np.testing.assert_allclose(round_trip.k, calibration.k)
    np.testing.assert_allclose(round_trip.p, calibration.p)


def test_a_different_aspect_ratio_is_refused(calibration_file):
    with pytest.raises(CalibrationError, match=r'640x480, the images are 1280x720'):
        load_calibration(str(calibration_file)).scaled_to(1280, 720)


def test_field_of_view_model_is_centred_and_uncalibrated():
    calibration = CameraCalibration.from_horizontal_fov(640, 480, 90.0)
    assert not calibration.calibrated
    np.testing.assert_allclose(calibration.k, [320.0, 0, 319.5, 0, 320.0, 239.5, 0, 0, 1])
    np.testing.assert_allclose(calibration.p[:3], calibration.k[:3])
    assert calibration.p[3] == 0.0 and list(calibration.d) == [0.0] * 5


@pytest.mark.parametrize('text, message', [
    ('image_width: [', r'is not YAML'),
    ('- a list', r'expected a mapping'),
    (CAMERA_CALIBRATION_YAML.replace('image_width: 640', 'image_width: wide'),
     r'image_width is .wide., expected a positive integer'),
    (CAMERA_CALIBRATION_YAML.replace('projection_matrix', 'projection'),
     r'projection_matrix is missing'),
    (CAMERA_CALIBRATION_YAML.replace(f'data: {K}', 'data: [1.0, 2.0]'),
     r'camera_matrix has 2 values'),
    (CAMERA_CALIBRATION_YAML.replace(f'data: {K}', f"data: {K[:-1] + ['x']}"),
     r'camera_matrix holds something other than numbers'),
    (CAMERA_CALIBRATION_YAML.replace('612.5', '0.0'), r'camera_matrix: focal lengths'),
])
def test_a_malformed_calibration_names_the_file_and_the_fault(tmp_path, text, message):
    path = tmp_path / 'bad.yaml'
    path.write_text(text)
    with pytest.raises(CalibrationError, match=message) as raised:
        load_calibration(str(path))
    assert str(path) in str(raised.value)


def test_a_missing_calibration_file_is_named(tmp_path):
    with pytest.raises(CalibrationError, match=r"cannot read calibration '.*absent.yaml'"):
        load_calibration(str(tmp_path / 'absent.yaml'))
