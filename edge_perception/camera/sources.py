"""Where camera frames come from: a V4L2 device, a video file or a folder of images, all read
through OpenCV's ``VideoCapture`` (or ``imread``), delivered as RGB arrays; and the pacing and
stamping a camera driver gives them.

No rclpy here. Opening a source checks what was asked for and raises :class:`SourceError` with
one line that names it and says what is wrong; a source that stops giving frames later raises
:class:`SourceLost` (a device unplugged) or :class:`EndOfSource` (a file played to its end).
"""

from contextlib import contextmanager
from dataclasses import dataclass
import os
from pathlib import Path
import time

import cv2

IMAGE_SUFFIXES = ('.png', '.jpg', '.jpeg', '.bmp', '.tif', '.tiff', '.webp', '.ppm', '.pgm')
# A folder of images carries no rate of its own.
DEFAULT_FOLDER_RATE_HZ = 10.0
# A video file whose container states no (or an absurd) frame rate plays at this one.
DEFAULT_VIDEO_RATE_HZ = 30.0
# libavutil's AV_LOG_QUIET.
AV_LOG_QUIET = -8


class SourceError(RuntimeError):
    """A frame source that cannot be opened as asked: the message names it and says why."""


class SourceLost(RuntimeError):
    """A source that was giving frames stopped (a camera unplugged, a file gone unreadable)."""


class EndOfSource(Exception):
    """A file source played to its end, not looping."""


@dataclass(frozen=True)
class Granted:
    """What a source delivers: frame size and rate, and a sentence for the log.

    :param rate_hz: the frames per second it runs at (a device's granted rate, a file's own
        rate or the one asked for).
    """

    width: int
    height: int
    rate_hz: float
    description: str


@contextmanager
def _quiet_opencv():
    """Keep OpenCV's own warnings (a failed open prints several) off the terminal: the
    source's :class:`SourceError` says what went wrong in one line.
    """
    # FFmpeg logs through its own callback ("moov atom not found"); OpenCV sets its level
    # from this variable when it first uses FFmpeg. A level the user chose is kept.
    os.environ.setdefault('OPENCV_FFMPEG_LOGLEVEL', str(AV_LOG_QUIET))
    previous = cv2.utils.logging.getLogLevel()
    cv2.utils.logging.setLogLevel(cv2.utils.logging.LOG_LEVEL_SILENT)
    try:
        yield
    finally:
        cv2.utils.logging.setLogLevel(previous)


class DeviceSource:
    """A V4L2 camera: ``/dev/videoN`` or its index ``N``.

    :param device: the device path or index (a string of digits counts as an index).
    :param width: requested frame width, pixels; 0 for the device's default.
    :param height: requested frame height, pixels; 0 for the device's default.
    :param fps: requested frames per second; 0 for the device's default.
    :raises SourceError: no such device, busy, or no frames in a format OpenCV can convert.
    """

    paced = False  # the device's own clock paces the frames

    def __init__(self, device, width=0, height=0, fps=0.0):
        self.path = device_path(device)
        if not Path(self.path).exists():
            raise SourceError(f"no such camera device '{self.path}'; devices here: "
                              f"{', '.join(video_devices()) or 'none'}")
        with _quiet_opencv():
            self.capture = cv2.VideoCapture(self.path, cv2.CAP_V4L2)
        if not self.capture.isOpened():
            raise SourceError(f"cannot open camera device '{self.path}': busy (another program "
                              'uses it), not permitted, or not a video capture device')
        for prop, value in ((cv2.CAP_PROP_FRAME_WIDTH, width),
                            (cv2.CAP_PROP_FRAME_HEIGHT, height), (cv2.CAP_PROP_FPS, fps)):
            if value:
                self.capture.set(prop, value)
        first = self._read()
        if first is None:
            self.capture.release()
            raise SourceError(f"camera device '{self.path}' opened but gave no frame: busy, or "
                              'no pixel format OpenCV can convert')
        self._pending = first
        height_granted, width_granted = first.shape[:2]
        rate = self.capture.get(cv2.CAP_PROP_FPS) or 0.0
        asked = f'{width or "default"}x{height or "default"} at ' + \
            (f'{fps:g} fps' if fps else 'the default rate')
        self.granted = Granted(width_granted, height_granted, rate,
                               f"camera '{self.path}': asked for {asked}, granted "
                               f'{width_granted}x{height_granted} at {rate:g} fps')

    def _read(self):
        ok, frame = self.capture.read()
        return cv2.cvtColor(frame, cv2.COLOR_BGR2RGB) if ok and frame is not None else None

    def read(self):
        """Return the next RGB frame, waiting for the device.

        :raises SourceLost: when the device gives no more frames (unplugged, or taken away).
        """
        if self._pending is not None:
            frame, self._pending = self._pending, None
            return frame
        frame = self._read()
        if frame is None:
            raise SourceLost(f"camera '{self.path}' stopped giving frames (disconnected?)")
        return frame

    def close(self):
        self.capture.release()


