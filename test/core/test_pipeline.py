"""ImagePipeline: raw Image fields in, model outputs out, compiled per resolution."""

import gc
import queue
import time
import weakref

import numpy as np
import pytest

from edge_perception.core.engine import (
    create_core,
    DeviceUnavailableError,
    load_model,
    ModelLoadError,
)
from edge_perception.core.image_codec import array_to_image_fields, ImageFormatError, ImageFrame
from edge_perception.core.pipeline import (
    DeviceReleasedError,
    ImagePipeline,
    PipelineConfig,
    StreamCompileError,
)
from edge_perception.core.preprocessing import (
    HostPreprocessor,
    Normalisation,
    PreprocessingError,
)
from edge_perception.core.streams import CACHED_STREAMS

from tiny_models import passthrough_model, write_model

IDENTITY = Normalisation((0.0,), (1.0,), 'RGB')


@pytest.fixture
def run(tmp_path):
    pipelines = []

    def make(preprocessing='graph', model=None, normalisation=IDENTITY, events=None):
        model = model or write_model(passthrough_model(3, 6, 8), tmp_path, 'passthrough')
        results = queue.Queue()
        pipeline = ImagePipeline(
            PipelineConfig(str(model), 'CPU', preprocessing, normalisation, 'LATENCY', 1),
            lambda context, outputs, timing: results.put((context, outputs, timing)),
            lambda context, error: results.put((context, error, None)),
            on_event=None if events is None else events.put)
        pipelines.append(pipeline)
        return pipeline, results

    yield make
    for pipeline in pipelines:
        pipeline.close()


def feed(pipeline, image, encoding, context):
    frame = array_to_image_fields(image, encoding)
    return pipeline.process(frame._replace(data=bytearray(frame.data)), context)


@pytest.mark.parametrize('preprocessing', ['graph', 'host'])
def test_frame_to_outputs(run, preprocessing):
    events = queue.Queue()
    pipeline, results = run(preprocessing, events=events)
    image = np.zeros((6, 8, 3), np.uint8)
    image[:, :, 1] = 7
    assert feed(pipeline, image, 'bgr8', 'frame-1') is None  # compiles in the background
    event = events.get(timeout=10)
    assert (event.preprocessing, event.width, event.height) == (preprocessing, 8, 6)
    context, outputs, timing = results.get(timeout=10)
    assert context == 'frame-1'
    np.testing.assert_array_equal(outputs[0][0, 1], 7.0)
    np.testing.assert_array_equal(outputs[0][0, [0, 2]], 0.0)
    assert timing.preprocess_ms >= 0 and timing.inference_ms > 0
    assert pipeline.preprocessing_in_use == preprocessing


def test_each_stream_compiles_once_however_the_camera_alternates(run):
    events = queue.Queue()
    pipeline, results = run(events=events)
    small, large = np.zeros((6, 8, 3), np.uint8), np.full((12, 16, 3), 9, np.uint8)
    for context in range(8):
        feed(pipeline, large if context % 2 else small, 'rgb8', context)
        result_context, outputs, _ = results.get(timeout=10)
        assert result_context == context and outputs[0].shape == (1, 3, 6, 8)
        np.testing.assert_allclose(outputs[0], 9.0 if context % 2 else 0.0)
    assert pipeline.compilations == 2
    assert [(event.width, event.height) for event in (events.get(timeout=1),
                                                      events.get(timeout=1))] == [(8, 6), (16, 12)]
    assert events.empty()


def device_objects(stream):
    """Weak references to a stream's compiled model and its infer requests."""
    return [weakref.ref(stream.compiled)] + [weakref.ref(slot.request)
                                             for slot in stream.engine._slots]


def test_a_fourth_stream_releases_the_least_recently_used_one(run):
    assert CACHED_STREAMS == 3
    pipeline, results = run()
    first, second, third, fourth = (6, 8), (12, 16), (18, 24), (24, 32)

    def serve(size, value):
        feed(pipeline, np.full((*size, 3), value, np.uint8), 'rgb8', value)
        context, outputs, _ = results.get(timeout=10)
        assert context == value and np.all(outputs[0] == value)

    for value, size in enumerate((first, second, third, first), start=1):
        serve(size, value)
    assert pipeline.compilations == 3
    second_stream = device_objects(pipeline._streams[('rgb8', *second)])
    serve(fourth, 5)  # the second is now the least recently used: the first was used again
    assert pipeline.compiled_streams == 3 and pipeline.compilations == 4
    gc.collect()
    assert all(reference() is None for reference in second_stream), \
        'the evicted compiled model or its infer requests are still alive'
    for value, size in enumerate((first, third, fourth), start=6):
        serve(size, value)
    assert pipeline.compilations == 4  # the three kept streams serve without compiling
    serve(second, 9)
    assert pipeline.compilations == 5 and pipeline.compiled_streams == 3


