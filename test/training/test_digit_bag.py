"""The digit demo recording: writing, reading back, stamps and labels."""

import numpy as np
import pytest
from rosbags.rosbag2 import Reader

from edge_perception.bags.types import TYPESTORE
from edge_perception.messages import stamp_ns
from edge_perception.training import make_digits_bag
from edge_perception.training.make_digits_bag import DigitFrame, read_digits_bag, write_digits_bag


def _frames():
    rng = np.random.default_rng(0)
    return [
        DigitFrame(
            stamp_ns=1_000_000_000 + index * 500_000_000,
            rgb=rng.integers(0, 256, (6, 8, 3), dtype=np.uint8),
            label=label,
        )
        for index, label in enumerate((7, 0, 3))
    ]


def test_round_trip_gives_images_and_labels_in_time_order(tmp_path):
    frames = _frames()
    # Written out of order: reading sorts by time.
    write_digits_bag(tmp_path / 'bag', [frames[1], frames[0], frames[2]])
    pairs = read_digits_bag(tmp_path / 'bag')
    assert [label for _, label in pairs] == [7, 0, 3]
    for (image, _), frame in zip(pairs, frames, strict=True):
        np.testing.assert_array_equal(image, frame.rgb)


def test_image_stamp_label_and_bag_time_agree(tmp_path):
    write_digits_bag(tmp_path / 'bag', _frames(), compress=False)
    image_times, label_times = [], []
    with Reader(tmp_path / 'bag') as reader:
        types = {c.topic: c.msgtype for c in reader.connections}
        assert types == {
            '/camera/image_raw': 'sensor_msgs/msg/Image',
            '/camera/digit_label': 'std_msgs/msg/UInt8',
        }
        for connection, timestamp, raw in reader.messages():
            message = TYPESTORE.deserialize_cdr(raw, connection.msgtype)
            if connection.topic == '/camera/image_raw':
                assert stamp_ns(message) == timestamp
                assert message.header.frame_id == 'camera_optical_frame'
                assert message.encoding == 'rgb8'
                image_times.append(timestamp)
            else:
                label_times.append(timestamp)
    assert image_times == label_times == [1_000_000_000, 1_500_000_000, 2_000_000_000]


def test_demo_bag_holds_test_digits_at_two_hertz(tmp_path):
    pytest.importorskip('sklearn')
    bag = tmp_path / 'demo'
    make_digits_bag.main(['--output', str(bag), '--frames', '12', '--width', '64',
                          '--height', '48'])
    pairs = read_digits_bag(bag)
    labels = [label for _, label in pairs]
    assert len(pairs) == 12
    # The first ten frames show every class once.
    assert sorted(labels[:10]) == list(range(10))
    assert all(image.shape == (48, 64, 3) and image.dtype == np.uint8 for image, _ in pairs)
    with Reader(bag) as reader:
        times = [timestamp for _, timestamp, _ in reader.messages()]
    start = make_digits_bag.DEMO_START_NS
    assert sorted(set(times)) == [start + index * 500_000_000 for index in range(12)]
    again = make_digits_bag.demo_frames(12, 64, 48, rate_hz=2.0)
    np.testing.assert_array_equal(again[5].rgb, pairs[5][0])
    with pytest.raises(SystemExit):
        make_digits_bag.main(['--output', str(bag)])
