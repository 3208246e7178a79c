"""camera_depth.launch.py executed by ``ros2 launch``: a video file played by camera_node into
the depth node, and monitor_node's page counting the frames, all in one namespace.
"""

import json
import time
import urllib.request

from sensor_msgs.msg import Image
import yaml

from edge_perception.package_paths import shared_file

from camera_clips import write_clip
from ros_helpers import depth_array, MONITOR_ADDRESS

WIDTH, HEIGHT = 160, 120


def changed_copy(name, tmp_path, **values):
    """Write the package's config/NAME.yaml with ``values`` changed; return its path."""
    document = yaml.safe_load(shared_file('config', f'{name}.yaml').read_text())
    document['/**']['ros__parameters'].update(values)
    path = tmp_path / f'{name}.yaml'
    path.write_text(yaml.safe_dump(document, sort_keys=False))
    return path


def monitor_status(address):
    with urllib.request.urlopen(f'http://{address}/api/status', timeout=10) as response:
        return json.load(response)


def frames_processed(address):
    timing = monitor_status(address)['timing']
    return timing['frames_processed'] if timing else 0


def wait_until(predicate, timeout_s):
    deadline = time.monotonic() + timeout_s
    while not predicate():
        assert time.monotonic() < deadline, f'not within {timeout_s:g} s'
        time.sleep(0.2)


def test_a_video_comes_back_as_depth_and_the_monitor_counts_its_frames(ros2, ros_graph,
                                                                       tmp_path):
    clip = write_clip(tmp_path / 'clip.mp4', 20, WIDTH, HEIGHT, 10)
    camera_file = changed_copy('camera', tmp_path, loop=True)
    monitor_file = changed_copy('monitor', tmp_path, port=0)  # a free port, logged
    with ros2.launch('camera_depth.launch.py', f'video:={clip}', 'namespace:=robot1',
                     'monitor:=true', f'camera_params_file:={camera_file}',
                     f'monitor_params_file:={monitor_file}') as launch:
        launch.wait_for_output('serving the monitor page on')
        host, port = MONITOR_ADDRESS.search(launch.output).groups()
        address = f'{host}:{port}'
        depth = ros_graph.collect(Image, '/robot1/depth')
        assert ros_graph.wait_for(lambda: depth, 60.0), launch.output
        assert depth_array(depth[-1]).shape == (HEIGHT, WIDTH)
        assert depth[-1].header.frame_id == 'camera_optical_frame'  # the camera's header
        wait_until(lambda: frames_processed(address) > 0, 60.0)
        counted = frames_processed(address)
        wait_until(lambda: frames_processed(address) > counted, 60.0)
        assert monitor_status(address)['topics']['depth'] == '/robot1/depth'
        wait_until(lambda: any(diagnostic['name'].startswith('depth_node')
                               for diagnostic in monitor_status(address)['diagnostics']), 60.0)
        ros2.poll('node', 'list', until=lambda result: {
            '/robot1/camera', '/robot1/depth_node', '/robot1/monitor'} <= set(
                result.stdout.split()))
        code = launch.interrupt()
    assert code == 0, launch.output
    assert 'Traceback' not in launch.output, launch.output


def test_show_args_offers_the_camera_the_node_and_the_monitor(ros2):
    result = ros2.run('launch', 'edge_perception', 'camera_depth.launch.py', '--show-args')
    assert result.returncode == 0, result.stderr
    for argument in ('node', 'device', 'video', 'images', 'calibration', 'monitor',
                     'params_file', 'camera_params_file', 'monitor_params_file'):
        assert f"    '{argument}':" in result.stdout, argument


def test_an_unknown_node_is_refused(ros2):
    with ros2.launch('camera_depth.launch.py', 'node:=bogus', 'images:=/tmp') as launch:
        code = launch.wait()
    assert code != 0
    assert 'Argument "node" provided value "bogus" is not valid' in launch.output, launch.output
    assert 'process started' not in launch.output