class VideoFileSource:
    """A video file OpenCV's FFmpeg backend decodes (MP4, MKV, AVI, MOV from a phone, ...).

    :param rate_hz: frames per second to play at; 0 for the file's own rate.
    :param loop: start again at the first frame after the last.
    :raises SourceError: when the file does not exist or holds no frame OpenCV can decode.
    """

    paced = True

    def __init__(self, path, rate_hz=0.0, loop=False):
        self.path = str(path)
        _check_readable(Path(path), 'video file')
        self.loop = loop
        self.capture = self._open()
        first = self._read()
        if first is None:
            self.capture.release()
            raise SourceError(f"cannot decode video file '{self.path}': no frame OpenCV "
                              '(FFmpeg) can read')
        self._pending = first
        own_rate = self.capture.get(cv2.CAP_PROP_FPS) or 0.0
        if not 0.0 < own_rate <= 1000.0:
            own_rate = DEFAULT_VIDEO_RATE_HZ
        rate = rate_hz or own_rate
        frames = int(self.capture.get(cv2.CAP_PROP_FRAME_COUNT) or 0)
        self.granted = Granted(first.shape[1], first.shape[0], rate,
                               f"video '{self.path}': {first.shape[1]}x{first.shape[0]}, "
                               f'{frames} frames at {own_rate:g} fps, played at {rate:g} fps'
                               f"{', looping' if loop else ''}")

    def _open(self):
        with _quiet_opencv():
            return cv2.VideoCapture(self.path, cv2.CAP_FFMPEG)

    def _read(self):
        ok, frame = self.capture.read()
        return cv2.cvtColor(frame, cv2.COLOR_BGR2RGB) if ok and frame is not None else None

    def read(self):
        """Return the next RGB frame.

        :raises EndOfSource: after the last frame, unless looping.
        :raises SourceLost: when a loop finds the file no longer decodable.
        """
        if self._pending is not None:
            frame, self._pending = self._pending, None
            return frame
        frame = self._read()
        if frame is None and self.loop:
            # Reopened rather than rewound: seeking is unreliable in some containers.
            self.capture.release()
            self.capture = self._open()
            frame = self._read()
            if frame is None:
                raise SourceLost(f"video file '{self.path}' can no longer be read")
        if frame is None:
            raise EndOfSource(self.path)
        return frame

    def close(self):
        self.capture.release()