def test_bad_frames_raise_before_reaching_the_device(run):
    pipeline, results = run()
    with pytest.raises(ImageFormatError):
        pipeline.process(ImageFrame(6, 8, 'rgb8', False, 24, bytes(10)), None)
    with pytest.raises(ImageFormatError, match='not a camera image encoding'):
        feed(pipeline, np.zeros((6, 8), np.float32), '32FC1', None)
    assert results.empty()


def test_model_and_normalisation_are_checked_at_start(run, tmp_path):
    model = write_model(passthrough_model(3, 6, 8), tmp_path, 'three_channels')
    with pytest.raises(PreprocessingError, match='takes 3 channels'):
        run(model=model, normalisation=Normalisation((1.0, 2.0), (1.0,)))
    with pytest.raises(ValueError, match='preprocessing must be one of'):
        run(preprocessing='gpu')



def test_a_failed_compilation_is_retried_with_back_off_not_for_every_frame(run, tmp_path):
    model = write_model(passthrough_model(3, 6, 8), tmp_path, 'vanishing')
    events = queue.Queue()
    pipeline, results = run(model=model, events=events)
    moved = tmp_path / 'moved'
    moved.mkdir()
    for suffix in ('.xml', '.bin'):
        model.with_suffix(suffix).rename(moved / f'vanishing{suffix}')
    feed(pipeline, np.zeros((6, 8, 3), np.uint8), 'rgb8', 1)
    failed = events.get(timeout=10)
    assert 'does not exist' in failed.error and pipeline.compile_error
    for suffix in ('.xml', '.bin'):
        (moved / f'vanishing{suffix}').rename(model.with_suffix(suffix))
    # Within the back-off the stream's frames are refused with the error, not compiled again.
    with pytest.raises(StreamCompileError, match='does not exist') as refused:
        feed(pipeline, np.zeros((6, 8, 3), np.uint8), 'rgb8', 2)
    assert isinstance(refused.value.__cause__, ModelLoadError)
    assert events.empty()
    feed(pipeline, np.zeros((12, 16, 3), np.uint8), 'rgb8', 3)  # another stream compiles
    assert results.get(timeout=10)[0] == 3
    # After the back-off the failed stream is compiled again, and serves.
    deadline = time.monotonic() + 10.0
    while True:
        try:
            feed(pipeline, np.zeros((6, 8, 3), np.uint8), 'rgb8', 4)
            break
        except StreamCompileError:
            assert time.monotonic() < deadline, 'the failed stream was never retried'
            time.sleep(0.1)
    assert results.get(timeout=10)[0] == 4 and not pipeline.compile_error


def test_a_frame_refused_at_compilation_leaves_the_stream_serving(run):
    pipeline, results = run()
    feed(pipeline, np.zeros((6, 8, 3), np.uint8), 'rgb8', 1)
    assert results.get(timeout=10)[0] == 1
    with pytest.raises(ImageFormatError, match='not a camera image encoding'):
        feed(pipeline, np.zeros((6, 8), np.uint16), '16UC1', 2)
    feed(pipeline, np.zeros((6, 8, 3), np.uint8), 'rgb8', 3)
    assert results.get(timeout=10)[0] == 3


def reject_graph(mode, device):
    """Compilation hook: the device rejects the in-graph preprocessing, as the NPU's plugin
    rejects PrePostProcessor's resize (OpenVINO issue #28138); nothing else is refused.
    """
    if mode == 'graph':
        raise RuntimeError(f'{device}: Interpolate is not supported')


