"""The monitor's web server: one page, two MJPEG streams, a JSON status, timing events.

Endpoints (stable; docs/monitor.md):

- ``GET /``: the page (self-contained: no CDN, no internet).
- ``GET /stream/image.mjpg``, ``GET /stream/depth.mjpg``: ``multipart/x-mixed-replace`` JPEG
  streams of the camera (with the top-k classes when a classifier runs) and the coloured depth.
- ``GET /api/status``: JSON of the latest timing, diagnostics, topics and streams.
- ``GET /api/events``: Server-Sent Events, one ``timing`` event per InferenceTiming message
  (the kept history first, then each new one).
- ``GET /snapshot/depth.png``, ``GET /snapshot/image.png``: the newest picture as PNG (waiting
  up to ``snapshot_timeout_s`` for a frame when nobody watches the stream).

aiohttp, not a hand-written server: HTTP parsing, keep-alive, streaming responses, back-pressure
(``await response.write`` waits while a client's socket is full) and clean 404/405 answers are
what a small server gets wrong, and aiohttp is a well-kept, widely used asyncio library.
Everything else is read-only: other methods get 405, other paths 404, never a traceback.
"""

import asyncio
from concurrent.futures import ThreadPoolExecutor
import errno
import ipaddress
import json
import threading
import time

from aiohttp import web

from edge_perception.monitor.frames import STREAMS
from edge_perception.monitor.page import PAGE

BOUNDARY = 'edge-perception-frame'
# Seconds between looks for a new frame of a stream, once a period has passed.
FRAME_POLL_S = 0.02
# Seconds between looks at the timing history for /api/events (events are batched no longer).
EVENT_POLL_S = 0.05
# Seconds between SSE comments that keep idle proxies and browsers from closing the stream.
KEEPALIVE_S = 10.0
# Seconds a snapshot waits for a frame of a stream nobody watched (subscribing takes discovery).
SNAPSHOT_TIMEOUT_S = 5.0
# Seconds a stopping server gives open streams to end.
SHUTDOWN_TIMEOUT_S = 2.0


class ServerError(RuntimeError):
    """The server could not start (address in use, host unknown); the message says which."""


def is_loopback(host):
    """Return whether ``host`` only accepts connections from this machine."""
    if host == 'localhost':
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def create_app(store, max_fps=10.0, snapshot_timeout_s=SNAPSHOT_TIMEOUT_S):
    """Return the aiohttp application serving ``store``.

    :param store: a :class:`~edge_perception.monitor.frames.FrameStore`.
    :param max_fps: most pictures per second sent to one client of a stream.
    :param snapshot_timeout_s: seconds a snapshot waits for a first frame.
    """
    handlers = _Handlers(store, max_fps, snapshot_timeout_s)
    app = web.Application()
    app.on_cleanup.append(handlers.stop_encoder)
    app.router.add_get('/', handlers.page)
    app.router.add_get('/api/status', handlers.status)
    app.router.add_get('/api/events', handlers.events)
    app.router.add_get('/stream/{name}.mjpg', handlers.stream)
    app.router.add_get('/snapshot/{name}.png', handlers.snapshot)
    return app


