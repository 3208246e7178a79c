"""The depth node in its own process, as users run it, fed across a process boundary."""

import re
import time

import numpy as np
import pytest
from rclpy.qos import QoSProfile, QoSReliabilityPolicy
from sensor_msgs.msg import CameraInfo, Image, PointCloud2

from edge_perception.core.depth_geometry import PinholeIntrinsics
from edge_perception.core.pointcloud_layout import unpack_points
from edge_perception.messages import camera_info_msg, image_msg
from edge_perception.msg import InferenceTiming
from edge_perception.replay.node_process import NodeProcess

from ros_helpers import depth_array
from tiny_models import red_channel_depth_model, write_model

WIDTH, HEIGHT = 640, 480
FRAMES = 45
# A camera's rate, or a third of what the node serves one frame at a time where that is less:
# the test is about the transport losing nothing, not about this machine's speed.
CAMERA_RATE_HZ = 30.0


def test_full_rate_vga_images_depth_and_clouds_cross_processes_best_effort(ros_graph, tmp_path):
    graph = ros_graph
    model = write_model(red_channel_depth_model(120, 160), tmp_path, 'red')
    best_effort = {f'qos_overrides./{topic}.publisher.reliability': 'best_effort'
                   for topic in ('depth', 'points')}
    depth_node = graph.start_process('depth_node', model=model, mean=[0.0], scale=[1.0],
                                     depth_scale=0.01, min_depth=0.0, **best_effort)
    publisher = graph.publisher(Image, 'image')
    info_publisher = graph.publisher(CameraInfo, 'camera_info')
    # The probe keeps every output of the run: a probe that stalls a moment on this shared
    # machine must not lose what the wire delivered to its own history.
    keep_all = QoSProfile(depth=FRAMES, reliability=QoSReliabilityPolicy.BEST_EFFORT)
    depth = graph.collect(Image, 'depth', keep_all)
    points = graph.collect(PointCloud2, 'points', keep_all)
    timing = graph.collect(InferenceTiming, 'inference_timing', 2 * FRAMES)
    image = np.zeros((HEIGHT, WIDTH, 3), np.uint8)
    image[:, :, 0] = 150
    # Best effort may lose the first samples after matching, and the first frame that
    # arrives compiles the model for 640x480: repeat it until depth comes back.
    graph.warm_up(lambda attempt: publisher.publish(image_msg(image, 'rgb8')),
                  lambda _: depth, timeout_s=30.0, retry_s=0.2)
    camera_info = camera_info_msg(PinholeIntrinsics(525.0, 525.0, 319.5, 239.5, WIDTH, HEIGHT))
    round_trips = []
    for _ in range(5):
        for outputs in (depth, points, timing):
            outputs.clear()
        sent = time.perf_counter()
        info_publisher.publish(camera_info)
        publisher.publish(image_msg(image, 'rgb8'))
        assert graph.wait_for(lambda: depth, timeout_s=10.0)
        # The pace must cover taking the 4.9 MB cloud here too, not only the depth image: a
        # probe still busy with a cloud loses the next best-effort depth to its history. (No
        # assert: a frame that beat its CameraInfo has no cloud; the median ignores it.)
        graph.wait_for(lambda: points, timeout_s=10.0)
        round_trips.append(time.perf_counter() - sent)
        assert graph.wait_for(lambda: timing, timeout_s=10.0)
    # The node received every frame before this one by the time it served it (one at a time).
    received_before = timing[-1].frames_received
    period_s = max(1.0 / CAMERA_RATE_HZ, 3 * sorted(round_trips)[2])
    for outputs in (depth, points, timing):
        outputs.clear()
    started = time.perf_counter()
    for index in range(FRAMES):
        info_publisher.publish(camera_info)
        publisher.publish(image_msg(image, 'rgb8', stamp=index + 1))
        graph.spin_for(started + (index + 1) * period_s - time.perf_counter())
    graph.wait_for(lambda: len(depth) >= len(timing) and len(points) >= len(timing),
                   timeout_s=3.0)
    # Transport, not this machine's speed: the VGA images that reached the node, and of the
    # frames it served (its timing, reliable), the depth images and clouds that reached here.
    # A frame the node dropped because a moment's stall left it busy is not a loss.
    reached_node = max(message.frames_received for message in timing) - received_before
    assert reached_node >= 0.9 * FRAMES, f'{reached_node} of {FRAMES} images reached the node'
    served = {message.header.stamp.nanosec for message in timing}
    assert len(served) >= 0.5 * FRAMES, \
        f'the node served {len(served)} of {reached_node} frames: {timing[-1]}'
    arrived = {message.header.stamp.nanosec for message in depth}
    assert arrived <= served
    assert len(arrived) >= 0.9 * len(served), \
        f'{len(arrived)} of {len(served)} depth images the node published arrived'
    assert len(points) >= 0.9 * len(served), \
        f'{len(points)} of {len(served)} clouds the node published arrived'
    assert (points[-1].height, points[-1].width) == (HEIGHT, WIDTH)
    cloud, _ = unpack_points(points[-1].fields, points[-1].point_step, HEIGHT, WIDTH,
                             points[-1].data)
    np.testing.assert_allclose(cloud[:, :, 2], 1.5, rtol=1e-6)
    assert (depth[-1].width, depth[-1].height) == (WIDTH, HEIGHT)
    np.testing.assert_allclose(depth_array(depth[-1]), 1.5, rtol=1e-6)
    stamps = [msg.header.stamp.nanosec for msg in depth]
    assert stamps == sorted(stamps)
    assert depth_node.stop() == 0, depth_node.output


@pytest.mark.parametrize('parameters, expected', [
    (('device', 'MYRIAD'), r"device 'MYRIAD' is not available.*sees here: CPU"),
    (('model', '/no/such/model.xml'), r"model file '/no/such/model.xml' does not exist"),
    (('preprocessing', 'sometimes'), r"'preprocessing' is 'sometimes'; must be one of"),
    (('min_depth', 20.0), r'min_depth \(20.0\) must be below max_depth \(10.0\)'),
])
def test_start_up_failure_exits_non_zero_with_one_clear_message(parameters, expected, tmp_path):
    model = write_model(red_channel_depth_model(8, 8), tmp_path, 'red')
    depth_node = NodeProcess('depth_node', dict([('model', model), parameters]))
    depth_node.process.wait(timeout=60)
    assert depth_node.stop() == 1, depth_node.output
    assert re.search(expected, depth_node.output), depth_node.output
    assert 'Traceback' not in depth_node.output
