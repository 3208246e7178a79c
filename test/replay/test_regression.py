"""Scoring recorded outputs against ground truth and golden outputs, on bags written here."""

import json
import subprocess
import sys

import numpy as np
import pytest
from rosbags.rosbag2 import Reader

from edge_perception.bags.types import IMAGE_TYPE, package_typestore
from edge_perception.bags.writer import open_bag_writer
from edge_perception.core.metrics import compute_depth_metrics
from edge_perception.messages import bag_types, image_msg
from edge_perception.package_paths import shared_file
from edge_perception.replay.plot import write_plot
from edge_perception.replay.scoring import (
    format_report,
    RegressionError,
    score,
    STAMP_MAP_KEY,
    Thresholds,
    write_golden,
)

from regression_bags import (
    frame_stamps,
    truth_depths,
    write_camera_bag,
    write_classification_outputs,
    write_depth_outputs,
    write_label_bag,
)


@pytest.fixture
def depth_bags(tmp_path):
    """Input bag with ground truth; outputs 10 % too far on frame 0 and 30 % on frame 1."""
    truths = truth_depths(2)
    write_camera_bag(tmp_path / 'input', truths)
    write_depth_outputs(tmp_path / 'outputs', [truths[0] * 1.1, truths[1] * 1.3])
    return tmp_path / 'input', tmp_path / 'outputs', truths


def test_depth_metrics_per_frame_and_pooled_over_valid_pixels(depth_bags):
    input_bag, outputs, truths = depth_bags
    report = score(input_bag, outputs, 'depth', '/depth', '/inference_timing')
    assert report.frames == 2 and report.missing == [] and report.failures == []
    first, second = report.truth['per_frame']
    assert first == {'stamp_ns': frame_stamps(2)[0],
                     **compute_depth_metrics(truths[0] * 1.1, truths[0]).as_dict()}
    assert (first['delta1'], second['delta1']) == (1.0, 0.0)
    pooled = report.truth['pooled']
    assert pooled['valid_pixels'] == 2 * (truths[0].size - 4)
    assert pooled['delta1'] == pytest.approx(0.5)
    assert pooled['abs_rel'] == pytest.approx(0.2, rel=1e-6)
    assert sum(report.truth['histogram']['counts']) == pooled['valid_pixels']
    assert report.latency['inference_ms']['median'] == pytest.approx(10.5)
    assert report.latency['device'] == 'CPU'


def test_thresholds_crossed_are_named(depth_bags):
    input_bag, outputs, _ = depth_bags
    report = score(input_bag, outputs, 'depth', '/depth',
                   thresholds=Thresholds(min_delta1=0.6, max_abs_rel=0.25, max_rmse=0.01))
    rmse = report.truth['pooled']['rmse']
    assert report.failures == ['delta1 0.5000 is below --min-delta1 0.6',
                               f'rmse {rmse:.4f} is above --max-rmse 0.01']
    assert format_report(report).splitlines()[-1].startswith('FAIL: delta1 0.5000')


def test_frames_without_output_fail(tmp_path):
    truths = truth_depths(3)
    write_camera_bag(tmp_path / 'input', truths)
    write_depth_outputs(tmp_path / 'outputs', truths[:2])
    report = score(tmp_path / 'input', tmp_path / 'outputs', 'depth', '/depth')
    assert report.missing == [frame_stamps(3)[2]]
    assert report.failures == ['1 of 3 frames have no /depth output']
    assert report.truth['pooled']['delta1'] == 1.0


