"""``camera_node`` and ``edge-perception camera`` in their own processes: a clip or an image
folder written here, received by real subscribers and by the depth node.
"""

import itertools
from pathlib import Path
import re
import subprocess

import numpy as np
from rclpy.parameter import Parameter
from rclpy.qos import qos_profile_sensor_data
from sensor_msgs.msg import CameraInfo, Image, PointCloud2

from edge_perception.camera.calibration import CameraCalibration
from edge_perception.messages import stamp_ns
from edge_perception.nodes.camera_node import CAMERA_PARAMETERS, CameraNode
from edge_perception.replay.node_process import installed_command

from camera_clips import index_of, write_clip, write_image_folder
from tiny_models import red_channel_depth_model, write_model

FRAMES = 20
RATE_HZ = 10.0
WIDTH, HEIGHT = 96, 64
# Best effort may lose a frame sent just after matching; the rest must arrive.
MIN_RECEIVED = FRAMES - 2
# Seconds for the whole clip to play, with room for a slow start.
PLAY_TIMEOUT_S = 30.0 + 2 * FRAMES / RATE_HZ


def receive_camera(graph, process):
    """Collect 'image' and 'camera_info' until ``process`` has exited; return both lists."""
    camera_infos = graph.collect(CameraInfo, 'camera_info', qos_profile_sensor_data)
    images = graph.collect(Image, 'image', qos_profile_sensor_data)
    assert graph.wait_for(lambda: not process.running(), PLAY_TIMEOUT_S), process.output
    graph.spin_for(0.2)  # the last frames, still in flight when the process ended
    assert process.stop() == 0, process.output
    return images, camera_infos


def check_headers(images, camera_infos, frame_id):
    """Check the stamps increase, and each image has a camera_info of the same header."""
    stamps = [stamp_ns(image) for image in images]
    assert all(later > earlier for earlier, later in itertools.pairwise(stamps)), stamps
    infos = {stamp_ns(info): info for info in camera_infos}
    matched = [image for image in images if stamp_ns(image) in infos]
    assert len(matched) >= MIN_RECEIVED, f'{len(matched)} images with their camera_info'
    for image in matched:
        info = infos[stamp_ns(image)]
        assert image.header.frame_id == info.header.frame_id == frame_id
        assert (info.width, info.height) == (image.width, image.height)
        assert image.encoding == 'rgb8'


def test_a_clip_is_published_frame_by_frame_at_the_requested_rate(ros_graph, tmp_path):
    clip = write_clip(tmp_path / 'clip.mp4', FRAMES, WIDTH, HEIGHT, 30.0)
    calibration = CameraCalibration.from_horizontal_fov(WIDTH * 2, HEIGHT * 2, 70.0)
    calibration_file = tmp_path / 'calibration.yaml'
    calibration_file.write_text(calibration.to_yaml().replace('camera_name: camera',
                                                              'camera_name: phone'))
    camera = ros_graph.start_process('camera_node', video=clip, rate=RATE_HZ,
                                     camera_info_url=str(calibration_file),
                                     frame_id='phone_optical_frame', wait_for_subscribers=1)
    images, camera_infos = receive_camera(ros_graph, camera)
    assert f'played to the end, {FRAMES} frames published' in camera.output
    assert len(images) >= MIN_RECEIVED, f'{len(images)} of {FRAMES} frames arrived'
    check_headers(images, camera_infos, 'phone_optical_frame')
    assert (images[0].width, images[0].height) == (WIDTH, HEIGHT)
    indices = [index_of(np.frombuffer(image.data, np.uint8)) for image in images]
    assert indices == sorted(set(indices)), indices
    # Paced on a schedule: never faster than asked (slower only if this machine lags).
    stamps = [stamp_ns(image) / 1e9 for image in images]
    assert stamps[-1] - stamps[0] >= 0.95 * (indices[-1] - indices[0]) / RATE_HZ
    # The calibration is for twice the size: K scaled to the clip's resolution.
    np.testing.assert_allclose(camera_infos[-1].k, calibration.scaled_to(WIDTH, HEIGHT).k)
    assert 'scaled to 96x64' in camera.output


def test_edge_perception_camera_plays_an_image_folder(ros_graph, tmp_path):
    folder = write_image_folder(tmp_path / 'frames', FRAMES, WIDTH, HEIGHT)
    command = [str(installed_command('edge-perception')), 'camera', '--images', folder,
               '--rate', str(RATE_HZ), '--wait-for-subscribers', '1']
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                               text=True)
    try:
        camera_infos = ros_graph.collect(CameraInfo, 'camera_info', qos_profile_sensor_data)
        images = ros_graph.collect(Image, 'image', qos_profile_sensor_data)
        assert ros_graph.wait_for(lambda: process.poll() is not None, PLAY_TIMEOUT_S)
        ros_graph.spin_for(0.2)
    finally:
        if process.poll() is None:
            process.kill()
        output = process.communicate()[0]
    assert process.returncode == 0, output
    assert 'depth-to-cloud geometry is approximate' in output
    assert len(images) >= MIN_RECEIVED, f'{len(images)} of {FRAMES} frames arrived\n{output}'
    check_headers(images, camera_infos, 'camera_optical_frame')