class _Handlers:
    """The endpoints of one application, sharing its frame store and picture encoder."""

    def __init__(self, store, max_fps, snapshot_timeout_s):
        self.store = store
        self.max_fps = max_fps
        self.period_s = 1.0 / max_fps
        self.snapshot_timeout_s = snapshot_timeout_s
        # One thread draws and encodes every picture: pictures take at most one core from the
        # perception node beside the monitor, and the event loop stays free to serve.
        self.encoder = ThreadPoolExecutor(max_workers=1, thread_name_prefix='monitor-encoder')

    async def stop_encoder(self, app):
        self.encoder.shutdown(wait=False, cancel_futures=True)

    async def page(self, request):
        return web.Response(text=PAGE, content_type='text/html', charset='utf-8')

    async def status(self, request):
        body = self.store.status()
        body['max_fps'] = self.max_fps
        return web.json_response(body)

    async def stream(self, request):
        name = request.match_info['name']
        if name not in STREAMS:
            raise web.HTTPNotFound(text=f'no stream {name}; streams: {", ".join(STREAMS)}\n')
        response = web.StreamResponse(headers={
            'Content-Type': f'multipart/x-mixed-replace; boundary={BOUNDARY}',
            'Cache-Control': 'no-cache, no-store'})
        await response.prepare(request)
        loop = asyncio.get_running_loop()
        sent_version = 0
        try:
            with self.store.watching(name):
                next_part_at = 0.0
                while not _closed(request):
                    # Parts start at least a period apart; in between, a new frame is looked
                    # for often, so it goes out soon after it arrives.
                    await asyncio.sleep(max(FRAME_POLL_S, next_part_at - loop.time()))
                    # Only the newest frame is ever encoded or sent: a slow client (write
                    # waits for its socket) skips frames instead of queueing them.
                    picture = await loop.run_in_executor(
                        self.encoder, self.store.jpeg_newer_than, name, sent_version)
                    if picture is None:
                        continue
                    next_part_at = loop.time() + self.period_s
                    sent_version, jpeg = picture
                    await response.write(_part(jpeg, time.time()))
        except ConnectionError:
            pass  # the client went away
        return response

    async def events(self, request):
        response = web.StreamResponse(headers={'Content-Type': 'text/event-stream',
                                               'Cache-Control': 'no-cache'})
        await response.prepare(request)
        loop = asyncio.get_running_loop()
        sent_sequence = 0
        last_write = loop.time()
        try:
            with self.store.watching('events'):
                await response.write(b': edge-perception timing events\n\n')
                while not _closed(request):
                    for sequence, event in self.store.timings_after(sent_sequence):
                        await response.write(f'event: timing\nid: {sequence}\n'
                                             f'data: {json.dumps(event)}\n\n'.encode())
                        sent_sequence = sequence
                        last_write = loop.time()
                    if loop.time() - last_write > KEEPALIVE_S:
                        await response.write(b': keep-alive\n\n')
                        last_write = loop.time()
                    await asyncio.sleep(EVENT_POLL_S)
        except ConnectionError:
            pass  # the client went away
        return response

    async def snapshot(self, request):
        name = request.match_info['name']
        if name not in STREAMS:
            raise web.HTTPNotFound(text=f'no picture {name}; pictures: {", ".join(STREAMS)}\n')
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.snapshot_timeout_s
        # Watching makes the node subscribe, when nobody else watches the stream.
        with self.store.watching(name):
            while (picture := await loop.run_in_executor(self.encoder, self.store.png,
                                                         name)) is None:
                if loop.time() > deadline:
                    raise web.HTTPServiceUnavailable(
                        text=f'no {name} frame within {self.snapshot_timeout_s:g} s\n',
                        headers={'Retry-After': '1'})
                await asyncio.sleep(EVENT_POLL_S)
        return web.Response(body=picture[1], content_type='image/png',
                            headers={'Cache-Control': 'no-cache'})


def _closed(request):
    transport = request.transport
    return transport is None or transport.is_closing()


def _part(jpeg, sent_s):
    # X-Timestamp (seconds since the epoch when the part was sent) as mjpg-streamer sends it.
    header = (f'--{BOUNDARY}\r\nContent-Type: image/jpeg\r\n'
              f'Content-Length: {len(jpeg)}\r\nX-Timestamp: {sent_s:.6f}\r\n\r\n').encode()
    return header + jpeg + b'\r\n'


class MonitorServer:
    """The application served from its own thread and event loop, beside an rclpy executor.

    :param store: the :class:`~edge_perception.monitor.frames.FrameStore` to serve.
    :param host: address to bind; '127.0.0.1' keeps it to this machine.
    :param port: TCP port; 0 lets the system choose a free one (see :attr:`port`).
    :param max_fps: most pictures per second sent to one client of a stream.
    """

    def __init__(self, store, host='127.0.0.1', port=8080, max_fps=10.0):
        self.app = create_app(store, max_fps)
        self.host = host
        self.port = port
        self._loop = asyncio.new_event_loop()
        self._runner = None
        self._thread = None

    @property
    def url(self):
        """The page's address (with the port chosen when 0 was asked)."""
        host = f'[{self.host}]' if ':' in self.host else self.host
        return f'http://{host}:{self.port}/'

    def start(self):
        """Bind and serve in a new thread.

        :raises ServerError: when the address cannot be bound (in use, not this machine's).
        """
        try:
            self._loop.run_until_complete(self._start())
        except OSError as error:
            self._loop.run_until_complete(self._runner.cleanup())
            self._loop.close()
            reason = 'address already in use' if error.errno == errno.EADDRINUSE else error
            raise ServerError(f'cannot serve on {self.host}:{self.port}: {reason}') from None
        self._thread = threading.Thread(target=self._loop.run_forever, name='monitor-http',
                                        daemon=True)
        self._thread.start()

    async def _start(self):
        self._runner = web.AppRunner(self.app, access_log=None,
                                     shutdown_timeout=SHUTDOWN_TIMEOUT_S)
        await self._runner.setup()
        site = web.TCPSite(self._runner, self.host, self.port)
        await site.start()
        self.port = self._runner.addresses[0][1]

    def stop(self):
        """Close the connections and the server, and end its thread."""
        if self._thread is None:
            return
        asyncio.run_coroutine_threadsafe(self._runner.cleanup(), self._loop).result(
            timeout=SHUTDOWN_TIMEOUT_S + 5.0)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout=5.0)
        self._loop.close()
        self._thread = None
