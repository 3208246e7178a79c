"""Camera frames of every encoding, and what ROS 2's cv_bridge makes of them: the reference the
core and node tests compare the model input with.
"""

import cv2
import numpy as np

from edge_perception.core.image_codec import ENCODINGS

# What cv_bridge's toCvCopy(msg, 'rgb8') / 'mono8' applies to each encoding (getConversionCodes):
# Bayer names shifted as OpenCV names its patterns, 'yuv422' being UYVY; 16-bit images are first
# scaled by 255/65535 with convertTo's rounding to nearest.
TO_RGB = {
    'bgr8': cv2.COLOR_BGR2RGB, '8UC3': cv2.COLOR_BGR2RGB, 'rgba8': cv2.COLOR_RGBA2RGB,
    'bgra8': cv2.COLOR_BGRA2RGB, 'mono8': cv2.COLOR_GRAY2RGB, '8UC1': cv2.COLOR_GRAY2RGB,
    'mono16': cv2.COLOR_GRAY2RGB, 'bgr16': cv2.COLOR_BGR2RGB,
    'yuyv': cv2.COLOR_YUV2RGB_YUY2, 'yuv422_yuy2': cv2.COLOR_YUV2RGB_YUY2,
    'uyvy': cv2.COLOR_YUV2RGB_UYVY, 'yuv422': cv2.COLOR_YUV2RGB_UYVY,
    'nv12': cv2.COLOR_YUV2RGB_NV12, 'nv21': cv2.COLOR_YUV2RGB_NV21, 'i420': cv2.COLOR_YUV2RGB_I420,
    'bayer_rggb8': cv2.COLOR_BayerBG2RGB, 'bayer_bggr8': cv2.COLOR_BayerRG2RGB,
    'bayer_gbrg8': cv2.COLOR_BayerGR2RGB, 'bayer_grbg8': cv2.COLOR_BayerGB2RGB,
}
TO_GRAY = {
    'yuyv': cv2.COLOR_YUV2GRAY_YUY2, 'uyvy': cv2.COLOR_YUV2GRAY_UYVY,
    'nv12': cv2.COLOR_YUV2GRAY_NV12, 'nv21': cv2.COLOR_YUV2GRAY_NV21,
    'i420': cv2.COLOR_YUV2GRAY_I420, 'bayer_rggb8': cv2.COLOR_BayerBG2GRAY,
}
# NV12 and I420 converted to RGB in the graph (OpenVINO's PrePostProcessor) against OpenCV: both
# use the BT.601 video-range coefficients and round to whole levels; measured at most 1 level
# apart (on about 0.1 % of pixels, OpenVINO 2023.0 and 2026.4) for Y in the video range
# 16..235 that cameras send. Below 16 ("super-black") OpenCV clamps Y to 16 and OpenVINO does
# not: up to 19 levels apart, so the frames here keep Y in the video range.
IN_GRAPH_YUV_TOLERANCE = 1.0
# Everything else is exact: host conversions are OpenCV's own, and 8-bit values stay exact
# through the f32 model input.
EXACT = 0.0


def camera_array(encoding, height, width, seed=0):
    """A random frame of ``encoding``, as ``image_to_array`` returns it.

    YUV values stay in BT.601's video range (Y 16..235, chroma 16..240), as cameras send them.
    """
    info = ENCODINGS[encoding]
    rng = np.random.default_rng(seed)
    rows = height * 3 // 2 if info.planar else height
    shape = (rows, width) if info.channels == 1 else (rows, width, info.channels)
    if info.dtype == np.uint16:
        return rng.integers(0, 65536, shape).astype(np.uint16)
    if not info.opencv_codes or 'bayer' in encoding:
        return rng.integers(0, 256, shape).astype(np.uint8)
    values = rng.integers(16, 241, shape).astype(np.uint8)  # chroma range
    luma = rng.integers(16, 236, shape).astype(np.uint8)
    if info.planar:
        values[:height] = luma[:height]
    else:  # packed 4:2:2: Y is every second byte, first in YUYV, second in UYVY
        y_index = 0 if encoding in ('yuyv', 'yuv422_yuy2') else 1
        values[:, :, y_index] = luma[:, :, y_index]
    return values


def reference(array, encoding, order='RGB'):
    """The 8-bit image cv_bridge makes of ``array`` in ``order`` ('RGB', 'BGR' or 'GRAY')."""
    if array.dtype == np.uint16:  # convertTo(..., 255/65535): rounded to nearest
        array = np.rint(array.astype(np.float64) * 255.0 / 65535.0).astype(np.uint8)
    if order == 'GRAY':
        return cv2.cvtColor(array, TO_GRAY[encoding]) if encoding in TO_GRAY else array
    rgb = cv2.cvtColor(array, TO_RGB[encoding]) if encoding in TO_RGB else array
    return rgb if order == 'RGB' else rgb[:, :, ::-1]


def tolerance(encoding, mode):
    """Largest difference from :func:`reference` allowed in a model input, in levels, for
    ``encoding`` frames with the preprocessing ``mode`` ('graph' or 'host').
    """
    return IN_GRAPH_YUV_TOLERANCE if mode == 'graph' and encoding in ('nv12', 'i420') else EXACT
