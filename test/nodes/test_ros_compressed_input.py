"""``image_transport: compressed``: JPEG and PNG ``CompressedImage`` frames, as
image_transport's compressed plugin publishes them, into the nodes in their own processes.
"""

import itertools

import cv2
from diagnostic_msgs.msg import DiagnosticArray
import numpy as np
from sensor_msgs.msg import CompressedImage, Image

from edge_perception.msg import Classification
from edge_perception.replay.soak import rss_mib

from compressed_frames import png_of_zeros
from ros_helpers import depth_array, peak_rss_mib, reset_peak_rss
from tiny_models import red_channel_depth_model, write_model

WIDTH, HEIGHT = 640, 480
DEPTH_SCALE = 0.01
CAMERA_TOPIC = '/camera/image_raw'


def camera_frame(seed):
    """Smooth content, as a camera sees (noise would not survive JPEG the same way)."""
    base = np.random.default_rng(seed).integers(0, 256, (12, 16, 3)).astype(np.float32)
    return np.clip(cv2.resize(base, (WIDTH, HEIGHT), interpolation=cv2.INTER_CUBIC), 0,
                   255).astype(np.uint8)


def compressed(bgr, extension, compressed_format, stamp):
    ok, data = cv2.imencode(extension, bgr)
    assert ok
    msg = CompressedImage(format=compressed_format, data=data.tobytes())
    msg.header.stamp.sec, msg.header.frame_id = stamp, 'camera_optical_frame'
    return msg


