"""The monitor across processes, as users run it: a depth node process, a monitor process,
camera frames from the probe, and real HTTP clients reading the streams and the events.
"""

import http.client
import json
import os
import socket
import subprocess
import threading
import time

import cv2
import numpy as np
from sensor_msgs.msg import Image

from edge_perception.messages import image_msg, stamp_ns
from edge_perception.monitor.frames import LEGEND_HEIGHT
from edge_perception.monitor.node import MONITOR_PARAMETERS, MonitorNode
from edge_perception.monitor.web import BOUNDARY
from edge_perception.msg import Classification
from edge_perception.nodes.parameters import parameter_descriptor
from edge_perception.replay.node_process import installed_command

from ros_helpers import monitor_address
from tiny_models import channel_mean_model, red_channel_depth_model, write_model

WIDTH, HEIGHT = 320, 240
MONITOR_WIDTH = 160
# Bounds on failure only: a process imports its libraries, the first frame compiles the model.
START_TIMEOUT_S = 60.0
READ_TIMEOUT_S = 30.0


def read_mjpeg_frames(host, port, path, count, frames, errors, enough):
    """Read JPEG parts from ``path`` into ``frames`` (run in a thread) until ``count`` of
    them, or until ``enough(frame)`` is true of the last one.
    """
    try:
        connection = http.client.HTTPConnection(host, port, timeout=READ_TIMEOUT_S)
        connection.request('GET', path)
        response = connection.getresponse()
        assert response.status == 200
        assert response.getheader('Content-Type') == \
            f'multipart/x-mixed-replace; boundary={BOUNDARY}'
        while len(frames) < count:
            assert response.readline() == f'--{BOUNDARY}\r\n'.encode()
            headers = {}
            while (line := response.readline()) != b'\r\n':
                name, value = line.decode().rstrip('\r\n').split(': ', 1)
                headers[name] = value
            assert headers['Content-Type'] == 'image/jpeg'
            body = response.read(int(headers['Content-Length']))
            response.readline()
            frames.append(cv2.imdecode(np.frombuffer(body, np.uint8), cv2.IMREAD_COLOR))
            if enough(frames[-1]):
                break
        connection.close()
    except Exception as error:  # handed to the test, which reports it
        errors.append(error)


def read_events(host, port, count, events, errors):
    """Read ``count`` timing events from /api/events into ``events`` (run in a thread)."""
    try:
        connection = http.client.HTTPConnection(host, port, timeout=READ_TIMEOUT_S)
        connection.request('GET', '/api/events')
        response = connection.getresponse()
        assert response.getheader('Content-Type').startswith('text/event-stream')
        while len(events) < count:
            line = response.readline().decode()
            if line.startswith('data: '):
                events.append(json.loads(line[len('data: '):]))
        connection.close()
    except Exception as error:  # handed to the test, which reports it
        errors.append(error)


def monitor_threads(pid):
    """Return ``{thread id: (scheduling policy, niceness)}`` of process ``pid``."""
    threads = {}
    for task in os.listdir(f'/proc/{pid}/task'):
        try:
            threads[int(task)] = (os.sched_getscheduler(int(task)),
                                  os.getpriority(os.PRIO_PROCESS, int(task)))
        except ProcessLookupError:
            pass  # ended meanwhile
    return threads


