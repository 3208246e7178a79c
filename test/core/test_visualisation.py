"""Colour-mapped depth."""

import numpy as np

from edge_perception.core.visualisation import colorize_depth, labelled


def test_colour_map_spans_the_range_and_blanks_invalid_pixels():
    depth = np.array([[0.0, 5.0, 10.0, np.nan, 20.0]], np.float32)
    image = colorize_depth(depth, 0.0, 10.0)
    assert image.shape == (1, 5, 3) and image.dtype == np.uint8
    np.testing.assert_array_equal(image[0, 3], 0)
    np.testing.assert_array_equal(image[0, 4], image[0, 2])
    assert len({tuple(pixel) for pixel in image[0, :3]}) == 3
    assert labelled(np.zeros((40, 200, 3), np.uint8), 'depth').any()
