"""Write and read the bundled digit demo recording: a webcam looking at handwritten digits.

Usage::

    python -m edge_perception.training.make_digits_bag --output data/demo_digits_bag

The output is deterministic (same options, same message contents and timestamps). It holds
test-split digits only (never seen in training), two of each class in a shuffled order, each as
one 640×480 ``rgb8`` ``sensor_msgs/Image`` on ``/camera/image_raw`` (``camera_optical_frame``)
and its true class as ``std_msgs/UInt8`` on ``/camera/digit_label``. Both messages of a frame
carry the same bag timestamp, which is also the image's header stamp.
"""

from __future__ import annotations

import argparse
from collections.abc import Iterable
from dataclasses import dataclass, replace
from pathlib import Path
import shutil

import numpy as np

from edge_perception.bags.reader import read_frames, rosbags_decoder
from edge_perception.bags.types import (
    DEFAULT_FRAME_ID,
    DEFAULT_IMAGE_TOPIC,
    DEFAULT_LABEL_TOPIC,
    IMAGE_TYPE,
    LABEL_TYPE,
    TYPESTORE,
)
from edge_perception.bags.writer import write_mcap_bag
from edge_perception.core.image_codec import as_rgb8, message_to_array
from edge_perception.messages import bag_types, image_msg
from edge_perception.training.digits import (
    CAMERA_STYLE,
    CLASS_COUNT,
    load_digit_split,
    render_camera_frame,
)

#: Seed of the digit choice and of the frames' looks; outside the seeds used in training and
#: in the reported test accuracy, so the demo frames are new renders.
DEMO_SEED = 2_000_000

#: Time of the first frame: 2025-01-01T00:00:00Z, a fixed value so the bag is reproducible.
DEMO_START_NS = 1_735_689_600 * 1_000_000_000

#: The demo frames look like the test frames without sensor noise, as from a webcam whose
#: image processing denoises. Noise cannot be compressed: with it, 20 raw 640×480 frames take
#: about 13 MB, without it about 2 MB.
DEMO_STYLE = replace(CAMERA_STYLE, noise_sigma=(0.0, 0.0))


@dataclass
class DigitFrame:
    """One camera frame showing a handwritten digit.

    :param stamp_ns: time of the frame (bag timestamp and image header stamp), nanoseconds.
    :param rgb: H×W×3 uint8 RGB image.
    :param label: the digit shown, 0-9.
    :param frame_id: optical frame of the camera.
    """

    stamp_ns: int
    rgb: np.ndarray
    label: int
    frame_id: str = DEFAULT_FRAME_ID