def test_monitor_streams_depth_node_outputs_to_http_clients(ros_graph, tmp_path):
    graph = ros_graph
    model = write_model(red_channel_depth_model(60, 80), tmp_path, 'red')
    graph.start_process('depth_node', model=model, mean=[0.0], scale=[1.0], depth_scale=0.01,
                        min_depth=0.0)
    monitor = graph.start_process('monitor_node', port=0, width=MONITOR_WIDTH, max_fps=10.0,
                                  min_depth=0.0, max_depth=3.0)
    host, port = monitor_address(graph, monitor, START_TIMEOUT_S)
    assert host == '127.0.0.1'
    publisher = graph.publisher(Image, 'image')
    depth = graph.collect(Image, 'depth')
    image = np.zeros((HEIGHT, WIDTH, 3), np.uint8)
    image[:, :, 0] = 150
    graph.warm_up(lambda attempt: publisher.publish(image_msg(image, 'rgb8')),
                  lambda _: depth, timeout_s=START_TIMEOUT_S, retry_s=0.2)

    image_frames, depth_frames, events, errors = [], [], [], []
    readers = [
        threading.Thread(target=read_mjpeg_frames,
                         args=(host, port, '/stream/image.mjpg', 3, image_frames, errors,
                               lambda frame: False)),
        threading.Thread(target=read_mjpeg_frames,
                         args=(host, port, '/stream/depth.mjpg', 3, depth_frames, errors,
                               lambda frame: False)),
        threading.Thread(target=read_events, args=(host, port, 5, events, errors)),
    ]
    for reader in readers:
        reader.start()
    sent_stamps = set()
    deadline = time.perf_counter() + READ_TIMEOUT_S
    index = 0
    while any(reader.is_alive() for reader in readers) and time.perf_counter() < deadline:
        graph.ensure_running(f'at frame {index}')
        message = image_msg(image, 'rgb8', stamp=graph.probe.get_clock().now().nanoseconds)
        sent_stamps.add(stamp_ns(message.header.stamp))
        publisher.publish(message)
        graph.spin_for(1 / 30)
        index += 1
    for reader in readers:
        reader.join(timeout=READ_TIMEOUT_S)
    assert not errors, errors
    assert len(image_frames) == 3 and len(depth_frames) == 3
    assert all(frame.shape == (HEIGHT * MONITOR_WIDTH // WIDTH, MONITOR_WIDTH, 3)
               for frame in image_frames)
    assert all(frame.shape == (HEIGHT * MONITOR_WIDTH // WIDTH + LEGEND_HEIGHT, MONITOR_WIDTH, 3)
               for frame in depth_frames)
    assert len(events) >= 5
    live = [event for event in events if event['stamp_ns'] in sent_stamps]
    assert live, 'no timing event matches a published frame'
    # Events kept from the warm-up come first; every later one is a frame published here.
    assert all(event['stamp_ns'] in sent_stamps for event in events[events.index(live[0]):])
    assert events[-1]['model'] == 'red.xml' and events[-1]['device'] == 'CPU'
    # Every thread of the monitor (web, encoder, DDS, executor) yields the CPU to the node.
    threads = monitor_threads(monitor.process.pid)
    assert threads and all(policy == os.SCHED_IDLE and niceness >= 10
                           for policy, niceness in threads.values()), threads
    # Nobody watches the streams any more: the monitor leaves the camera and depth topics
    # (the depth node and the probe remain).
    assert graph.wait_for(lambda: graph.probe.count_subscribers('/image') == 1
                          and graph.probe.count_subscribers('/depth') == 1, READ_TIMEOUT_S)

    connection = http.client.HTTPConnection(host, port, timeout=READ_TIMEOUT_S)

    def status():
        connection.request('GET', '/api/status')
        return json.loads(connection.getresponse().read())

    # The depth node reports on /diagnostics once a second.
    assert graph.wait_for(lambda: status()['diagnostics'], READ_TIMEOUT_S), status()
    streams = status()['streams']
    assert streams['depth']['frames'] > 0
    # Frames are taken only to be shown: each one taken was encoded once, however many more
    # the camera and the depth node sent meanwhile.
    assert all(streams[name]['frames'] == streams[name]['encoded'] for name in streams), streams
    assert status()['topics']['depth'] == '/depth'
    assert 'depth_node' in status()['diagnostics'][0]['name']
    connection.request('POST', '/api/status')
    refused = connection.getresponse()
    assert refused.status == 405 and b'Traceback' not in refused.read()
    connection.close()
    assert monitor.stop() == 0, monitor.output


def test_monitor_command_exits_1_with_one_message_when_the_port_is_in_use():
    with socket.socket() as taken:
        taken.bind(('127.0.0.1', 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = subprocess.run([str(installed_command('edge-perception')), 'monitor',
                                 '--port', str(port)],
                                capture_output=True, text=True, timeout=START_TIMEOUT_S)
    output = result.stdout + result.stderr
    assert result.returncode == 1, output
    assert f'cannot serve on 127.0.0.1:{port}: address already in use' in output
    assert 'Traceback' not in output


def test_monitor_command_refuses_a_port_out_of_range_as_a_usage_error():
    result = subprocess.run([str(installed_command('edge-perception')), 'monitor',
                             '--port', '70000'],
                            capture_output=True, text=True, timeout=START_TIMEOUT_S)
    assert result.returncode == 2, result.stdout + result.stderr
    assert '70000 is not between 0 and 65535' in result.stderr
    assert 'Traceback' not in result.stderr


def test_monitor_parameters_have_descriptions_and_ranges():
    for spec in MONITOR_PARAMETERS:
        descriptor = parameter_descriptor(spec)
        assert descriptor.description and descriptor.read_only, spec.name
        if not isinstance(spec.default, (str, bool)):
            assert spec.value_range, spec.name


def test_monitor_node_serves_this_machine_only_by_default(ros_graph):
    monitor = ros_graph.start(MonitorNode, port=0)
    assert monitor.server.host == '127.0.0.1'
    assert monitor.server.url == f'http://127.0.0.1:{monitor.server.port}/'
    assert monitor.store.topics['image'] == '/image'


def test_monitor_writes_the_classifier_top_k_on_the_camera_stream(ros_graph, tmp_path):
    graph = ros_graph
    model = write_model(channel_mean_model(3, 8, 8), tmp_path, 'means')
    graph.start_process('classifier_node', model=model, mean=[0.0], scale=[100.0],
                        output_is_logits=False, top_k=3)
    monitor = graph.start_process('monitor_node', port=0, width=WIDTH)
    host, port = monitor_address(graph, monitor, START_TIMEOUT_S)
    publisher = graph.publisher(Image, 'image')
    image = np.empty((HEIGHT, WIDTH, 3), np.uint8)
    image[:] = (31, 10, 40)  # rgb8: scores 0.40 (class 2), 0.31 (class 0), 0.10 (class 1)
    frames, errors = [], []
    # A client that never reads: it keeps the image stream watched (so the status below still
    # has the classification) and must not hold the other client back.
    idle_client = http.client.HTTPConnection(host, port, timeout=READ_TIMEOUT_S)
    idle_client.request('GET', '/stream/image.mjpg')
    assert idle_client.getresponse().status == 200

    def written_on(frame):
        # The classes are written in white on black in the top-left corner.
        return frame[:70, :160].max() > 200

    reader = threading.Thread(target=read_mjpeg_frames, args=(
        host, port, '/stream/image.mjpg', 1000, frames, errors, written_on))
    reader.start()
    deadline = time.perf_counter() + READ_TIMEOUT_S
    while reader.is_alive() and time.perf_counter() < deadline:
        graph.ensure_running('while publishing')
        publisher.publish(image_msg(image, 'rgb8',
                                    stamp=graph.probe.get_clock().now().nanoseconds))
        graph.spin_for(1 / 30)
    reader.join(timeout=READ_TIMEOUT_S)
    assert not errors, errors
    assert frames and written_on(frames[-1]), f'{len(frames)} frames without the classes'
    # Below the text the camera image is unchanged (bgr8 40, 10, 31 after JPEG).
    np.testing.assert_allclose(frames[-1][100:, :].mean(axis=(0, 1)), (40, 10, 31), atol=4)
    connection = http.client.HTTPConnection(host, port, timeout=READ_TIMEOUT_S)
    connection.request('GET', '/api/status')
    classification = json.loads(connection.getresponse().read())['classification']
    connection.close()
    idle_client.close()
    assert classification['labels'] == ['2', '0', '1']
    np.testing.assert_allclose(classification['scores'], [0.40, 0.31, 0.10], rtol=1e-4)


def test_monitor_drops_bad_frames_and_keeps_the_good_ones(ros_graph):
    monitor = ros_graph.start(MonitorNode, port=0)
    images = ros_graph.publisher(Image, 'image', wait=False)
    depths = ros_graph.publisher(Image, 'depth', wait=False)
    classifications = ros_graph.publisher(Classification, 'classification', wait=False)
    with monitor.store.watching('image'), monitor.store.watching('depth'):
        ros_graph.wait_until_connected(images, depths, classifications)
        classifications.publish(Classification(labels=['3'], scores=[]))
        bad_image = image_msg(np.zeros((HEIGHT, WIDTH, 3), np.uint8), 'rgb8', stamp=1)
        bad_image.step = 5
        not_depth = image_msg(np.zeros((HEIGHT, WIDTH, 3), np.uint8), 'rgb8', stamp=1)

        def streams():
            return monitor.store.status()['streams']

        # Frames are taken when a picture is made: ask for pictures until the bad ones were
        # taken (and refused). Best effort may lose a frame after matching, so repeat them.
        assert ros_graph.wait_for(
            lambda: images.publish(bad_image) or depths.publish(not_depth) or
            monitor.store.png('image') or monitor.store.png('depth') or
            (streams()['image']['rejected'] and streams()['depth']['rejected']),
            READ_TIMEOUT_S)
        assert streams()['image']['frames'] == 0 and streams()['depth']['frames'] == 0
        assert monitor.store.png('image') is None and monitor.store.png('depth') is None

        good_image = image_msg(np.zeros((HEIGHT, WIDTH), np.uint8), 'mono8', stamp=2)
        good_depth = image_msg(np.ones((HEIGHT, WIDTH), np.float32), '32FC1', stamp=2)
        assert ros_graph.wait_for(
            lambda: images.publish(good_image) or depths.publish(good_depth) or
            (monitor.store.png('image') and monitor.store.png('depth')), READ_TIMEOUT_S)
        assert streams()['image']['stamp_ns'] == 2
        assert streams()['depth']['stamp_ns'] == 2
        assert monitor.store.png('image') is not None and monitor.store.png('depth') is not None
        assert monitor.store.status()['classification'] is None
