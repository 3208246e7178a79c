"""The newest frames of a perception node and their pictures, for the monitor's web page.

A :class:`FrameStore` is fed from the ROS thread with pixel arrays as the messages hold them
(views: nothing is converted or copied there) and read from the web server's thread. Pictures
are converted, drawn and encoded only when a client asks for them, once per new frame however
many clients watch; and it counts who watches each stream, so the node can subscribe to the
camera and depth only while someone does.
"""

from collections import deque
from contextlib import contextmanager
import threading
import time

import cv2
import numpy as np

from edge_perception.core.depth_geometry import depth_in_metres
from edge_perception.core.image_codec import as_rgb8
from edge_perception.core.visualisation import colorize_depth

STREAMS = ('image', 'depth')
# What a client can watch: the two picture streams and the timing events.
WATCHABLE = (*STREAMS, 'events')
# Height in pixels of the colour bar under the depth picture, with its labels in metres.
LEGEND_HEIGHT = 30
# Timing messages kept at most, whatever the history span: a bound on memory at any rate.
MAX_TIMINGS = 10_000
# Numbers and text of an InferenceTiming message, as the page and /api/events name them.
TIMING_FIELDS = ('model', 'device', 'preprocessing', 'preprocess_ms', 'inference_ms',
                 'postprocess_ms', 'total_ms', 'latency_ms', 'fps', 'frames_received',
                 'frames_processed', 'frames_dropped', 'frames_rejected')


def scaled_to_width(image, width):
    """Return ``image`` resized to ``width`` pixels across, keeping its aspect ratio."""
    height = max(1, round(image.shape[0] * width / image.shape[1]))
    if (height, width) == image.shape[:2]:
        return image
    shrinking = width < image.shape[1]
    return cv2.resize(image, (width, height),
                      interpolation=cv2.INTER_AREA if shrinking else cv2.INTER_LINEAR)


