"""The README's real-image figures are what depth_evaluation prints for the bundled model on the
development frames in ``../shared/data/real_rgbd_dev`` (a clone without them skips; under
``CI=true`` their absence fails).
"""

import os
from pathlib import Path

import pytest

from edge_perception.package_paths import shared_file
from edge_perception.training.frame_scores import frame_report
from edge_perception.training.rgbd_frames import read_rgbd_frames
from edge_perception.training.row_prior import RowPrior

REPO = Path(__file__).resolve().parents[2]
DEVELOPMENT_FRAMES = REPO.parent / 'shared' / 'data' / 'real_rgbd_dev'


@pytest.fixture(scope='module')
def shipped_report():
    if not DEVELOPMENT_FRAMES.is_dir():
        if os.environ.get('CI') == 'true':
            pytest.fail(f'{DEVELOPMENT_FRAMES} is absent (CI)')
        pytest.skip(f'{DEVELOPMENT_FRAMES} is absent')
    return frame_report(shared_file('models', 'fastdepth', 'fastdepth.xml'),
                        read_rgbd_frames(DEVELOPMENT_FRAMES),
                        RowPrior.read(shared_file('models', 'fastdepth',
                                                  'fastdepth_row_prior.json')))


def _readme_row(label):
    return next(line for line in (REPO / 'README.md').read_text().splitlines()
                if line.startswith(f'| {label} |'))


@pytest.mark.parametrize(('label', 'kind'), [('TUM RGB-D, 1 real frame', 'real'),
                                             ('ICL-NUIM, 5 renders', 'rendered')])
def test_the_readme_table_is_what_the_evaluation_prints(shipped_report, label, kind):
    whole = shipped_report['whole_frame']['mean'][kind]
    crop = shipped_report['centre_crop']['mean'][kind]
    cells = [cell.strip() for cell in _readme_row(label).strip('|').split('|')]
    def model(means):
        return (f"{means['model']['median_scaled_delta1']:.3f} "
                f"(metric {means['model']['metric_delta1']:.3f})")

    assert cells[1:] == [
        model(whole),
        model(crop),
        f"{whole['constant_prior']['median_scaled_delta1']:.3f}",
        f"{whole['row_prior']['median_scaled_delta1']:.3f}",
    ]
