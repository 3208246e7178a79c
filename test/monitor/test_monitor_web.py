"""The monitor's web side without ROS: pages, streams, status, events, errors (aiohttp's test
client against the application over a plain frame store).
"""

import asyncio
import itertools
import json
import socket
import urllib.request

from aiohttp.test_utils import TestClient, TestServer
import cv2
import numpy as np
import pytest

from edge_perception.core.visualisation import colorize_depth
from edge_perception.monitor.frames import FrameStore, LEGEND_HEIGHT
from edge_perception.monitor.web import (
    BOUNDARY,
    create_app,
    is_loopback,
    MonitorServer,
    ServerError,
)

# Seconds a test waits for an answer that should come at once; only a bound on failure.
ANSWER_TIMEOUT_S = 10.0


def serve(store, check, max_fps=10.0, snapshot_timeout_s=ANSWER_TIMEOUT_S):
    """Run ``await check(client)`` against the application serving ``store``."""
    async def main():
        app = create_app(store, max_fps, snapshot_timeout_s)
        async with TestClient(TestServer(app)) as client:
            await asyncio.wait_for(check(client), ANSWER_TIMEOUT_S)
    asyncio.run(main())


def camera_frame(value, height=240, width=320):
    return np.full((height, width, 3), value, np.uint8)


def timing(index):
    return {'model': 'fastdepth.xml', 'device': 'CPU', 'preprocessing': 'graph',
            'preprocess_ms': 0.1, 'inference_ms': 5.0 + index, 'postprocess_ms': 1.0,
            'total_ms': 6.5, 'latency_ms': 7.0, 'fps': 30.0, 'frames_received': index,
            'frames_processed': index, 'frames_dropped': 0, 'frames_rejected': 0}


async def read_part(response):
    """Read one multipart part of an MJPEG stream; return (headers, body)."""
    boundary_line = await response.content.readline()
    assert boundary_line == f'--{BOUNDARY}\r\n'.encode()
    headers = {}
    while (line := await response.content.readline()) != b'\r\n':
        name, value = line.decode().rstrip('\r\n').split(': ', 1)
        headers[name] = value
    body = await response.content.readexactly(int(headers['Content-Length']))
    assert await response.content.readline() == b'\r\n'
    return headers, body


def decoded(jpeg_or_png):
    image = cv2.imdecode(np.frombuffer(jpeg_or_png, np.uint8), cv2.IMREAD_UNCHANGED)
    assert image is not None, 'not a decodable picture'
    return image


def test_the_page_is_self_contained_html():
    async def check(client):
        response = await client.get('/')
        assert response.status == 200
        assert response.content_type == 'text/html'
        page = await response.text()
        for endpoint in ('/stream/image.mjpg', '/stream/depth.mjpg', '/api/status',
                         '/api/events', '/snapshot/depth.png'):
            assert endpoint in page
        assert 'http://' not in page and 'https://' not in page, 'the page fetches from outside'
    serve(FrameStore(), check)


@pytest.mark.parametrize('method, path, status', [
    ('GET', '/no/such/page', 404),
    ('GET', '/stream/points.mjpg', 404),
    ('GET', '/snapshot/points.png', 404),
    ('GET', '/stream/image.jpg', 404),
    ('POST', '/', 405),
    ('PUT', '/api/status', 405),
    ('DELETE', '/stream/depth.mjpg', 405),
])
def test_bad_requests_get_404_or_405_and_no_traceback(method, path, status):
    async def check(client):
        response = await client.request(method, path)
        assert response.status == status
        assert 'Traceback' not in await response.text()
    serve(FrameStore(), check)


def test_status_reports_timing_diagnostics_topics_and_streams():
    store = FrameStore(width=160)
    store.topics['inference_timing'] = '/camera/inference_timing'

    async def check(client):
        empty = await (await client.get('/api/status')).json()
        assert empty['timing'] is None and empty['diagnostics'] == []
        store.put_timing(timing(3), stamp_ns=1_000_000_003)
        store.put_diagnostics([{'name': 'depth_node: inference', 'level': 1,
                                'message': 'frames dropped', 'hardware_id': 'CPU',
                                'values': {}}])
        response = await client.get('/api/status')
        assert response.content_type == 'application/json'
        status = await response.json()
        assert status['timing']['stamp_ns'] == 1_000_000_003
        assert status['timing']['inference_ms'] == 8.0
        assert set(timing(0)) <= set(status['timing'])
        assert status['diagnostics'][0]['level'] == 1
        assert status['diagnostics'][0]['message'] == 'frames dropped'
        assert status['topics'] == {'inference_timing': '/camera/inference_timing'}
        assert set(status['streams']) == {'image', 'depth'}
        assert status['streams']['image']['frames'] == 0
        assert status['clients'] == {'image': 0, 'depth': 0, 'events': 0}
        assert status['max_fps'] == 10.0 and status['width'] == 160
    serve(store, check)