def depth_legend(width, min_depth, max_depth):
    """Return a ``LEGEND_HEIGHT x width`` BGR colour bar from ``min_depth`` to ``max_depth``.

    The colours are :func:`~edge_perception.core.visualisation.colorize_depth`'s, so the bar
    reads the depth picture above it; the labels are metres.
    """
    ramp = np.linspace(min_depth, max_depth, width, dtype=np.float32)[np.newaxis, :]
    bar = colorize_depth(np.repeat(ramp, LEGEND_HEIGHT // 2, axis=0), min_depth, max_depth)
    legend = np.zeros((LEGEND_HEIGHT, width, 3), np.uint8)
    legend[:bar.shape[0]] = bar
    middle = (min_depth + max_depth) / 2
    labels = ((f'{min_depth:g} m', 0), (f'{middle:g} m', 1), (f'{max_depth:g} m', 2))
    for text, position in labels:
        (text_width, _), _ = cv2.getTextSize(text, cv2.FONT_HERSHEY_SIMPLEX, 0.4, 1)
        x = (0, (width - text_width) // 2, width - text_width - 2)[position]
        cv2.putText(legend, text, (max(0, x), LEGEND_HEIGHT - 3), cv2.FONT_HERSHEY_SIMPLEX,
                    0.4, (255, 255, 255), 1, cv2.LINE_AA)
    return legend


def draw_classes(image_bgr, labels, scores):
    """Write the top-k ``labels`` and ``scores`` (best first) on a copy of ``image_bgr``."""
    image = image_bgr.copy()
    for rank, (label, score) in enumerate(zip(labels, scores, strict=True)):
        text = f'{label} {score:.2f}'
        baseline_y = 22 + 22 * rank
        (text_width, text_height), _ = cv2.getTextSize(text, cv2.FONT_HERSHEY_SIMPLEX, 0.6, 1)
        cv2.rectangle(image, (4, baseline_y - text_height - 4), (12 + text_width, baseline_y + 5),
                      (0, 0, 0), cv2.FILLED)
        cv2.putText(image, text, (8, baseline_y), cv2.FONT_HERSHEY_SIMPLEX, 0.6,
                    (255, 255, 255), 1, cv2.LINE_AA)
    return image


class FrameStore:
    """The newest camera, depth and classification frames, timings and diagnostics.

    Writers (``put_*``) and readers may run in different threads.

    :param width: width in pixels of every picture served.
    :param min_depth: metres of the depth colour map's first colour (the depth node's
        ``min_depth``, so the pictures match ``depth/colorized``).
    :param max_depth: metres of its last colour.
    :param history_s: seconds of timing messages kept for the plot.
    :param jpeg_quality: OpenCV JPEG quality, 1 to 100.
    :ivar encoded: pictures encoded so far, by stream (what watching costs).
    :ivar on_watchers_changed: called (from the watching thread) when a stream gains its
        first client or loses its last; None: nobody to tell.
    :ivar frame_source: called with a stream's name just before a picture of it is made, to
        put the newest frame there is (the node takes messages only then, not at the camera's
        rate); None: frames are only put.
    """

    def __init__(self, width=640, min_depth=0.1, max_depth=10.0, history_s=30.0,
                 jpeg_quality=80):
        self.width = width
        self.min_depth = min_depth
        self.max_depth = max_depth
        self.history_s = history_s
        self.jpeg_quality = jpeg_quality
        self._lock = threading.Lock()
        # Per stream: the newest source frame, its number, and the newest encoded picture.
        self._sources = dict.fromkeys(STREAMS)
        self._versions = dict.fromkeys(STREAMS, 0)
        self._stamps = dict.fromkeys(STREAMS)
        self._frames = dict.fromkeys(STREAMS, 0)
        self._rejected = dict.fromkeys(STREAMS, 0)
        self._encoded = {}
        self.encoded = dict.fromkeys(STREAMS, 0)
        self._classification = None
        self._timings = deque(maxlen=MAX_TIMINGS)
        self._timing_sequence = 0
        self._diagnostics = {}
        self.topics = {}
        self._watchers = dict.fromkeys(WATCHABLE, 0)
        self.on_watchers_changed = None
        self.frame_source = None

    def put_image(self, pixels, encoding, stamp_ns):
        """Keep a camera image as the newest frame.

        :param pixels: the array :func:`~edge_perception.core.image_codec.image_to_array` gives.
        :param encoding: its camera encoding (converted to colour only when drawn).
        """
        self._put('image', (pixels, encoding), stamp_ns)

    def put_depth(self, pixels, encoding, stamp_ns):
        """Keep a depth image (``32FC1`` metres or ``16UC1`` millimetres) as the newest frame."""
        self._put('depth', (pixels, encoding), stamp_ns)

    def _put(self, stream, source, stamp_ns):
        with self._lock:
            self._sources[stream] = source
            self._stamps[stream] = stamp_ns
            self._frames[stream] += 1
            self._versions[stream] += 1

    def reject(self, stream):
        """Count a frame of ``stream`` that could not be shown (bad encoding or size)."""
        with self._lock:
            self._rejected[stream] += 1

    def put_classification(self, labels, scores, stamp_ns):
        """Keep the newest top-k result; it is drawn on the camera picture."""
        with self._lock:
            self._classification = {'labels': list(labels), 'scores': [float(s) for s in scores],
                                    'stamp_ns': stamp_ns}
            self._versions['image'] += 1

    def forget(self, stream):
        """Drop the newest frame of ``stream`` (its subscription ended: it would grow stale)."""
        with self._lock:
            self._sources[stream] = None
            self._versions[stream] += 1
            if stream == 'image':
                self._classification = None

    @contextmanager
    def watching(self, name):
        """Count one client of ``name`` (a stream, or 'events') while the block runs."""
        self._change_watchers(name, +1)
        try:
            yield
        finally:
            self._change_watchers(name, -1)

    def _change_watchers(self, name, change):
        with self._lock:
            self._watchers[name] += change
            first_or_last = self._watchers[name] == (1 if change > 0 else 0)
        if first_or_last and self.on_watchers_changed is not None:
            self.on_watchers_changed()

    def watched(self, name):
        """Return whether a client watches ``name`` now."""
        with self._lock:
            return self._watchers[name] > 0

    def put_timing(self, timing, stamp_ns):
        """Add one timing message (``{field: value}`` of :data:`TIMING_FIELDS`)."""
        event = {'stamp_ns': stamp_ns, 'received_s': time.time(), **timing}
        with self._lock:
            self._timing_sequence += 1
            self._timings.append((self._timing_sequence, event))
            oldest_kept = event['received_s'] - self.history_s
            while self._timings and self._timings[0][1]['received_s'] < oldest_kept:
                self._timings.popleft()

    def put_diagnostics(self, statuses):
        """Keep each status (``{'name', 'level', 'message', 'values'}``) by its name."""
        with self._lock:
            for status in statuses:
                self._diagnostics[status['name']] = status

    def timings_after(self, sequence):
        """Return ``[(sequence, event), ...]`` of the kept timing events newer than ``sequence``.

        :param sequence: 0 for every event kept (the last ``history_s`` seconds).
        """
        with self._lock:
            return [entry for entry in self._timings if entry[0] > sequence]

    def version(self, stream):
        """Return how many frames ``stream`` has had (a picture changes when this does)."""
        with self._lock:
            return self._versions[stream]

    def jpeg(self, stream):
        """Return ``(version, JPEG bytes)`` of the newest picture of ``stream``, or None yet.

        Encoded once per frame: a second client, or a second call, gets the same bytes.
        """
        return self._picture(stream, '.jpg', [cv2.IMWRITE_JPEG_QUALITY, self.jpeg_quality])

    def jpeg_newer_than(self, stream, version):
        """Return what :meth:`jpeg` does when the picture is newer than ``version``, else None."""
        picture = self.jpeg(stream)
        return None if picture is None or picture[0] == version else picture

    def png(self, stream):
        """Return ``(version, PNG bytes)`` of the newest picture of ``stream``, or None yet."""
        return self._picture(stream, '.png', [])

    def _picture(self, stream, extension, encode_parameters):
        if self.frame_source is not None:
            self.frame_source(stream)
        with self._lock:
            version = self._versions[stream]
            source = self._sources[stream]
            classification = self._classification
            cached = self._encoded.get((stream, extension))
        if source is None:
            return None
        if cached is not None and cached[0] == version:
            return cached
        picture = self.draw(stream, source, classification)
        ok, encoded = cv2.imencode(extension, picture, encode_parameters)
        if not ok:
            raise ValueError(f'OpenCV could not encode a {extension} of {stream}')
        result = (version, encoded.tobytes())
        with self._lock:
            self._encoded[(stream, extension)] = result
            self.encoded[stream] += 1
        return result

    def draw(self, stream, source, classification=None):
        """Return the BGR picture of one ``(pixels, encoding)`` of ``stream``, ``width`` across."""
        pixels, encoding = source
        if stream == 'depth':
            coloured = colorize_depth(depth_in_metres(pixels, encoding), self.min_depth,
                                      self.max_depth)
            return np.vstack([scaled_to_width(coloured, self.width),
                              depth_legend(self.width, self.min_depth, self.max_depth)])
        picture = scaled_to_width(np.ascontiguousarray(as_rgb8(pixels, encoding)[:, :, ::-1]),
                                  self.width)
        if classification is not None:
            picture = draw_classes(picture, classification['labels'], classification['scores'])
        return picture

    def status(self):
        """Return what ``/api/status`` reports: latest timing, diagnostics, topics, streams."""
        with self._lock:
            return {
                'timing': self._timings[-1][1] if self._timings else None,
                'diagnostics': sorted(self._diagnostics.values(), key=lambda s: s['name']),
                'classification': self._classification,
                'topics': dict(self.topics),
                'streams': {stream: {'frames': self._frames[stream],
                                     'rejected': self._rejected[stream],
                                     'stamp_ns': self._stamps[stream],
                                     'encoded': self.encoded[stream]}
                            for stream in STREAMS},
                'clients': dict(self._watchers),
                'width': self.width,
                'depth_range_m': [self.min_depth, self.max_depth],
                'history_s': self.history_s,
            }