def demo_frames(
    frame_count: int,
    width: int,
    height: int,
    rate_hz: float,
    seed: int = DEMO_SEED,
    start_ns: int = DEMO_START_NS,
) -> list[DigitFrame]:
    """Render test-split digits, cycling through the classes in shuffled rounds.

    Each round of ten frames shows every class once, in a random order, with a test digit not
    shown before.

    :param frame_count: number of frames.
    :param width: image width, pixels.
    :param height: image height, pixels.
    :param rate_hz: frame rate.
    :param seed: seed of the digit choice and of the renders (frame ``i``: ``(seed, i)``).
    :param start_ns: stamp of the first frame, nanoseconds.
    :returns: frames in time order.
    """
    split = load_digit_split()
    rng = np.random.default_rng(seed)
    members = [rng.permutation(np.flatnonzero(split.test_labels == c)) for c in range(CLASS_COUNT)]
    rounds = -(-frame_count // CLASS_COUNT)
    labels = np.concatenate([rng.permutation(CLASS_COUNT) for _ in range(rounds)])
    period_ns = round(1e9 / rate_hz)
    frames = []
    for index, label in enumerate(labels[:frame_count].tolist()):
        # Round r shows the r-th shuffled test digit of each class.
        class_members = members[label]
        digit = split.test_images[class_members[(index // CLASS_COUNT) % len(class_members)]]
        frames.append(
            DigitFrame(
                stamp_ns=start_ns + index * period_ns,
                rgb=render_camera_frame(digit, width, height, (seed, index), DEMO_STYLE),
                label=label,
            )
        )
    return frames


def write_digits_bag(
    path: Path,
    frames: Iterable[DigitFrame],
    image_topic: str = DEFAULT_IMAGE_TOPIC,
    label_topic: str = DEFAULT_LABEL_TOPIC,
    compress: bool = True,
) -> None:
    """Write frames to a new rosbag2 directory (MCAP storage).

    :param path: bag directory to create; it must not exist yet.
    :param frames: frames in time order.
    :param image_topic: topic of the ``rgb8`` images.
    :param label_topic: topic of the ``std_msgs/UInt8`` true classes.
    :param compress: compress MCAP chunks with zstd (MCAP's own chunk compression, which
        ``ros2 bag`` and other MCAP readers decompress transparently).
    """
    types = bag_types(TYPESTORE)
    records = []
    for frame in frames:
        records += [
            (image_topic, frame.stamp_ns,
             image_msg(frame.rgb, 'rgb8', frame.stamp_ns, frame.frame_id, types)),
            (label_topic, frame.stamp_ns, TYPESTORE.types[LABEL_TYPE](data=frame.label)),
        ]
    write_mcap_bag(path, {image_topic: IMAGE_TYPE, label_topic: LABEL_TYPE}, records, compress)


def read_digits_bag(
    path: Path,
    image_topic: str = DEFAULT_IMAGE_TOPIC,
    label_topic: str = DEFAULT_LABEL_TOPIC,
) -> list[tuple[np.ndarray, int]]:
    """Read a recording back as (image, label) pairs, matched by bag timestamp.

    Images without a label at the same timestamp are skipped; ``bgr8`` images are converted to
    RGB.

    :param path: rosbag2 directory.
    :param image_topic: camera image topic.
    :param label_topic: ``std_msgs/UInt8`` label topic.
    :returns: (H×W×3 uint8 RGB image, class) pairs in time order.
    """
    pairs = []
    for frame in read_frames(path, (image_topic, label_topic), decode=rosbags_decoder(TYPESTORE)):
        image, label = frame.messages.get(image_topic), frame.messages.get(label_topic)
        if image is not None and label is not None:
            rgb = np.ascontiguousarray(as_rgb8(message_to_array(image), image.encoding))
            pairs.append((rgb, int(label.data)))
    return pairs


def main(argv: list[str] | None = None) -> None:
    """Entry point.

    :param argv: arguments without the program name; ``sys.argv[1:]`` when ``None``.
    """
    parser = argparse.ArgumentParser(
        description='Write the handwritten-digit demo rosbag2 (MCAP) with true labels.',
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    parser.add_argument(
        '--output', type=Path, default=Path('data/demo_digits_bag'), help='bag directory to create'
    )
    parser.add_argument('--overwrite', action='store_true', help='replace an existing bag')
    parser.add_argument('--frames', type=int, default=20, help='number of frames')
    parser.add_argument('--rate', type=float, default=2.0, help='frame rate, Hz')
    parser.add_argument('--width', type=int, default=640)
    parser.add_argument('--height', type=int, default=480)
    parser.add_argument('--seed', type=int, default=DEMO_SEED, help='digit choice and look seed')
    parser.add_argument(
        '--no-compression', action='store_true', help='do not zstd-compress the MCAP chunks'
    )
    arguments = parser.parse_args(argv)
    if arguments.output.exists():
        if not arguments.overwrite:
            parser.error(f'{arguments.output} exists; pass --overwrite to replace it')
        shutil.rmtree(arguments.output)
    frames = demo_frames(
        arguments.frames, arguments.width, arguments.height, arguments.rate, arguments.seed
    )
    write_digits_bag(arguments.output, frames, compress=not arguments.no_compression)
    size = sum(path.stat().st_size for path in arguments.output.iterdir())
    print(f'wrote {len(frames)} frames to {arguments.output} ({size / 1e6:.1f} MB)')


if __name__ == '__main__':
    main()
