r"""A depth that depends only on the image row, fitted on training data: a trivial prior.

What a network could learn without looking at the image: the median depth of each row over a
training set's 224×224 depth maps (sky and holes left out). Scored on a frame it never saw
(:mod:`edge_perception.training.frame_scores`), it shows how much of a model's score is "lower
in the image is closer". Unlike :func:`~edge_perception.training.depth_evaluation.row_prior`,
which reads each test image's own truth, it knows nothing of the test frame.

``python -m edge_perception.training.row_prior --scenes 400 --scene-style classic \
--output models/fastdepth/fastdepth_row_prior.json`` fits it on the first training scenes of a
style and writes it as JSON. No torch, no rclpy.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import math
import os
from pathlib import Path

import numpy as np

from edge_perception.training.scenes import SCENE_STYLES, TEXTURE_FAMILIES
from edge_perception.training.synthetic_dataset import build_datasets, DepthDataset

#: Rows of the profile (the model's input height).
PROFILE_ROWS = 224
#: Largest row-prior file read, bytes.
MAX_FILE_BYTES = 1 << 20


@dataclasses.dataclass(frozen=True)
class RowPrior:
    """Depth by row, top to bottom of the whole frame.

    :param depth_by_row: metres, one value per equal band of the frame's height.
    :param fitted_on: what it was fitted on, in words.
    """

    depth_by_row: np.ndarray
    fitted_on: str

    def predict(self, height: int, width: int) -> np.ndarray:
        """Return a ``height`` × ``width`` float32 depth map of the whole frame.

        :param height: rows of the frame.
        :param width: columns of the frame.
        """
        rows = len(self.depth_by_row)
        profile = np.interp((np.arange(height) + 0.5) / height,
                            (np.arange(rows) + 0.5) / rows, self.depth_by_row)
        return np.repeat(profile.astype(np.float32)[:, None], width, axis=1)

    def to_json(self) -> str:
        """Return the prior as JSON text."""
        return json.dumps({'fitted_on': self.fitted_on,
                           'depth_by_row_m': [round(float(value), 4)
                                              for value in self.depth_by_row]}, indent=1) + '\n'

    @classmethod
    def read(cls, path: Path) -> RowPrior:
        """Read a prior :meth:`to_json` wrote.

        :raises ValueError: when the file is too large or not such a prior.
        """
        path = Path(path)
        if path.stat().st_size > MAX_FILE_BYTES:
            raise ValueError(f'{path}: larger than {MAX_FILE_BYTES} bytes, not a row prior')
        try:
            content = json.loads(path.read_text(encoding='utf-8'))
            depth = content['depth_by_row_m']
            fitted_on = str(content['fitted_on'])
        except (UnicodeDecodeError, json.JSONDecodeError, KeyError, TypeError) as error:
            raise ValueError(f'{path}: not a row prior ({error!r})') from error
        if not isinstance(depth, list) or not depth or not all(
                isinstance(value, (int, float)) and math.isfinite(value) and value > 0
                for value in depth):
            raise ValueError(f'{path}: depth_by_row_m must be a list of positive numbers')
        return cls(np.asarray(depth, dtype=np.float64), fitted_on)


def fit_row_prior(dataset: DepthDataset, fitted_on: str) -> RowPrior:
    """Fit the prior: the median valid depth of each row over all images of a dataset.

    :param dataset: N×S×S depth maps (``inf``/NaN/≤ 0 where unknown).
    :param fitted_on: what the dataset is, in words.
    :returns: the prior; rows without any valid depth take their nearest rows' values.
    :raises ValueError: when no pixel of the dataset has a depth.
    """
    depths = np.asarray(dataset.depths, dtype=np.float32)
    with np.errstate(invalid='ignore'):
        known = np.where(np.isfinite(depths) & (depths > 0), depths, np.nan)
    rows = np.moveaxis(known, 1, 0).reshape(known.shape[1], -1)
    has_depth = np.any(np.isfinite(rows), axis=1)
    if not np.any(has_depth):
        raise ValueError('the dataset has no valid depth to fit a row prior on')
    positions = np.arange(len(rows))
    medians = np.nanmedian(rows[has_depth], axis=1)
    return RowPrior(np.interp(positions, positions[has_depth], medians), fitted_on)


def main(argv: list[str] | None = None) -> None:
    """Fit the row prior on the first training scenes of a style and write it as JSON.

    :param argv: arguments without the program name; ``sys.argv[1:]`` when ``None``.
    """
    parser = argparse.ArgumentParser(description=main.__doc__.split('\n\n')[0])
    parser.add_argument('--scenes', type=int, default=400, help='training scenes (seeds 0…N-1)')
    parser.add_argument('--scene-style', choices=sorted(SCENE_STYLES), default='classic')
    parser.add_argument('--texture-family', choices=TEXTURE_FAMILIES, default='A')
    parser.add_argument('--render-workers', type=int, default=os.cpu_count() or 1)
    parser.add_argument('--output', type=Path, required=True, help='JSON file to write')
    arguments = parser.parse_args(argv)
    randomisation = dataclasses.replace(SCENE_STYLES[arguments.scene_style],
                                        texture_family=arguments.texture_family)
    dataset = build_datasets(range(arguments.scenes), (PROFILE_ROWS,), arguments.render_workers,
                             randomisation)[PROFILE_ROWS]
    prior = fit_row_prior(dataset, f'{arguments.scenes} training scenes (seeds 0..'
                          f'{arguments.scenes - 1}), style {arguments.scene_style}, texture '
                          f'family {arguments.texture_family}, 224x224 squashed frames')
    arguments.output.write_text(prior.to_json())
    print(f'wrote {arguments.output}: depth {prior.depth_by_row[0]:.2f} m at the top row, '
          f'{prior.depth_by_row[-1]:.2f} m at the bottom row')


if __name__ == '__main__':
    main()