def test_golden_depth_must_match_within_tolerance_and_in_its_nan_pattern(tmp_path):
    truths = truth_depths(2)
    write_camera_bag(tmp_path / 'input', truths)
    write_depth_outputs(tmp_path / 'golden', truths, timing=False)
    write_depth_outputs(tmp_path / 'same', truths)
    shifted = [truths[0], truths[1] + 0.01]
    write_depth_outputs(tmp_path / 'shifted', shifted)
    holed = [truths[0].copy(), truths[1]]
    holed[0][5, 5] = np.nan
    write_depth_outputs(tmp_path / 'holed', holed)

    def against_golden(outputs, tolerance):
        return score(tmp_path / 'input', tmp_path / outputs, 'depth', '/depth',
                     golden_bag=tmp_path / 'golden', thresholds=Thresholds(tolerance=tolerance))

    same = against_golden('same', 0.0)
    assert same.failures == [] and same.golden['max_abs_diff'] == 0.0
    assert same.golden['compared'] == 2
    shifted_report = against_golden('shifted', 1e-3)
    assert shifted_report.golden['max_abs_diff'] == pytest.approx(0.01, rel=1e-3)
    assert shifted_report.golden['per_frame'][0]['max_abs_diff'] == 0.0
    assert shifted_report.failures == ['max abs difference from golden 0.01 is above '
                                       '--tolerance 0.001']
    assert against_golden('shifted', 0.02).failures == []
    holed_report = against_golden('holed', 1.0)
    assert holed_report.golden['nan_mismatch_pixels'] == 1
    assert holed_report.failures == ['1 pixels are NaN in only one of output and golden depth']


def test_golden_frames_must_pair_one_to_one(tmp_path):
    truths = truth_depths(3)
    write_camera_bag(tmp_path / 'input', truths)
    write_depth_outputs(tmp_path / 'golden', truths[:2])
    write_depth_outputs(tmp_path / 'outputs', truths)
    report = score(tmp_path / 'input', tmp_path / 'outputs', 'depth', '/depth',
                   golden_bag=tmp_path / 'golden')
    assert report.golden['extra'] == [frame_stamps(3)[2]]
    assert report.failures == ['1 outputs have no golden frame']


def test_restamped_outputs_pair_through_the_replay_stamp_map(tmp_path):
    truths = truth_depths(2)
    write_camera_bag(tmp_path / 'input', truths)
    published = [stamp + 123_456 for stamp in frame_stamps(2)]
    typestore = package_typestore()
    with open_bag_writer(tmp_path / 'outputs') as writer:
        connection = writer.add_connection('/depth', IMAGE_TYPE, typestore=typestore)
        for stamp, depth in zip(published, truths, strict=True):
            writer.write(connection, stamp, typestore.serialize_cdr(
                image_msg(depth, '32FC1', stamp, 'camera', bag_types()), IMAGE_TYPE))
        writer.set_custom_data(STAMP_MAP_KEY, json.dumps(
            {str(stamp): recorded for stamp, recorded in zip(published, frame_stamps(2),
                                                              strict=True)}))
    report = score(tmp_path / 'input', tmp_path / 'outputs', 'depth', '/depth')
    assert report.missing == [] and report.truth['pooled']['delta1'] == 1.0


def test_classification_accuracy_and_confusion_matrix(tmp_path):
    write_label_bag(tmp_path / 'input', [3, 1, 3, 7])
    write_classification_outputs(tmp_path / 'outputs', [
        ([3, 1], [0.9, 0.1]), ([1, 3], [0.6, 0.4]), ([1, 3], [0.7, 0.3]), ([2, 5], [0.5, 0.4])])
    report = score(tmp_path / 'input', tmp_path / 'outputs', 'classification',
                   '/classification', thresholds=Thresholds(min_top1=0.5, min_topk=0.9))
    truth = report.truth
    assert (truth['top1'], truth['topk'], truth['k']) == (0.5, 0.75, 2)
    matrix = np.asarray(truth['confusion']['matrix'])
    assert matrix.shape == (8, 8) and matrix.sum() == 4
    assert (matrix[3, 3], matrix[1, 1], matrix[3, 1], matrix[7, 2]) == (1, 1, 1, 1)
    assert report.failures == ['top-2 accuracy 0.7500 is below --min-topk 0.9']
    assert '3->1 x1, 7->2 x1' in format_report(report)


