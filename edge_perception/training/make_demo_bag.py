"""Write the bundled demo recording: a camera gliding through one synthetic scene.

Usage::

    python -m edge_perception.training.make_demo_bag --output data/demo_depth_bag

The output is deterministic (same options, same message contents and timestamps). Topics:
``/camera/image_raw`` (rgb8), ``/camera/camera_info`` (plumb_bob, no distortion) and
``/camera/depth/ground_truth`` (32FC1 metres, NaN where the sky is seen), all in
``camera_optical_frame`` with header stamps equal to the bag timestamps.
"""

from __future__ import annotations

import argparse
from pathlib import Path
import shutil

import numpy as np

from edge_perception.bags.types import DEFAULT_FRAME_ID, DepthFrame
from edge_perception.bags.writer import write_depth_bag
from edge_perception.core.depth_geometry import PinholeIntrinsics
from edge_perception.training.scenes import render_trajectory

#: Scene of the demo bag. Outside the training (0..) and validation (1e9..) seed ranges, so the
#: demo is a scene the model has never seen.
DEMO_SCENE_SEED = 2_000_000_012

#: Time of the first frame: 2025-01-01T00:00:00Z, a fixed value so the bag is reproducible.
DEMO_START_NS = 1_735_689_600 * 1_000_000_000


def _millimetre_depth_with_nan(depth: np.ndarray) -> np.ndarray:
    """Round depth to millimetres and mark unknown depth (sky, ``inf``) with NaN."""
    rounded = np.round(depth.astype(np.float64) * 1000.0) / 1000.0
    return np.where(np.isfinite(depth), rounded, np.nan).astype(np.float32)


def demo_frames(
    seed: int,
    frame_count: int,
    width: int,
    height: int,
    horizontal_fov_deg: float,
    rate_hz: float,
    start_ns: int = DEMO_START_NS,
    frame_id: str = DEFAULT_FRAME_ID,
) -> list[DepthFrame]:
    """Render the demo trajectory as bag frames.

    :param seed: scene seed.
    :param frame_count: number of frames.
    :param width: image width, pixels.
    :param height: image height, pixels.
    :param horizontal_fov_deg: horizontal field of view, degrees.
    :param rate_hz: frame rate.
    :param start_ns: stamp of the first frame, nanoseconds.
    :param frame_id: camera optical frame id.
    :returns: frames with NaN (not inf) marking sky in the depth, as ROS depth images do.
        Depth is rounded to whole millimetres: far below the model's error, and it lets zstd
        shrink the depth messages about ninefold, which keeps the bag small enough for the
        repository.
    """
    intrinsics = PinholeIntrinsics.from_horizontal_fov(width, height, horizontal_fov_deg)
    period_ns = round(1e9 / rate_hz)
    frames = []
    for index, render in enumerate(render_trajectory(seed, intrinsics, frame_count)):
        frames.append(
            DepthFrame(
                stamp_ns=start_ns + index * period_ns,
                rgb=render.rgb,
                depth=_millimetre_depth_with_nan(render.depth),
                camera_matrix=intrinsics.matrix(),
                frame_id=frame_id,
            )
        )
    return frames


def main(argv: list[str] | None = None) -> None:
    """Entry point.

    :param argv: arguments without the program name; ``sys.argv[1:]`` when ``None``.
    """
    parser = argparse.ArgumentParser(
        description='Write the synthetic demo rosbag2 (MCAP) with ground-truth depth.',
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    parser.add_argument(
        '--output', type=Path, default=Path('data/demo_depth_bag'), help='bag directory to create'
    )
    parser.add_argument('--overwrite', action='store_true', help='replace an existing bag')
    parser.add_argument('--frames', type=int, default=12, help='number of frames')
    parser.add_argument('--rate', type=float, default=10.0, help='frame rate, Hz')
    parser.add_argument('--width', type=int, default=640)
    parser.add_argument('--height', type=int, default=480)
    parser.add_argument('--hfov', type=float, default=65.0, help='horizontal field of view, deg')
    parser.add_argument('--seed', type=int, default=DEMO_SCENE_SEED, help='scene seed')
    parser.add_argument(
        '--no-compression', action='store_true', help='do not zstd-compress the MCAP chunks'
    )
    arguments = parser.parse_args(argv)
    if arguments.output.exists():
        if not arguments.overwrite:
            parser.error(f'{arguments.output} exists; pass --overwrite to replace it')
        shutil.rmtree(arguments.output)
    frames = demo_frames(
        arguments.seed,
        arguments.frames,
        arguments.width,
        arguments.height,
        arguments.hfov,
        arguments.rate,
    )
    write_depth_bag(arguments.output, frames, compress=not arguments.no_compression)
    size = sum(path.stat().st_size for path in arguments.output.iterdir())
    print(f'wrote {len(frames)} frames to {arguments.output} ({size / 1e6:.1f} MB)')


if __name__ == '__main__':
    main()