def test_mjpeg_streams_jpeg_parts_of_the_configured_width():
    store = FrameStore(width=160)
    store.put_image(camera_frame(200), 'bgr8', stamp_ns=1)
    depth = np.full((240, 320), 2.0, np.float32)
    store.put_depth(depth, '32FC1', stamp_ns=1)

    async def check(client):
        response = await client.get('/stream/image.mjpg')
        assert response.status == 200
        assert response.headers['Content-Type'] == \
            f'multipart/x-mixed-replace; boundary={BOUNDARY}'
        frames = []
        for value in (50, 100, 150):
            headers, body = await read_part(response)
            assert headers['Content-Type'] == 'image/jpeg'
            frames.append(decoded(body))
            store.put_image(camera_frame(value), 'bgr8', stamp_ns=value)
        assert all(frame.shape == (120, 160, 3) for frame in frames)
        response.close()
        response = await client.get('/stream/depth.mjpg')
        _, body = await read_part(response)
        picture = decoded(body)
        assert picture.shape == (120 + LEGEND_HEIGHT, 160, 3)
        expected = colorize_depth(depth[:1, :1], store.min_depth, store.max_depth)[0, 0]
        np.testing.assert_allclose(picture[60, 80], expected, atol=12)  # JPEG's loss
        response.close()
    serve(store, check)


def test_nothing_is_encoded_until_watched_and_then_once_per_frame():
    store = FrameStore(width=64)
    for value in range(5):
        store.put_image(camera_frame(value * 40), 'bgr8', stamp_ns=value)
    assert store.encoded == {'image': 0, 'depth': 0}
    version, first = store.jpeg('image')
    assert store.jpeg('image') == (version, first)
    assert store.encoded['image'] == 1
    # A client that fell behind gets the newest frame, not the ones it missed.
    store.put_image(camera_frame(10), 'bgr8', stamp_ns=10)
    store.put_image(camera_frame(250), 'bgr8', stamp_ns=11)
    newest_version, newest = store.jpeg('image')
    assert newest_version == version + 2
    assert decoded(newest).mean() > 240
    assert store.encoded['image'] == 2


def test_frames_are_asked_for_only_when_a_picture_is_made():
    store = FrameStore(width=64)
    asked = []
    waiting = [camera_frame(200)]

    def newest_frame(stream):
        asked.append(stream)
        if waiting:
            store.put_image(waiting.pop(), 'bgr8', stamp_ns=len(asked))

    store.frame_source = newest_frame
    assert store.status()['streams']['image']['frames'] == 0
    version, picture = store.jpeg('image')
    assert asked == ['image'] and decoded(picture).mean() > 190
    # Nothing new: no picture for a client that has this one, and nothing encoded again.
    assert store.jpeg_newer_than('image', version) is None
    assert store.jpeg_newer_than('image', 0) == (version, picture)
    assert store.encoded['image'] == 1 and asked == ['image'] * 3
    store.reject('image')
    assert store.status()['streams']['image'] == {
        'frames': 1, 'rejected': 1, 'stamp_ns': 1, 'encoded': 1}


def test_a_client_gets_at_most_max_fps_pictures_a_second():
    store = FrameStore(width=64)
    max_fps = 5.0

    async def check(client):
        async def publish():
            value = 0
            while True:
                store.put_image(camera_frame(value % 256), 'bgr8', stamp_ns=value)
                value += 1
                await asyncio.sleep(0.005)
        publisher = asyncio.create_task(publish())
        response = await client.get('/stream/image.mjpg')
        sent = []
        for _ in range(4):
            headers, _ = await read_part(response)
            sent.append(float(headers['X-Timestamp']))
        publisher.cancel()
        response.close()
        # When the server sent each part, not when this client read it: a lower bound that
        # a slower machine only makes easier to meet (0.99: wall clock against monotonic).
        gaps = [later - earlier for earlier, later in itertools.pairwise(sent)]
        assert min(gaps) >= 0.99 / max_fps, gaps
    serve(store, check, max_fps)


