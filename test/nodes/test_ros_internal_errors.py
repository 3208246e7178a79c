"""A bug is not bad input: a frame that raises an unexpected exception inside a node process is
counted as an internal error (not as rejected), logged with its traceback, and makes
/diagnostics ERROR while it happens; the node serves on and goes back to OK.
"""

import stat
import sys

from diagnostic_msgs.msg import DiagnosticArray
import numpy as np
from sensor_msgs.msg import Image

from edge_perception.messages import image_msg

import buggy_depth_node
from ros_helpers import depth_array, level
from tiny_models import red_channel_depth_model, write_model

WIDTH, HEIGHT = 64, 48
ERROR = 2


def red_frame(width, red, stamp):
    image = np.zeros((HEIGHT, width, 3), np.uint8)
    image[:, :, 0] = red
    return image_msg(image, 'rgb8', stamp=stamp)


def node_executable(tmp_path):
    """An executable starting :mod:`buggy_depth_node` with this Python, as an installed node
    command starts its node.
    """
    executable = tmp_path / 'buggy_depth_node'
    executable.write_text(f'#!{sys.executable}\nimport runpy\n'
                          f'runpy.run_path({buggy_depth_node.__file__!r}, run_name="__main__")\n')
    executable.chmod(executable.stat().st_mode | stat.S_IXUSR)
    return executable


def test_a_bug_inside_frame_processing_is_counted_logged_and_an_error_across_processes(
        ros_graph, tmp_path):
    model = write_model(red_channel_depth_model(24, 32), tmp_path, 'red')
    node = ros_graph.start_process(str(node_executable(tmp_path)), model=model, mean=[0.0],
                                   scale=[1.0], depth_scale=0.01, min_depth=0.0,
                                   diagnostic_period=0.2)
    images = ros_graph.publisher(Image, 'image')
    depth = ros_graph.collect_by_stamp(Image, 'depth')
    diagnostics = ros_graph.collect(DiagnosticArray, '/diagnostics')
    ros_graph.warm_up(lambda attempt: images.publish(red_frame(WIDTH, 100, attempt + 1)),
                      lambda _: depth, 30.0)

    def statuses():
        return [status for msg in diagnostics for status in msg.status
                if status.name == 'depth_node: inference']

    def erroring():
        return any(level(status) == ERROR for status in statuses())

    buggy = buggy_depth_node.BUGGY_WIDTH
    ros_graph.warm_up(lambda attempt: images.publish(red_frame(buggy, 50, 10**9 + attempt)),
                      lambda _: erroring(), 30.0)
    status = next(status for status in statuses() if level(status) == ERROR)
    values = {item.key: item.value for item in status.values}
    assert int(values['internal_errors']) >= 1 and values['frames_rejected'] == '0', values
    assert values['last_internal_error'].startswith('TypeError: ')
    assert 'internal error (a bug, not bad input)' in status.message
    assert 'TypeError' in status.message
    assert not any(stamp >= 10**9 for stamp in depth)
    output = node.output
    assert 'internal error on this image' in output and 'Traceback (most recent call last)' in \
        output and 'image_to_array' in output, output

    # Good frames again: served, and /diagnostics goes back to OK once no bug fires.
    diagnostics.clear()
    ros_graph.warm_up(lambda attempt: images.publish(red_frame(WIDTH, 120, 2 * 10**9 + attempt)),
                      lambda _: any(stamp >= 2 * 10**9 for stamp in depth), 30.0)
    served = next(stamp for stamp in depth if stamp >= 2 * 10**9)
    np.testing.assert_allclose(depth_array(depth[served].message), 1.2, rtol=1e-6)
    assert ros_graph.wait_for(lambda: statuses() and level(statuses()[-1]) == 0, 10.0), \
        [status.message for status in statuses()]
    assert node.stop() == 0, node.output