def test_jpeg_and_png_frames_give_depth_and_a_corrupt_one_is_dropped(ros_graph, tmp_path):
    model = write_model(red_channel_depth_model(HEIGHT, WIDTH), tmp_path, 'red')
    # 'image' remapped as a launch file does: the node must listen on '<image>/compressed'.
    node = ros_graph.start_process('depth_node', {'image': CAMERA_TOPIC}, model=model,
                                   image_transport='compressed', mean=[0.0], scale=[1.0],
                                   depth_scale=DEPTH_SCALE, min_depth=0.0,
                                   diagnostic_period=0.2)
    frames = ros_graph.publisher(CompressedImage, CAMERA_TOPIC + '/compressed')
    depth = ros_graph.collect(Image, 'depth')
    diagnostics = ros_graph.collect(DiagnosticArray, '/diagnostics')
    stamps = itertools.count(1)

    def serve(bgr, extension, compressed_format):
        sent = {}

        def publish(attempt):
            msg = compressed(bgr, extension, compressed_format, next(stamps))
            sent[msg.header.stamp.sec] = msg
            frames.publish(msg)

        ros_graph.warm_up(publish, lambda _: any(d.header.stamp.sec in sent for d in depth),
                          timeout_s=60.0)
        answer = next(d for d in depth if d.header.stamp.sec in sent)
        return sent[answer.header.stamp.sec], answer

    for extension, compressed_format in (('.jpg', 'rgb8; jpeg compressed bgr8'),
                                         ('.png', 'bgr8; png compressed bgr8'),
                                         ('.jpg', 'jpeg')):
        bgr = camera_frame(len(compressed_format))
        msg, answer = serve(bgr, extension, compressed_format)
        assert (answer.width, answer.height, answer.header.frame_id) == (
            WIDTH, HEIGHT, 'camera_optical_frame')
        # The reference is OpenCV's decoding of the very bytes sent (JPEG is lossy).
        decoded = cv2.imdecode(np.frombuffer(bytes(msg.data), np.uint8), cv2.IMREAD_COLOR)
        np.testing.assert_allclose(depth_array(answer), decoded[:, :, 2] * DEPTH_SCALE,
                                   rtol=1e-6, err_msg=compressed_format)
        if extension == '.png':  # lossless: the camera's own pixels
            np.testing.assert_allclose(depth_array(answer), bgr[:, :, 2] * DEPTH_SCALE,
                                       rtol=1e-6)

    good = compressed(camera_frame(99), '.jpg', 'jpeg', 0)
    truncated = CompressedImage(format='jpeg', data=bytes(good.data)[:len(good.data) // 2])

    def rejected():
        statuses = [status for msg in diagnostics for status in msg.status]
        values = {item.key: item.value for item in statuses[-1].values} if statuses else {}
        return int(values.get('frames_rejected', 0))

    ros_graph.warm_up(lambda attempt: frames.publish(truncated), lambda _: rejected() > 0,
                      timeout_s=30.0)
    assert ros_graph.wait_for(lambda: 'dropping compressed image' in node.output)
    serve(camera_frame(100), '.jpg', 'jpeg')  # and the node serves on
    ros_graph.ensure_running('after a corrupt JPEG')
    assert node.stop() == 0, node.output


def test_the_classifier_classifies_compressed_frames(ros_graph):
    node = ros_graph.start_process('classifier_node', image_transport='compressed')
    frames = ros_graph.publisher(CompressedImage, 'image/compressed')
    results = ros_graph.collect(Classification, 'classification')
    frame = compressed(camera_frame(5), '.jpg', 'rgb8; jpeg compressed bgr8', 3)
    ros_graph.warm_up(lambda attempt: frames.publish(frame), lambda _: results, timeout_s=60.0)
    assert results[0].header.stamp.sec == 3 and len(results[0].class_ids) == 5
    assert node.stop() == 0, node.output


def latest_values(diagnostics):
    statuses = [status for msg in diagnostics for status in msg.status]
    return {item.key: item.value for item in statuses[-1].values} if statuses else {}


def test_a_png_bomb_is_refused_from_its_header_before_it_is_decoded(ros_graph, tmp_path):
    """30000 x 30000 zeros in under 1 MB of PNG: decoded, 900 MB. The node reads the size from
    the IHDR chunk and refuses it; its peak memory (VmHWM, reset just before, so an array
    allocated and freed again still shows) stays within 50 MiB of what it held.
    """
    model = write_model(red_channel_depth_model(48, 64), tmp_path, 'red')
    node = ros_graph.start_process('depth_node', model=model, image_transport='compressed',
                                   mean=[0.0], scale=[1.0], depth_scale=DEPTH_SCALE,
                                   min_depth=0.0, diagnostic_period=0.2)
    frames = ros_graph.publisher(CompressedImage, 'image/compressed')
    depth = ros_graph.collect(Image, 'depth')
    diagnostics = ros_graph.collect(DiagnosticArray, '/diagnostics')
    good = compressed(camera_frame(7)[:48, :64], '.png', 'bgr8; png compressed bgr8', 1)
    ros_graph.warm_up(lambda attempt: frames.publish(good), lambda _: depth, timeout_s=60.0)
    bomb = CompressedImage(format='mono8; png compressed mono8', data=png_of_zeros(30000, 30000))
    assert len(bomb.data) < 1_000_000

    pid = node.process.pid
    before = rss_mib(pid)
    reset_peak_rss(pid)
    ros_graph.warm_up(lambda attempt: frames.publish(bomb),
                      lambda _: int(latest_values(diagnostics).get('frames_rejected', 0)) > 0,
                      timeout_s=30.0)
    peak = peak_rss_mib(pid)
    assert peak - before < 50.0, (before, peak)
    assert ros_graph.wait_for(lambda: '30000x30000 frame is larger than 4096x4096' in node.output)
    assert latest_values(diagnostics)['internal_errors'] == '0'

    depth.clear()
    ros_graph.warm_up(lambda attempt: frames.publish(good), lambda _: depth, timeout_s=30.0)
    np.testing.assert_allclose(depth_array(depth[0]), good_red(good) * DEPTH_SCALE, rtol=1e-6)
    assert node.stop() == 0, node.output


def good_red(msg):
    return cv2.imdecode(np.frombuffer(bytes(msg.data), np.uint8), cv2.IMREAD_COLOR)[:, :, 2]
