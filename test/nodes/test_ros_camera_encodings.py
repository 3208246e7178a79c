"""Camera encodings through the depth node in its own process, fed across a process boundary.

The model passes the red channel of its input through as depth, at the camera's size: the depth
image is the red channel of what the node made of the frame, compared with cv_bridge's
conversion of the same frame.
"""

import itertools

from diagnostic_msgs.msg import DiagnosticArray
import numpy as np
from sensor_msgs.msg import Image

from edge_perception.core.image_codec import CAMERA_ENCODINGS
from edge_perception.messages import image_msg, stamp_ns

from camera_frames import camera_array, reference, tolerance
from ros_helpers import depth_array
from tiny_models import red_channel_depth_model, write_model

WIDTH, HEIGHT = 640, 480
DEPTH_SCALE = 0.01  # metres per level of the red channel
# Depth is float32: a level times DEPTH_SCALE, within float32 rounding.
FLOAT_TOLERANCE = 1e-6


class CameraProbe:
    """Publishes frames to the depth node, reads its depth by stamp and its /diagnostics."""

    def __init__(self, graph):
        self.graph = graph
        self.publisher = graph.publisher(Image, 'image')
        self.depth = graph.collect_by_stamp(Image, 'depth')
        self.diagnostics = graph.collect(DiagnosticArray, '/diagnostics')
        self._stamps = itertools.count(1)

    def publish(self, array, encoding):
        """Publish one frame with a new stamp; return the stamp."""
        stamp = next(self._stamps)
        self.publisher.publish(image_msg(array, encoding, stamp=stamp))
        return stamp

    def serve(self, array, encoding):
        """Publish ``array`` until the node answers one of its frames; return that depth image.

        The first frame of a stream compiles the model for it, and best-effort frames may be
        lost: the frame goes out again each second until one is answered.
        """
        stamp = self.graph.warm_up(lambda attempt: self.publish(array, encoding),
                                   lambda stamp: stamp in self.depth, timeout_s=60.0)
        return self.depth[stamp].message

    def rejected(self):
        """Frames the node has rejected, as its latest /diagnostics report says."""
        values = {item.key: item.value for item in self.diagnostics[-1].status[0].values}
        return int(values['frames_rejected'])

    def refuse(self, array, encoding):
        """Publish a bad frame until the node counts one more rejected frame (best-effort
        frames may be lost on the way); return the stamps sent.

        Call it after :meth:`serve`: every frame sent before has been taken by then, so a
        report made from now on counts them all.
        """
        now = self.graph.probe.get_clock().now().nanoseconds
        assert self.graph.wait_for(
            lambda: self.diagnostics and stamp_ns(self.diagnostics[-1]) > now)
        before = self.rejected()
        stamps = []

        def publish(attempt):
            stamps.append(self.publish(array, encoding))
            return stamps[-1]

        self.graph.warm_up(publish, lambda _: self.rejected() > before, timeout_s=30.0)
        return stamps


def expected_depth(array, encoding):
    return reference(array, encoding)[:, :, 0].astype(np.float32) * DEPTH_SCALE


def test_yuyv_nv12_and_bayer_give_the_depth_of_the_reference_conversion(ros_graph, tmp_path):
    graph = ros_graph
    model = write_model(red_channel_depth_model(HEIGHT, WIDTH), tmp_path, 'red')
    depth_node = graph.start_process('depth_node', model=model, mean=[0.0], scale=[1.0],
                                     depth_scale=DEPTH_SCALE, min_depth=0.0, max_depth=10.0,
                                     diagnostic_period=0.2)
    camera = CameraProbe(graph)
    # preprocessing 'auto' on the CPU: YUYV and Bayer are converted on the host, NV12 in the
    # graph (within a level of OpenCV's conversion).
    for encoding in ('yuyv', 'nv12', 'bayer_rggb8'):
        array = camera_array(encoding, HEIGHT, WIDTH, seed=len(encoding))
        depth = camera.serve(array, encoding)
        assert (depth.width, depth.height, depth.encoding) == (WIDTH, HEIGHT, '32FC1')
        np.testing.assert_allclose(
            depth_array(depth), expected_depth(array, encoding), rtol=0,
            atol=tolerance(encoding, 'graph') * DEPTH_SCALE + FLOAT_TOLERANCE, err_msg=encoding)

    good = camera_array('yuyv', HEIGHT, WIDTH, seed=7)
    refused = camera.refuse(np.full((HEIGHT, WIDTH), 1500, np.uint16), '16UC1')
    assert graph.wait_for(lambda: "'16UC1' is not a camera image encoding" in depth_node.output)
    np.testing.assert_allclose(depth_array(camera.serve(good, 'yuyv')),
                               expected_depth(good, 'yuyv'), rtol=0, atol=FLOAT_TOLERANCE)

    # 641 x 480, 1282-byte rows: the warning is throttled after the 16UC1 one, the count is not.
    refused += camera.refuse(camera_array('yuyv', HEIGHT, WIDTH + 1, seed=8), 'yuyv')
    np.testing.assert_allclose(depth_array(camera.serve(good, 'yuyv')),
                               expected_depth(good, 'yuyv'), rtol=0, atol=FLOAT_TOLERANCE)
    assert not set(refused) & set(camera.depth)
    graph.ensure_running('after the refused frames')
    assert depth_node.stop() == 0, depth_node.output


def test_every_camera_encoding_gives_depth_of_the_cameras_size(ros_graph, tmp_path):
    model = write_model(red_channel_depth_model(HEIGHT, WIDTH), tmp_path, 'red')
    depth_node = ros_graph.start_process('depth_node', model=model, mean=[0.0], scale=[1.0],
                                         depth_scale=DEPTH_SCALE, min_depth=0.0,
                                         max_depth=10.0)
    camera = CameraProbe(ros_graph)
    assert len(CAMERA_ENCODINGS) >= 19, CAMERA_ENCODINGS
    for index, encoding in enumerate(CAMERA_ENCODINGS):
        array = camera_array(encoding, HEIGHT, WIDTH, seed=index)
        depth = camera.serve(array, encoding)
        assert (depth.width, depth.height) == (WIDTH, HEIGHT), encoding
        np.testing.assert_allclose(
            depth_array(depth), expected_depth(array, encoding), rtol=0,
            atol=tolerance(encoding, 'graph') * DEPTH_SCALE + FLOAT_TOLERANCE, err_msg=encoding)
    ros_graph.ensure_running('after every encoding')
    assert depth_node.stop() == 0, depth_node.output
