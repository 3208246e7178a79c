"""Failures that happen inside OpenVINO, not in a test hook: the engine and the pipeline
survive them and recover; a model fails on chosen inputs (tiny_models.failing_depth_model).
"""

import queue
import threading
import time

import numpy as np
import pytest

from edge_perception.core.device_policy import (
    FALLBACK_AFTER_FAILURES,
    RECOMPILE_AFTER_FAILURES,
    RETURN_TO_DEVICE_S,
)
from edge_perception.core.engine import AsyncEngine, compile_model, create_core
from edge_perception.core.image_codec import array_to_image_fields
from edge_perception.core.pipeline import ImagePipeline, PipelineConfig
from edge_perception.core.preprocessing import Normalisation

from tiny_models import failing_depth_model, write_model

IDENTITY = Normalisation((0.0,), (1.0,), 'RGB')
HEIGHT, WIDTH = 6, 8


def test_a_request_failing_inside_openvino_reaches_on_error_and_the_engine_goes_on():
    compiled = compile_model(create_core(), failing_depth_model(HEIGHT, WIDTH), 'CPU')
    outcomes = queue.Queue()
    engine = AsyncEngine(compiled, lambda context, outputs, ms: outcomes.put((context, outputs)),
                         lambda context, error: outcomes.put((context, error)), 1)
    try:
        for context, red in enumerate((10.0, 255.0, 20.0, 255.0, 30.0)):
            image = np.zeros((1, 3, HEIGHT, WIDTH), np.float32)
            image[0, 0] = red
            engine.submit(image, context)
            got, value = outcomes.get(timeout=10)
            assert got == context
            if red > 250:
                assert isinstance(value, RuntimeError) and 'Reshape' in str(value)
            else:
                np.testing.assert_allclose(value[0], red)
    finally:
        engine.close()
    assert engine.idle and threading.active_count() < 100


def feed(pipeline, red, context):
    image = np.zeros((HEIGHT, WIDTH, 3), np.uint8)
    image[:, :, 0] = red
    frame = array_to_image_fields(image, 'rgb8')
    pipeline.process(frame._replace(data=bytearray(frame.data)), context)


@pytest.fixture
def pipeline(tmp_path):
    made = []

    def make(fallback_devices=()):
        model = write_model(failing_depth_model(HEIGHT, WIDTH), tmp_path, 'failing')
        outcomes, events = queue.Queue(), queue.Queue()
        built = ImagePipeline(
            PipelineConfig(str(model), 'CPU', 'graph', IDENTITY, num_requests=1,
                           fallback_devices=tuple(fallback_devices)),
            lambda context, outputs, timing: outcomes.put(('depth', context, outputs[0])),
            lambda context, error: outcomes.put(('error', context, error)),
            on_event=events.put)
        made.append(built)
        return built, outcomes, events

    yield make
    for built in made:
        built.close()


def test_the_pipeline_recovers_as_soon_as_frames_stop_failing(pipeline):
    built, outcomes, events = pipeline()
    failing = range(2, 2 + RECOMPILE_AFTER_FAILURES + 2)
    for context in range(12):
        feed(built, 249 + context if context in failing else 100, context)
        kind, got, value = outcomes.get(timeout=10)
        assert (kind, got) == ('error' if context in failing else 'depth', context)
    assert built.inference_failures == len(failing) and built.consecutive_failures == 0
    assert 'Reshape' in built.last_error
    assert events.get(timeout=10).reason == ''  # the first compilation
    # The recompilation ran beside the frames, which never waited for it.
    assert 'recompiled after 3 failed inferences' in events.get(timeout=10).reason


def test_failures_that_go_on_move_the_stream_to_the_fallback_device(pipeline):
    built, outcomes, events = pipeline(fallback_devices=['HETERO:CPU'])
    assert events.empty() and built.device == 'CPU'
    for context in range(FALLBACK_AFTER_FAILURES + 1):
        feed(built, 251 + context % 2, context)  # consecutive failing frames differ
        assert outcomes.get(timeout=10)[0] == 'error'
    feed(built, 100, 100)
    assert outcomes.get(timeout=10)[:2] == ('depth', 100)
    compiled = [events.get(timeout=10) for _ in range(3)]  # first, recompiled, fallback
    assert [event.device for event in compiled] == ['CPU', 'CPU', 'HETERO:CPU']
    assert 'falling back from CPU' in compiled[-1].reason
    assert built.device == 'HETERO:CPU' and "using fallback device 'HETERO:CPU'" in \
        built.fallback_reason
    feed(built, 100, 101)
    assert outcomes.get(timeout=10)[:2] == ('depth', 101)
    # Once its back-off has passed, the configured device is tried again and taken back.
    deadline = time.monotonic() + RETURN_TO_DEVICE_S[0] + 10.0
    context = 102
    while built.device != 'CPU':
        assert time.monotonic() < deadline, 'the configured device was never tried again'
        feed(built, 100, context)
        assert outcomes.get(timeout=10)[:2] == ('depth', context)
        context += 1
        time.sleep(0.1)  # a camera's pace
    returned = events.get(timeout=10)
    assert returned.device == 'CPU' and 'back on the configured device' in returned.reason
    assert built.fallback_reason == ''


def test_no_frame_is_lost_while_its_stream_is_recompiled_and_moved(pipeline):
    # The recompilation and the fallback replace the stream beside the frames: a frame
    # submitted to the engine being replaced once got no result, no error and no count.
    for trial in range(15):
        built, outcomes, events = pipeline(fallback_devices=['HETERO:CPU'])
        reds = [251 + context % 2 for context in range(FALLBACK_AFTER_FAILURES + 1)] + [100] * 3
        for context, red in enumerate(reds):
            feed(built, red, context)
            assert outcomes.get(timeout=10)[:2] == ('error' if red > 250 else 'depth', context), \
                (trial, built.device, built.frames_dropped)
        assert built.frames_dropped == 0
        built.close()
