"""Device fallback, recovery from failed inferences, and the health they add up to.

Inferences fail inside OpenVINO, on frames brighter than the model's threshold
(tiny_models.failing_depth_model); nothing of OpenVINO is mocked.
"""

import queue

import numpy as np
import pytest

from edge_perception.core.device_policy import RECOMPILE_AFTER_FAILURES
from edge_perception.core.engine import DeviceUnavailableError
from edge_perception.core.health import ERROR, HealthMonitor, NodeCounters, OK, WARN
from edge_perception.core.image_codec import array_to_image_fields
from edge_perception.core.pipeline import ImagePipeline, PipelineConfig
from edge_perception.core.preprocessing import Normalisation

from tiny_models import failing_depth_model, write_model

IDENTITY = Normalisation((0.0,), (1.0,), 'RGB')
THRESHOLD = 200


@pytest.fixture
def make_pipeline(tmp_path):
    pipelines = []
    model = write_model(failing_depth_model(6, 8, THRESHOLD), tmp_path, 'failing')

    def make(device='CPU', fallback_devices=(), **config):
        results = queue.Queue()
        pipeline = ImagePipeline(
            PipelineConfig(str(model), device, 'graph', IDENTITY, num_requests=1,
                           fallback_devices=tuple(fallback_devices), **config),
            lambda context, outputs, timing: results.put(('result', context)),
            lambda context, error: results.put(('error', context, error)),
            on_event=lambda event: results.put(('compiled', event)))
        pipelines.append(pipeline)
        return pipeline, results

    yield make
    for pipeline in pipelines:
        pipeline.close()


def next_outcome(results, skip_compiled=True):
    """The next result or error (compilation events skipped unless asked for)."""
    while True:
        outcome = results.get(timeout=10)
        if outcome[0] != 'compiled' or not skip_compiled:
            return outcome


def feed(pipeline, context, fail=False, height=6, width=8):
    """A frame of red ``context``; a failing one (each failing context a different value)."""
    red = THRESHOLD + 1 + context % 50 if fail else context % THRESHOLD
    image = np.full((height, width, 3), red, np.uint8)
    frame = array_to_image_fields(image, 'rgb8')
    return pipeline.process(frame._replace(data=bytearray(frame.data)), context)


def test_an_absent_device_gives_way_to_the_first_available_fallback(make_pipeline):
    pipeline, results = make_pipeline('MYRIAD', ['NPU', 'CPU'])
    assert pipeline.device == 'CPU'
    assert "using fallback device 'CPU'" in pipeline.fallback_reason
    assert "'MYRIAD' is not available" in pipeline.fallback_reason
    assert "'NPU' is not available" in pipeline.fallback_reason
    feed(pipeline, 1)
    kind, event = results.get(timeout=10)
    assert kind == 'compiled' and event.device == 'CPU' and not event.error
    assert results.get(timeout=10) == ('result', 1)


def test_without_an_available_fallback_the_error_names_every_device(make_pipeline):
    with pytest.raises(DeviceUnavailableError, match=r"'MYRIAD' is not available") as error:
        make_pipeline('MYRIAD')
    assert 'fallback' not in str(error.value)
    with pytest.raises(DeviceUnavailableError,
                       match=r"no configured device.*'MYRIAD'.*'GPU.7'"):
        make_pipeline('MYRIAD', ['GPU.7'])


def test_a_failed_inference_gets_new_requests_and_the_stream_goes_on(make_pipeline):
    pipeline, results = make_pipeline()
    feed(pipeline, 1, fail=True)
    kind, context, error = next_outcome(results)
    assert (kind, context) == ('error', 1) and isinstance(error, RuntimeError)
    assert (pipeline.inference_failures, pipeline.consecutive_failures) == (1, 1)
    feed(pipeline, 2)
    assert next_outcome(results) == ('result', 2)
    assert pipeline.compilations == 1  # new requests, no recompilation
    assert (pipeline.consecutive_failures, pipeline.recoveries) == (0, 1)
    assert 'Reshape' in pipeline.last_error


def test_repeated_failures_recompile_the_model(make_pipeline):
    pipeline, results = make_pipeline()
    for frame in range(RECOMPILE_AFTER_FAILURES + 1):
        feed(pipeline, frame, fail=frame < RECOMPILE_AFTER_FAILURES)
        outcome = next_outcome(results)
        assert outcome[0] == ('error' if frame < RECOMPILE_AFTER_FAILURES else 'result')
    # The frame after the third failure runs at once on fresh requests; the recompilation
    # happens beside it and replaces the stream when it is ready.
    assert pipeline.consecutive_failures == 0
    kind, recompiled = results.get(timeout=10)
    assert kind == 'compiled'
    assert f'recompiled after {RECOMPILE_AFTER_FAILURES} failed inferences' in recompiled.reason
    assert pipeline.compilations == 2


def test_health_reports_fallback_failures_and_recovery(make_pipeline):
    times = [0.0]
    monitor = HealthMonitor(stale_after_s=5.0, clock=lambda: times[0])
    pipeline, results = make_pipeline('MYRIAD', ['CPU'])

    def report(received=0, processed=0, rejected=0):
        return monitor.report(pipeline, NodeCounters(received, processed, rejected))

    first = report()
    assert first.level == WARN and "using fallback device 'CPU'" in first.message
    assert first.values['device'] == 'CPU' and first.values['configured_device'] == 'MYRIAD'

    pipeline, results = make_pipeline()
    monitor = HealthMonitor(stale_after_s=5.0, clock=lambda: times[0])
    assert (report().level, report().message) == (OK, 'waiting for images')
    monitor.image_received()
    for frame in range(RECOMPILE_AFTER_FAILURES):
        feed(pipeline, frame, fail=True)
        assert next_outcome(results)[0] == 'error'
    failing = report(received=3)
    assert failing.level == ERROR
    assert 'inference failing: 3 failed in a row' in failing.message
    assert failing.values['inference_failures'] == '3'

    feed(pipeline, 10)
    assert next_outcome(results) == ('result', 10)
    healed = report(received=4, processed=1)
    assert healed.level == OK and healed.message == 'running'
    assert report(received=5, processed=1, rejected=1).level == WARN

    times[0] += 6.0
    stale = report(received=5, processed=1, rejected=1)
    assert stale.level == WARN and 'no image for 6 s' in stale.message


def test_health_is_an_error_while_frames_hit_internal_errors_and_ok_after(make_pipeline):
    pipeline, results = make_pipeline()
    monitor = HealthMonitor()
    monitor.image_received()
    feed(pipeline, 1)
    assert next_outcome(results) == ('result', 1)

    def report(received, processed, internal_errors, last=''):
        return monitor.report(pipeline, NodeCounters(received, processed, 0, 0, internal_errors,
                                                     last))

    assert report(1, 1, 0).level == OK
    bug = report(3, 1, 2, "TypeError: '<' not supported")
    assert bug.level == ERROR
    assert bug.message.startswith('2 frame(s) hit an internal error (a bug, not bad input) '
                                  "since the last report: TypeError: '<' not supported")
    assert bug.values['internal_errors'] == '2' and bug.values['frames_rejected'] == '0'
    assert bug.values['last_internal_error'] == "TypeError: '<' not supported"
    feed(pipeline, 2)
    assert next_outcome(results) == ('result', 2)
    healed = report(4, 2, 2, "TypeError: '<' not supported")
    assert healed.level == OK and healed.values['internal_errors'] == '2'