def test_golden_classification_compares_class_ids_and_scores(tmp_path):
    write_label_bag(tmp_path / 'input', [3, 1])
    write_classification_outputs(tmp_path / 'golden', [([3, 1], [0.9, 0.1]), ([1, 3], [0.6, 0.4])])
    write_classification_outputs(tmp_path / 'outputs',
                                 [([3, 1], [0.8995, 0.1005]), ([3, 1], [0.5, 0.5])])
    report = score(tmp_path / 'input', tmp_path / 'outputs', 'classification',
                   '/classification', golden_bag=tmp_path / 'golden',
                   thresholds=Thresholds(tolerance=1e-3))
    assert report.golden['class_mismatches'] == 1
    assert report.golden['max_abs_diff'] == pytest.approx(5e-4, abs=1e-6)
    assert report.failures == ["1 frames' class ids differ from the golden ones"]


def test_ground_truth_threshold_without_ground_truth_is_an_error(tmp_path):
    truths = truth_depths(1)
    write_camera_bag(tmp_path / 'input', truths)
    write_depth_outputs(tmp_path / 'outputs', truths)
    with pytest.raises(RegressionError, match='--min-delta1 needs ground truth'):
        score(tmp_path / 'input', tmp_path / 'outputs', 'depth', '/depth',
              truth_topic='/no/such/topic', thresholds=Thresholds(min_delta1=0.5))
    with pytest.raises(RegressionError, match='has no /points topic'):
        score(tmp_path / 'input', tmp_path / 'outputs', 'depth', '/points')
    with pytest.raises(RegressionError, match='cannot read bag'):
        score(tmp_path / 'nowhere', tmp_path / 'outputs', 'depth', '/depth')


def test_json_report_and_plot(depth_bags, tmp_path):
    input_bag, outputs, truths = depth_bags
    write_depth_outputs(tmp_path / 'golden', truths)
    report = score(input_bag, outputs, 'depth', '/depth', '/inference_timing',
                   golden_bag=tmp_path / 'golden')
    report.write_json(tmp_path / 'report.json')
    written = json.loads((tmp_path / 'report.json').read_text())
    assert written['truth']['pooled']['delta1'] == pytest.approx(0.5)
    assert written['golden']['compared'] == 2 and written['failures'] == report.failures
    write_plot(report, tmp_path / 'report.png')
    assert (tmp_path / 'report.png').read_bytes()[:8] == b'\x89PNG\r\n\x1a\n'


def test_golden_bag_holds_only_the_result_topic_with_its_definition(depth_bags, tmp_path):
    _, outputs, _ = depth_bags
    write_golden(outputs, tmp_path / 'golden', ['/depth'])
    with Reader(tmp_path / 'golden') as reader:
        assert [(c.topic, c.msgtype, c.msgcount) for c in reader.connections] == \
            [('/depth', IMAGE_TYPE, 2)]
        assert reader.connections[0].msgdef.data.startswith('std_msgs/Header header')
    assert 'zstd' in (tmp_path / 'golden' / 'golden.mcap').read_bytes()[:4096].decode('latin-1')


def test_package_types_carry_the_installed_definitions_and_hashes():
    typestore = package_typestore()
    for name in ('InferenceTiming', 'Classification'):
        description = json.loads(shared_file('msg', f'{name}.json').read_text())
        assert typestore.hash_rihs01(f'edge_perception/msg/{name}') == \
            description['type_hashes'][0]['hash_string']


def test_scoring_modules_do_not_import_rclpy():
    code = ('import sys\n'
            'import edge_perception.replay.scoring, edge_perception.replay.plot, '
            'edge_perception.replay.node_config, edge_perception.bags.types\n'
            "print(sorted({'rclpy', 'sensor_msgs', 'std_msgs'} & set(sys.modules)))")
    result = subprocess.run([sys.executable, '-c', code], capture_output=True, text=True,
                            check=True)
    assert result.stdout.strip() == '[]', result.stdout
