"""Device faults on a real rclpy graph: fallback devices, failed inferences, /diagnostics."""

from diagnostic_msgs.msg import DiagnosticArray, DiagnosticStatus
import numpy as np
import pytest
from sensor_msgs.msg import Image

from edge_perception.core.health import ERROR_AFTER_FAILURES
from edge_perception.messages import image_msg
from edge_perception.nodes.depth_node import DepthNode

from ros_helpers import counter_grows, depth_array, level
from tiny_models import failing_depth_model, write_model

WIDTH, HEIGHT = 32, 24


THRESHOLD = 200


@pytest.fixture
def red_model(tmp_path):
    """Depth = red channel / 100; inference fails inside OpenVINO on red above THRESHOLD."""
    return str(write_model(failing_depth_model(12, 16, THRESHOLD), tmp_path, 'red'))


def frame(index, fail=False):
    """Red 100 + index; a failing frame (each failing index a different value)."""
    image = np.zeros((HEIGHT, WIDTH, 3), np.uint8)
    image[:, :, 0] = THRESHOLD + 1 + index % 50 if fail else 100 + index
    return image_msg(image, 'rgb8', stamp=index + 1)


def statuses(diagnostics, node_name='depth_node'):
    return [status for msg in diagnostics for status in msg.status
            if status.name == f'{node_name}: inference']


def start(ros_graph, red_model, **parameters):
    node = ros_graph.start(DepthNode, model=red_model, mean=[0.0], scale=[1.0],
                           depth_scale=0.01, min_depth=0.0, diagnostic_period=0.2, **parameters)
    images = ros_graph.publisher(Image, 'image')
    depth = ros_graph.collect(Image, 'depth')
    diagnostics = ros_graph.collect(DiagnosticArray, '/diagnostics')
    return node, images, depth, diagnostics


def test_an_absent_device_with_a_fallback_runs_on_the_fallback_and_says_so(ros_graph, red_model):
    node, images, depth, diagnostics = start(ros_graph, red_model, device='MYRIAD',
                                             fallback_devices=['CPU'])
    assert node.device == 'CPU'
    images.publish(frame(0))
    assert ros_graph.wait_for(lambda: depth)
    np.testing.assert_allclose(depth_array(depth[0]), 1.0, rtol=1e-6)
    assert ros_graph.wait_for(lambda: statuses(diagnostics))
    status = statuses(diagnostics)[-1]
    assert level(status) == level(DiagnosticStatus(level=DiagnosticStatus.WARN))
    assert "using fallback device 'CPU'" in status.message and 'MYRIAD' in status.message
    assert status.hardware_id == 'CPU'


def test_a_failed_inference_is_recovered_and_repeated_failures_are_an_error(ros_graph,
                                                                            red_model):
    node, images, depth, diagnostics = start(ros_graph, red_model)
    ok = level(DiagnosticStatus(level=DiagnosticStatus.OK))
    error = level(DiagnosticStatus(level=DiagnosticStatus.ERROR))
    images.publish(frame(0))
    assert ros_graph.wait_for(lambda: depth)

    failed = counter_grows(lambda: node.pipeline.inference_failures)
    images.publish(frame(1, fail=True))
    assert ros_graph.wait_for(failed)
    depth.clear()
    images.publish(frame(2))
    assert ros_graph.wait_for(lambda: depth), 'the node did not recover'
    np.testing.assert_allclose(depth_array(depth[0]), 1.02, rtol=1e-6)

    for index in range(3, 3 + ERROR_AFTER_FAILURES + 2):
        failed = counter_grows(lambda: node.pipeline.inference_failures)
        images.publish(frame(index, fail=True))
        assert ros_graph.wait_for(failed)
    diagnostics.clear()
    assert ros_graph.wait_for(lambda: statuses(diagnostics))
    status = statuses(diagnostics)[-1]
    assert level(status) == error, status
    assert 'inference failing' in status.message and 'Reshape' in status.message

    depth.clear()
    images.publish(frame(20))
    assert ros_graph.wait_for(lambda: depth), 'the node did not recover after the faults ended'
    diagnostics.clear()
    assert ros_graph.wait_for(lambda: statuses(diagnostics) and
                              level(statuses(diagnostics)[-1]) == ok)
    values = {item.key: item.value for item in statuses(diagnostics)[-1].values}
    assert int(values['inference_failures']) == ERROR_AFTER_FAILURES + 3
    assert int(values['recoveries']) >= ERROR_AFTER_FAILURES + 3


def test_a_node_process_with_a_fallback_device_serves_and_warns(ros_graph, red_model):
    process = ros_graph.start_process('depth_node', model=red_model, mean=[0.0], scale=[1.0],
                                      depth_scale=0.01, min_depth=0.0, device='MYRIAD',
                                      fallback_devices=['CPU'])
    images = ros_graph.publisher(Image, 'image')
    depth = ros_graph.collect(Image, 'depth')
    ros_graph.warm_up(lambda index: images.publish(frame(index)), lambda _: depth,
                      timeout_s=20.0)
    assert process.running()
    assert process.stop() == 0
    assert "using fallback device 'CPU'" in process.output, process.output
    assert 'Traceback' not in process.output
