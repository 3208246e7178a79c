"""rosbag2 (MCAP) writing and reading of camera frames with ground-truth depth."""

import numpy as np
import pytest

from edge_perception.bags.reader import read_depth_bag
from edge_perception.bags.types import DEFAULT_FRAME_ID, DepthFrame, TYPESTORE
from edge_perception.bags.writer import write_depth_bag
from edge_perception.core.image_codec import ImageFrame, message_to_array
from edge_perception.messages import bag_types, header_msg, image_msg_from_fields
from edge_perception.training import make_demo_bag


def _frames(count, height=6, width=8):
    rng = np.random.default_rng(0)
    frames = []
    for index in range(count):
        depth = rng.uniform(0.5, 10.0, (height, width)).astype(np.float32)
        depth[0, index] = np.nan
        frames.append(
            DepthFrame(
                stamp_ns=1_000_000_000 + index * 100_000_000,
                rgb=rng.integers(0, 256, (height, width, 3), dtype=np.uint8),
                depth=depth,
                camera_matrix=np.array([[5.0, 0, 3.5], [0, 5.0, 2.5], [0, 0, 1]]),
            )
        )
    return frames


@pytest.mark.parametrize('compress', [True, False])
def test_round_trip_preserves_arrays(tmp_path, compress):
    written = _frames(3)
    write_depth_bag(tmp_path / 'bag', written, compress=compress)
    assert (tmp_path / 'bag' / 'metadata.yaml').exists()
    read = read_depth_bag(tmp_path / 'bag')
    assert len(read) == 3
    for original, copy in zip(written, read, strict=True):
        assert copy.stamp_ns == original.stamp_ns
        assert copy.frame_id == DEFAULT_FRAME_ID
        np.testing.assert_array_equal(copy.rgb, original.rgb)
        np.testing.assert_array_equal(copy.depth, original.depth)  # NaN compares equal here
        np.testing.assert_array_equal(copy.camera_matrix, original.camera_matrix)


def test_padded_rows_and_big_endian_depth_are_decoded():
    depth = np.array([[1.5, 2.5], [3.5, np.nan]], dtype='>f4')
    padded = np.zeros((2, 12), np.uint8)
    padded[:, :8] = depth.view(np.uint8).reshape(2, 8)
    types = bag_types(TYPESTORE)
    message = image_msg_from_fields(header_msg(types=types),
                                    ImageFrame(2, 2, '32FC1', True, 12, padded.tobytes()), types)
    decoded = message_to_array(message)
    assert decoded.dtype == np.float32
    np.testing.assert_array_equal(decoded, depth.astype(np.float32))


def test_unknown_encoding_is_rejected():
    types = bag_types(TYPESTORE)
    message = image_msg_from_fields(header_msg(types=types),
                                    ImageFrame(1, 1, 'yuv422', False, 2, bytes(2)), types)
    with pytest.raises(ValueError, match='yuv422'):
        message_to_array(message)


def test_demo_bag_command_writes_a_readable_deterministic_recording(tmp_path):
    arguments = ['--frames', '2', '--width', '64', '--height', '48']
    make_demo_bag.main(['--output', str(tmp_path / 'a'), *arguments])
    make_demo_bag.main(['--output', str(tmp_path / 'b'), *arguments])
    first, second = read_depth_bag(tmp_path / 'a'), read_depth_bag(tmp_path / 'b')
    assert len(first) == 2
    assert first[1].stamp_ns - first[0].stamp_ns == 100_000_000
    assert first[0].rgb.shape == (48, 64, 3) and first[0].depth.dtype == np.float32
    finite = np.isfinite(first[0].depth)
    # Sky is NaN (never inf), surfaces are whole millimetres.
    assert not np.isinf(first[0].depth).any()
    millimetres = first[0].depth[finite] * 1000.0
    np.testing.assert_allclose(millimetres, np.round(millimetres), atol=1e-3)
    for one, other in zip(first, second, strict=True):
        np.testing.assert_array_equal(one.rgb, other.rgb)
        np.testing.assert_array_equal(one.depth, other.depth)
    with pytest.raises(SystemExit):
        make_demo_bag.main(['--output', str(tmp_path / 'a'), *arguments])
