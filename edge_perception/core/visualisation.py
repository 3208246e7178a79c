"""Depth images as pictures people can look at."""

import cv2
import numpy as np


def colorize_depth(depth, min_depth, max_depth):
    """Return a BGR uint8 image of ``depth`` with the turbo colour map; NaN is black.

    :param depth: ``height x width`` metres.
    :param min_depth: metres drawn in the colour map's first colour (near: blue).
    :param max_depth: metres drawn in its last colour (far: red).
    """
    valid = np.isfinite(depth)
    normalised = np.zeros(depth.shape, np.uint8)
    span = max(max_depth - min_depth, 1e-6)
    normalised[valid] = np.clip((depth[valid] - min_depth) / span * 255.0, 0, 255)
    coloured = cv2.applyColorMap(normalised, cv2.COLORMAP_TURBO)
    coloured[~valid] = 0
    return coloured


def labelled(image_bgr, text):
    """Return a copy of ``image_bgr`` with ``text`` written in its top-left corner."""
    image = np.ascontiguousarray(image_bgr).copy()
    (width, height), baseline = cv2.getTextSize(text, cv2.FONT_HERSHEY_SIMPLEX, 0.7, 1)
    cv2.rectangle(image, (0, 0), (width + 16, height + baseline + 12), (0, 0, 0), cv2.FILLED)
    cv2.putText(image, text, (8, height + 6), cv2.FONT_HERSHEY_SIMPLEX, 0.7, (255, 255, 255),
                1, cv2.LINE_AA)
    return image