def test_events_push_each_timing_as_json():
    store = FrameStore()
    store.put_timing(timing(1), stamp_ns=101)

    async def check(client):
        response = await client.get('/api/events')
        assert response.status == 200
        assert response.content_type == 'text/event-stream'
        store.put_timing(timing(2), stamp_ns=102)
        store.put_timing(timing(3), stamp_ns=103)
        events = []
        while len(events) < 3:
            line = (await response.content.readline()).decode()
            if line.startswith('data: '):
                events.append(json.loads(line[len('data: '):]))
        assert [event['stamp_ns'] for event in events] == [101, 102, 103]
        assert events[2]['frames_processed'] == 3 and events[2]['device'] == 'CPU'
        response.close()
    serve(store, check)


def test_a_snapshot_without_frames_is_503_after_its_wait():
    async def check(client):
        missing = await client.get('/snapshot/depth.png')
        assert missing.status == 503
        assert 'no depth frame within 0.1 s' in await missing.text()
    serve(FrameStore(), check, snapshot_timeout_s=0.1)


def test_depth_snapshot_is_a_png_with_a_legend():
    store = FrameStore(width=100, min_depth=0.5, max_depth=4.0)

    async def check(client):
        depth = np.tile(np.linspace(0.5, 4.0, 200, dtype=np.float32), (150, 1))
        depth[0, 0] = np.nan
        store.put_depth(depth, '32FC1', stamp_ns=5)
        response = await client.get('/snapshot/depth.png')
        assert response.status == 200 and response.content_type == 'image/png'
        picture = decoded(await response.read())
        assert picture.shape == (75 + LEGEND_HEIGHT, 100, 3)
        legend = picture[75:]
        near, far = colorize_depth(np.array([[0.5, 4.0]], np.float32), 0.5, 4.0)[0]
        np.testing.assert_array_equal(legend[2, 0], near)
        np.testing.assert_array_equal(legend[2, -1], far)
    serve(store, check)


def test_classes_are_drawn_on_the_camera_picture():
    store = FrameStore(width=320)
    store.put_image(camera_frame(128), 'bgr8', stamp_ns=1)
    _, plain = store.png('image')
    store.put_classification(['seven', 'one'], [0.9, 0.05], stamp_ns=1)
    _, labelled = store.png('image')
    difference = np.abs(decoded(plain).astype(int) - decoded(labelled).astype(int))
    assert difference[:60].any() and not difference[80:].any()
    assert store.status()['classification']['labels'] == ['seven', 'one']


def test_only_loopback_hosts_count_as_private():
    assert is_loopback('127.0.0.1') and is_loopback('localhost') and is_loopback('::1')
    assert not is_loopback('0.0.0.0') and not is_loopback('192.168.1.10')


def test_the_server_binds_loopback_by_default_and_reports_a_port_in_use():
    server = MonitorServer(FrameStore(), port=0)
    assert server.host == '127.0.0.1'
    server.start()
    try:
        assert server.url == f'http://127.0.0.1:{server.port}/'
        with urllib.request.urlopen(server.url, timeout=ANSWER_TIMEOUT_S) as response:
            assert response.status == 200
        with socket.create_connection(('127.0.0.1', server.port), timeout=ANSWER_TIMEOUT_S):
            pass
        second = MonitorServer(FrameStore(), port=server.port)
        with pytest.raises(ServerError, match=f'127.0.0.1:{server.port}: address already in use'):
            second.start()
    finally:
        server.stop()


def test_the_store_says_when_a_stream_gains_its_first_client_and_loses_its_last():
    store = FrameStore()
    changes = []
    store.on_watchers_changed = lambda: changes.append(store.watched('depth'))
    with store.watching('depth'):
        with store.watching('depth'):
            assert store.watched('depth') and not store.watched('image')
    assert changes == [True, False]
    store.put_depth(np.ones((4, 4), np.uint16), '16UC1', stamp_ns=1)
    assert store.png('depth') is not None
    store.forget('depth')
    assert store.png('depth') is None


def test_a_stream_client_counts_as_watching_while_connected():
    store = FrameStore()

    async def check(client):
        response = await client.get('/stream/depth.mjpg')
        status = await (await client.get('/api/status')).json()
        assert status['clients'] == {'image': 0, 'depth': 1, 'events': 0}
        response.close()
        while store.watched('depth'):
            await asyncio.sleep(0.01)
    serve(store, check)