def test_auto_preprocessing_falls_back_to_the_host_when_the_device_rejects_the_graph(run,
                                                                                    tmp_path):
    model = write_model(passthrough_model(3, 6, 8), tmp_path, 'passthrough')
    events = queue.Queue()
    pipeline, results = run('auto', model=model, events=events)
    pipeline.inject_compile_faults(reject_graph)
    image = np.random.default_rng(0).integers(0, 256, (12, 16, 3), dtype=np.uint8)
    feed(pipeline, image, 'rgb8', 1)
    context, outputs, _ = results.get(timeout=10)
    event = events.get(timeout=10)
    assert (context, event.preprocessing, pipeline.preprocessing_in_use) == (1, 'host', 'host')
    assert 'CPU rejected in-graph preprocessing: CPU: Interpolate is not supported' in \
        event.reason
    expected = HostPreprocessor(load_model(create_core(), model), 'rgb8', IDENTITY)(image)
    np.testing.assert_array_equal(outputs[0], expected)


def test_graph_preprocessing_rejected_is_a_compile_error_not_a_silent_fallback(run):
    events = queue.Queue()
    pipeline, results = run('graph', events=events)
    pipeline.inject_compile_faults(reject_graph)
    feed(pipeline, np.zeros((6, 8, 3), np.uint8), 'rgb8', 1)
    assert 'Interpolate is not supported' in events.get(timeout=10).error
    assert 'Interpolate is not supported' in pipeline.compile_error and results.empty()


def test_releasing_the_device_drops_every_compiled_model_and_claiming_recompiles(run):
    pipeline, results = run()
    pipeline.claim_device()  # before any frame: the model alone proves the device takes it
    assert pipeline.device_held and pipeline.compiled_streams == 0
    feed(pipeline, np.full((6, 8, 3), 3, np.uint8), 'rgb8', 1)
    assert results.get(timeout=10)[0] == 1
    assert pipeline.compiled_streams == 1
    compilations = pipeline.compilations
    held = [reference for stream in pipeline._streams.values()
            for reference in device_objects(stream)]

    pipeline.release_device()
    assert not pipeline.device_held and pipeline.compiled_streams == 0
    gc.collect()
    assert all(reference() is None for reference in held), \
        'a compiled model or infer request outlived release_device'
    with pytest.raises(DeviceReleasedError, match='released'):
        feed(pipeline, np.zeros((6, 8, 3), np.uint8), 'rgb8', 2)

    pipeline.claim_device()  # the stream in use before is compiled again, on this thread
    assert pipeline.compiled_streams == 1
    feed(pipeline, np.full((6, 8, 3), 5, np.uint8), 'rgb8', 3)
    context, outputs, _ = results.get(timeout=10)
    assert context == 3 and np.all(outputs[0] == 5.0)
    assert pipeline.compilations == compilations  # served at once, nothing compiled on demand


def test_claiming_an_absent_device_fails_and_leaves_the_device_released(tmp_path):
    model = write_model(passthrough_model(3, 6, 8), tmp_path, 'passthrough')
    pipeline = ImagePipeline(PipelineConfig(str(model), 'CPU', 'graph', IDENTITY, 'LATENCY', 1),
                             lambda *_: None, lambda *_: None)
    try:
        pipeline.release_device()
        pipeline._devices = ('MYRIAD',)  # the device went away while the node was inactive
        with pytest.raises(DeviceUnavailableError, match='MYRIAD'):
            pipeline.claim_device()
        assert not pipeline.device_held
        with pytest.raises(DeviceReleasedError):
            feed(pipeline, np.zeros((6, 8, 3), np.uint8), 'rgb8', 1)
    finally:
        pipeline.close()


@pytest.mark.parametrize('preprocessing', ['graph', 'host'])
def test_padded_and_read_only_frames_reach_the_model_intact(tmp_path, preprocessing):
    model = write_model(passthrough_model(3, 96, 128), tmp_path, 'passthrough')
    results = queue.Queue()
    pipeline = ImagePipeline(
        PipelineConfig(str(model), 'CPU', preprocessing, IDENTITY, 'LATENCY', 1),
        lambda context, outputs, timing: results.put((context, outputs)),
        lambda context, error: results.put((context, error)))
    try:
        for frame in range(12):
            rows = np.full((96, 128 * 3 + 16), 255, np.uint8)  # 16 bytes of padding a row
            rows[:, :128 * 3] = frame
            # bytes: read-only, as a bag record's data; the frame's only copy is the pipeline's.
            pipeline.process(ImageFrame(96, 128, 'rgb8', False, 128 * 3 + 16, rows.tobytes()),
                             frame)
            scratch = [np.full(rows.shape, 7, np.uint8) for _ in range(8)]
            context, outputs = results.get(timeout=10)
            del scratch
            assert context == frame
            np.testing.assert_array_equal(outputs[0], float(frame))
    finally:
        pipeline.close()
