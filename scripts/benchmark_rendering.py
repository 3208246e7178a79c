#!/usr/bin/env python3
"""Scenes per second of the training-data renderer, serial against a process pool (run with
.venv/bin/python; no ROS, no torch).

Renders the same training seeds (camera and size as ``train_fastdepth`` draws them, squashed to
160 and 224 as it stores them) once in this process and once with ``--workers`` processes, checks
that both give the same bytes, and prints scenes/s for each. The load average is printed beside
the figures: on a machine shared with other jobs the parallel speed-up is capped by the cores
actually free.
"""

import argparse
import os
import time

from edge_perception.training.scenes import SCENE_STYLES
from edge_perception.training.synthetic_dataset import build_datasets


def _rendering_rate(seeds, sizes, workers, randomisation):
    """Render ``seeds`` and return the datasets and scenes per second."""
    start = time.perf_counter()
    datasets = build_datasets(seeds, sizes, workers, randomisation)
    return datasets, len(seeds) / (time.perf_counter() - start)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('--scenes', type=int, default=48, help='scenes per measurement')
    parser.add_argument('--workers', type=int, default=os.cpu_count() or 1,
                        help='processes of the parallel measurement')
    parser.add_argument('--scene-style', choices=sorted(SCENE_STYLES), default='classic')
    parser.add_argument('--first-seed', type=int, default=0)
    arguments = parser.parse_args()

    seeds = list(range(arguments.first_seed, arguments.first_seed + arguments.scenes))
    sizes = (160, 224)
    randomisation = SCENE_STYLES[arguments.scene_style]
    print(f'{arguments.scenes} {arguments.scene_style} scenes (a quarter at 640x480, the rest '
          f'320x240), {os.cpu_count()} cores, load average before '
          f'{os.getloadavg()[0]:.2f}', flush=True)
    serial, serial_rate = _rendering_rate(seeds, sizes, 1, randomisation)
    print(f'serial:               {serial_rate:6.2f} scenes/s', flush=True)
    parallel, parallel_rate = _rendering_rate(seeds, sizes, arguments.workers, randomisation)
    print(f'parallel, {arguments.workers:2d} workers: {parallel_rate:6.2f} scenes/s '
          f'({parallel_rate / serial_rate:.2f}x)', flush=True)
    identical = all(
        serial[size].images.tobytes() == parallel[size].images.tobytes()
        and serial[size].depths.tobytes() == parallel[size].depths.tobytes()
        for size in sizes
    )
    print(f'same bytes as serial: {identical}; load average after {os.getloadavg()[0]:.2f}')
    if not identical:
        raise SystemExit('parallel rendering differs from serial rendering')


if __name__ == '__main__':
    main()