class ImageFolderSource:
    """The images of a folder in name order (PNG, JPEG, ...), as frames.

    :param rate_hz: frames per second; 0 for :data:`DEFAULT_FOLDER_RATE_HZ`.
    :param loop: start again at the first image after the last.
    :raises SourceError: when the folder does not exist, holds no image, or its first image
        cannot be decoded.
    """

    paced = True

    def __init__(self, folder, rate_hz=0.0, loop=False):
        self.folder = Path(folder)
        if not self.folder.is_dir():
            raise SourceError(f"image folder '{folder}' does not exist or is not a folder")
        self.files = sorted(path for path in self.folder.iterdir()
                            if path.suffix.lower() in IMAGE_SUFFIXES)
        if not self.files:
            raise SourceError(f"image folder '{folder}' holds no image "
                              f"({', '.join(IMAGE_SUFFIXES)})")
        self.loop = loop
        self.index = 0
        first = self._load(self.files[0])
        rate = rate_hz or DEFAULT_FOLDER_RATE_HZ
        self.granted = Granted(first.shape[1], first.shape[0], rate,
                               f"images '{folder}': {len(self.files)} files, the first "
                               f'{first.shape[1]}x{first.shape[0]}, played at {rate:g} fps'
                               f"{', looping' if loop else ''}")

    def _load(self, path):
        image = cv2.imread(str(path), cv2.IMREAD_COLOR)
        if image is None:
            raise SourceError(f"cannot decode image '{path}'")
        return cv2.cvtColor(image, cv2.COLOR_BGR2RGB)

    def read(self):
        """Return the next image as an RGB array (images may differ in size).

        :raises EndOfSource: after the last image, unless looping.
        :raises SourceLost: when an image cannot be read or decoded.
        """
        if self.index == len(self.files):
            if not self.loop:
                raise EndOfSource(str(self.folder))
            self.index = 0
        path = self.files[self.index]
        self.index += 1
        try:
            return self._load(path)
        except SourceError as error:
            raise SourceLost(str(error)) from None

    def close(self):
        pass


def open_source(device='', video='', images='', width=0, height=0, fps=0.0, rate_hz=0.0,
                loop=False):
    """Open the one source asked for: exactly one of ``device``, ``video``, ``images``.

    :param width, height, fps: what to ask a device for (0: its default).
    :param rate_hz: the rate to play a file or folder at (0: its own).
    :raises SourceError: for none or several sources, or one that cannot be opened.
    """
    asked = [name for name, value in (('device', device), ('video', video),
                                      ('images', images)) if value != '']
    if len(asked) != 1:
        given = f"; got {', '.join(asked)}" if asked else ''
        raise SourceError('give exactly one source: a device (/dev/video0 or an index), a '
                          f'video file or an image folder{given}')
    if device != '':
        return DeviceSource(device, width, height, fps)
    if video:
        return VideoFileSource(video, rate_hz, loop)
    return ImageFolderSource(images, rate_hz, loop)


def device_path(device):
    """Return the path of a V4L2 device given as a path or an index (``'0'``, ``0``)."""
    device = str(device)
    return f'/dev/video{device}' if device.isdigit() else device


def video_devices():
    """Return the V4L2 device paths of this machine, in index order."""
    return sorted((str(path) for path in Path('/dev').glob('video*')),
                  key=lambda path: int(path.removeprefix('/dev/video') or 0)
                  if path.removeprefix('/dev/video').isdigit() else -1)


def _check_readable(path, what):
    if not path.exists():
        raise SourceError(f"{what} '{path}' does not exist")
    if not path.is_file():
        raise SourceError(f"{what} '{path}' is not a file")
    try:
        with path.open('rb'):
            pass
    except OSError as error:
        raise SourceError(f"cannot read {what} '{path}': {error.strerror}") from None


class FramePacer:
    """Keeps frames ``1 / rate_hz`` apart on a fixed schedule, so that the rate does not drift
    with the time each frame takes; a source that falls behind by more than a period restarts
    the schedule instead of sending a burst to catch up.

    :param clock: seconds, monotonic (``time.monotonic`` by default).
    :param sleep: ``sleep(seconds)`` (``time.sleep`` by default).
    """

    def __init__(self, rate_hz, clock=time.monotonic, sleep=time.sleep):
        self.period_s = 1.0 / rate_hz
        self.clock = clock
        self.sleep = sleep
        self.next_s = None

    def wait(self):
        """Wait until the next frame is due (the first is due at once)."""
        now = self.clock()
        if self.next_s is None or now - self.next_s > self.period_s:
            self.next_s = now
        elif self.next_s > now:
            self.sleep(self.next_s - now)
        self.next_s += self.period_s


class MonotonicStamper:
    """Capture stamps as a camera driver gives them: the clock when a frame arrived, made
    strictly increasing (a wall clock may step back; receivers order frames by stamp).
    """

    def __init__(self):
        self.last_ns = None

    def stamp(self, now_ns):
        """Return ``now_ns``, or one nanosecond after the last stamp when that is later."""
        if self.last_ns is not None and now_ns <= self.last_ns:
            now_ns = self.last_ns + 1
        self.last_ns = now_ns
        return now_ns
