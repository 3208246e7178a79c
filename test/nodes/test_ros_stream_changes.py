"""Streams that change under a running depth node: alternating resolutions, a stray frame of
another format, a frame too large to take.
"""

from diagnostic_msgs.msg import DiagnosticArray
import numpy as np
from sensor_msgs.msg import Image, PointCloud2

from edge_perception.messages import image_msg, stamp_ns
from edge_perception.nodes.depth_node import DepthNode
from edge_perception.replay.soak import rss_mib

from ros_helpers import depth_array
from tiny_models import red_channel_depth_model, write_model


def red_frame(width, height, red, stamp):
    image = np.zeros((height, width, 3), np.uint8)
    image[:, :, 0] = red
    return image_msg(image, 'rgb8', stamp=stamp)


def test_alternating_resolutions_compile_once_each_and_a_stray_frame_disturbs_nothing(
        ros_graph, tmp_path):
    model = write_model(red_channel_depth_model(24, 32), tmp_path, 'red')
    node = ros_graph.start(DepthNode, model=str(model), mean=[0.0], scale=[1.0],
                           depth_scale=0.01, min_depth=0.0, diagnostic_period=0.2)
    images = ros_graph.publisher(Image, 'image')
    depth = ros_graph.collect_by_stamp(Image, 'depth')
    diagnostics = ros_graph.collect(DiagnosticArray, '/diagnostics')
    sizes = ((640, 480), (320, 240))
    for index in range(8):
        width, height = sizes[index % 2]
        images.publish(red_frame(width, height, 100 + index, index + 1))
        assert ros_graph.wait_for(lambda index=index: index + 1 in depth), index
        result = depth[index + 1].message
        assert (result.width, result.height) == (width, height)
        np.testing.assert_allclose(depth_array(result), (100 + index) * 0.01, rtol=1e-6)
        if index == 3:  # a depth image sent to the camera topic by mistake
            images.publish(image_msg(np.zeros((480, 640), np.uint16), '16UC1', stamp=100))
            assert ros_graph.wait_for(lambda: node.frames_rejected == 1)
    assert node.pipeline.compilations == 2
    diagnostics.clear()
    assert ros_graph.wait_for(lambda: diagnostics)
    values = {item.key: item.value for item in diagnostics[-1].status[0].values}
    assert values['compilations'] == '2' and values['frames_processed'] == '8'
    assert values['frames_received'] == '9' and values['frames_rejected'] == '1'


def test_a_frame_over_the_size_limit_is_refused_before_anything_is_allocated(ros_graph,
                                                                             tmp_path):
    model = write_model(red_channel_depth_model(24, 32), tmp_path, 'red')
    process = ros_graph.start_process('depth_node', model=model, mean=[0.0], scale=[1.0],
                                      depth_scale=0.01, min_depth=0.0, diagnostic_period=0.2)
    images = ros_graph.publisher(Image, 'image')
    depth = ros_graph.collect_by_stamp(Image, 'depth')
    ros_graph.collect(PointCloud2, 'points')  # a taken frame would also be projected
    diagnostics = ros_graph.collect(DiagnosticArray, '/diagnostics')
    ros_graph.warm_up(lambda attempt: images.publish(red_frame(64, 48, 100, attempt + 1)),
                      lambda stamp: depth, 30.0)
    before = rss_mib(process.process.pid)
    # 4097 x 4097 mono8: 16 MiB on the wire; taken, its depth and cloud would need ~270 MiB.
    huge = image_msg(np.full((4097, 4097), 100, np.uint8), 'mono8', stamp=10**9)

    def rejected():
        return any(item.key == 'frames_rejected' and item.value != '0'
                   for msg in diagnostics for status in msg.status for item in status.values)
    ros_graph.warm_up(lambda attempt: images.publish(huge), lambda _: rejected(), 30.0)
    after = rss_mib(process.process.pid)
    assert after - before < 50.0, (before, after)
    assert stamp_ns(huge) not in depth
    images.publish(red_frame(64, 48, 120, 2 * 10**9))
    assert ros_graph.wait_for(lambda: 2 * 10**9 in depth)
    assert process.stop() == 0
    assert '4097x4097 frame is larger than 4096x4096' in process.output, process.output
