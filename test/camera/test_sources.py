"""Frame sources (video files, image folders, devices), pacing and stamps, without ROS."""

from pathlib import Path

import pytest

from edge_perception.camera.sources import (
    DEFAULT_FOLDER_RATE_HZ,
    DeviceSource,
    EndOfSource,
    FramePacer,
    ImageFolderSource,
    MonotonicStamper,
    open_source,
    SourceError,
    VideoFileSource,
)

from camera_clips import index_of, write_clip, write_image_folder


def read_all(source, limit=100):
    frames = []
    with pytest.raises(EndOfSource):
        for _ in range(limit):
            frames.append(source.read())
    return frames


def absent_device_index():
    return next(index for index in range(1000) if not Path(f'/dev/video{index}').exists())


def test_a_video_file_gives_its_frames_in_order_at_its_own_rate(tmp_path):
    clip = write_clip(tmp_path / 'clip.mp4', 6, 96, 64, 12.0)
    source = VideoFileSource(clip)
    assert (source.granted.width, source.granted.height, source.granted.rate_hz) == \
        (96, 64, 12.0)
    frames = read_all(source)
    assert [index_of(frame) for frame in frames] == list(range(6))
    assert all(frame.shape == (64, 96, 3) for frame in frames)
    assert '6 frames at 12 fps' in source.granted.description


def test_a_looping_video_starts_again_and_a_rate_overrides_its_own(tmp_path):
    clip = write_clip(tmp_path / 'clip.mp4', 3, 64, 48, 10.0)
    source = VideoFileSource(clip, rate_hz=25.0, loop=True)
    assert source.granted.rate_hz == 25.0
    assert [index_of(source.read()) for _ in range(7)] == [0, 1, 2, 0, 1, 2, 0]


def test_an_image_folder_gives_its_images_in_name_order(tmp_path):
    folder = write_image_folder(tmp_path / 'frames', 4, 40, 30)
    (tmp_path / 'frames' / 'notes.txt').write_text('not an image')
    source = ImageFolderSource(folder)
    assert source.granted.rate_hz == DEFAULT_FOLDER_RATE_HZ
    assert [index_of(frame) for frame in read_all(source)] == [0, 1, 2, 3]
    looping = ImageFolderSource(folder, rate_hz=5.0, loop=True)
    assert [index_of(looping.read()) for _ in range(5)] == [0, 1, 2, 3, 0]


@pytest.mark.parametrize('make, message', [
    (lambda tmp: VideoFileSource(tmp / 'absent.mp4'), r"video file '.*absent.mp4' does not exist"),
    (lambda tmp: VideoFileSource(tmp), r'is not a file'),
    (lambda tmp: VideoFileSource(_text_file(tmp)), r"cannot decode video file '.*notes.mp4'"),
    (lambda tmp: ImageFolderSource(tmp / 'absent'), r"image folder '.*absent' does not exist"),
    (lambda tmp: ImageFolderSource(tmp), r'holds no image'),
    (lambda tmp: ImageFolderSource(_broken_png(tmp)), r"cannot decode image '.*broken.png'"),
    (lambda tmp: DeviceSource(f'/dev/video{absent_device_index()}'),
     r"no such camera device '/dev/video\d+'; devices here: "),
    (lambda tmp: open_source(), r'give exactly one source'),
    (lambda tmp: open_source(device='0', video='clip.mp4'), r'got device, video'),
])
def test_a_source_that_cannot_open_says_what_and_why(tmp_path, make, message):
    with pytest.raises(SourceError, match=message):
        make(tmp_path)


def test_a_device_index_names_its_path():
    index = absent_device_index()
    with pytest.raises(SourceError, match=f"'/dev/video{index}'"):
        open_source(device=str(index))


def _text_file(folder):
    path = folder / 'notes.mp4'
    path.write_text('not a video')
    return path


def _broken_png(folder):
    (folder / 'broken.png').write_bytes(b'\x89PNG not really')
    return folder


class FakeClock:
    """Seconds that only the pacer's sleeps and the test advance: the schedule, without waiting."""

    def __init__(self):
        self.now = 100.0
        self.sleeps = []

    def __call__(self):
        return self.now

    def sleep(self, seconds):
        self.sleeps.append(seconds)
        self.now += seconds


def test_the_pacer_keeps_a_fixed_schedule_whatever_each_frame_takes():
    clock = FakeClock()
    pacer = FramePacer(10.0, clock, clock.sleep)
    due = []
    for work_s in (0.0, 0.03, 0.07, 0.0, 0.05):
        pacer.wait()
        due.append(clock.now)
        clock.now += work_s
    assert due == pytest.approx([100.0, 100.1, 100.2, 100.3, 100.4])


def test_the_pacer_restarts_its_schedule_after_a_long_stall_instead_of_bursting():
    clock = FakeClock()
    pacer = FramePacer(10.0, clock, clock.sleep)
    pacer.wait()
    clock.now += 1.0
    pacer.wait()
    started = clock.now
    pacer.wait()
    assert clock.now == pytest.approx(started + 0.1)


def test_stamps_strictly_increase_when_the_clock_steps_back():
    stamper = MonotonicStamper()
    assert [stamper.stamp(now) for now in (10, 20, 15, 20, 30)] == [10, 20, 21, 22, 30]