def test_the_depth_node_fed_by_the_camera_answers_at_the_clip_size(ros_graph, tmp_path):
    clip = write_clip(tmp_path / 'clip.mp4', 5, WIDTH, HEIGHT, 30.0)
    model = write_model(red_channel_depth_model(32, 32), tmp_path, 'red')
    ros_graph.start_process('depth_node', model=model, mean=[0.0], scale=[1.0])
    depth = ros_graph.collect(Image, 'depth')
    points = ros_graph.collect(PointCloud2, 'points')
    camera = ros_graph.start_process('camera_node', video=clip, rate=RATE_HZ, loop=True)
    # The first frame compiles the model; the looping clip keeps frames coming meanwhile.
    assert ros_graph.wait_for(lambda: depth and points, 60.0), \
        '\n'.join(process.output for process in ros_graph.processes)
    assert (depth[-1].width, depth[-1].height) == (WIDTH, HEIGHT)
    assert (points[-1].width, points[-1].height) == (WIDTH, HEIGHT)
    assert depth[-1].header.frame_id == 'camera_optical_frame'
    # Ctrl-C ends a looping camera cleanly.
    assert camera.stop() == 0, camera.output
    assert 'Traceback' not in camera.output


def absent_device_index():
    return next(index for index in range(1000) if not Path(f'/dev/video{index}').exists())


def one_line_failure(command):
    result = subprocess.run(command, capture_output=True, text=True, timeout=60)
    output = (result.stdout + result.stderr).strip()
    assert result.returncode == 1, output
    assert 'Traceback' not in output and len(output.splitlines()) == 1, output
    return output


def test_an_absent_device_is_one_line_and_exit_code_1(tmp_path):
    index = absent_device_index()
    output = one_line_failure([str(installed_command('edge-perception')), 'camera',
                               '--device', str(index)])
    assert re.fullmatch(rf"edge-perception camera: no such camera device '/dev/video{index}'; "
                        r'devices here: .*', output)
    output = one_line_failure([str(installed_command('camera_node')), '--ros-args', '-p',
                               f'device:=/dev/video{index}'])
    assert f"cannot start: no such camera device '/dev/video{index}'" in output


def test_bad_files_are_one_line_and_exit_code_1(tmp_path):
    command = [str(installed_command('edge-perception')), 'camera']
    not_a_video = tmp_path / 'notes.mp4'
    not_a_video.write_text('not a video')
    assert 'cannot decode video file' in one_line_failure(command + ['--video', str(not_a_video)])
    clip = write_clip(tmp_path / 'clip.mp4', 2, WIDTH, HEIGHT, 30.0)
    calibration = tmp_path / 'calibration.yaml'
    calibration.write_text('image_width: [')
    assert 'is not YAML' in one_line_failure(command + ['--video', clip, '--calibration',
                                                        str(calibration)])


def test_a_source_lost_mid_run_is_reported_and_exits_non_zero_while_nodes_keep_running(
        ros_graph, tmp_path):
    folder = write_image_folder(tmp_path / 'frames', 10, WIDTH, HEIGHT)
    (tmp_path / 'frames' / 'frame_0010.png').write_bytes(b'\x89PNG cut off')
    model = write_model(red_channel_depth_model(32, 32), tmp_path, 'red')
    depth_node = ros_graph.start_process('depth_node', model=model, mean=[0.0], scale=[1.0])
    camera = ros_graph.start_process('camera_node', images=folder, rate=RATE_HZ,
                                     wait_for_subscribers=1)
    assert ros_graph.wait_for(lambda: not camera.running(), PLAY_TIMEOUT_S), camera.output
    assert camera.stop() == 1, camera.output
    assert re.search(r"cannot decode image '.*frame_0010.png'; exiting", camera.output)
    assert 'Traceback' not in camera.output
    # The depth node saw the frames that came, and outlives the camera.
    assert ros_graph.wait_for(lambda: 'compiled for 96x64' in depth_node.output, 30.0), \
        depth_node.output
    assert depth_node.running(), depth_node.output


def test_the_parameters_are_described_read_only_and_ranged(ros_graph, tmp_path):
    clip = write_clip(tmp_path / 'clip.mp4', 2, WIDTH, HEIGHT, 30.0)
    camera = ros_graph.start(CameraNode, video=clip, loop=True, hfov=80.0)
    descriptor = camera.describe_parameter('hfov')
    assert descriptor.read_only and 'field of view' in descriptor.description
    assert (descriptor.floating_point_range[0].from_value,
            descriptor.floating_point_range[0].to_value) == (1.0, 179.0)
    assert all(camera.describe_parameter(spec.name).description
               for spec in CAMERA_PARAMETERS)
    assert not camera.set_parameters([Parameter('hfov', value=90.0)])[0].successful
    camera_infos = ros_graph.collect(CameraInfo, 'camera_info', qos_profile_sensor_data)
    assert ros_graph.wait_for(lambda: camera_infos, 10.0)
    np.testing.assert_allclose(
        camera_infos[-1].k, CameraCalibration.from_horizontal_fov(WIDTH, HEIGHT, 80.0).k)


def test_a_device_given_as_an_integer_index_is_its_path():
    index = absent_device_index()
    output = one_line_failure([str(installed_command('camera_node')), '--ros-args', '-p',
                               f'device:={index}'])
    assert f"no such camera device '/dev/video{index}'" in output
