"""Devices, model files and asynchronous inference with real OpenVINO on CPU."""

import sys
import threading

import numpy as np
import pytest

from edge_perception.core.engine import (
    AsyncEngine,
    check_device,
    compile_model,
    create_core,
    DeviceUnavailableError,
    load_model,
    ModelLoadError,
    requested_devices,
)
from edge_perception.core.openvino_compat import (
    Model,
    opset,
    PartialShape,
    save_model,
    Tensor,
    Type,
)

from tiny_models import passthrough_model, write_model


@pytest.fixture(scope='module')
def core():
    return create_core()


def test_requested_devices():
    assert requested_devices('CPU') == ['CPU']
    assert requested_devices('HETERO:GPU,CPU') == ['GPU', 'CPU']
    assert requested_devices('AUTO') == []
    assert requested_devices('AUTO:NPU, CPU') == ['NPU', 'CPU']
    assert requested_devices('BATCH:CPU(4)') == ['CPU']


@pytest.mark.parametrize('device', ['CPU', 'AUTO', 'HETERO:CPU', 'AUTO:CPU', 'MULTI:CPU',
                                    'BATCH:CPU(4)'])
def test_available_devices_pass(core, device):
    check_device(core, device)


@pytest.mark.parametrize('device, missing', [
    ('MYRIAD', 'MYRIAD'), ('GPU', 'GPU'), ('NPU', 'NPU'), ('HETERO:GPU,CPU', 'GPU'),
    ('cpu', 'cpu'), ('', '(empty)')])
def test_absent_devices_name_the_request_and_what_exists(core, device, missing):
    with pytest.raises(DeviceUnavailableError) as error:
        check_device(core, device)
    message = str(error.value)
    assert f"'{device}' is not available (missing: {missing})" in message
    assert 'Devices OpenVINO sees here: CPU' in message
    assert ('2022.3 LTS' in message) == (device == 'MYRIAD')


def test_model_file_errors(core, tmp_path):
    with pytest.raises(ModelLoadError, match='does not exist'):
        load_model(core, tmp_path / 'missing.xml')
    (tmp_path / 'weights.pt').write_bytes(b'not a graph')
    with pytest.raises(ModelLoadError, match=r'is not one of: \.xml, \.onnx'):
        load_model(core, tmp_path / 'weights.pt')
    (tmp_path / 'alone.xml').write_text('<net/>')
    with pytest.raises(ModelLoadError, match='no weights file'):
        load_model(core, tmp_path / 'alone.xml')
    path = write_model(passthrough_model(3, 4, 4), tmp_path, 'good')
    path.write_text(path.read_text()[:200])
    with pytest.raises(ModelLoadError, match='cannot read model'):
        load_model(core, path)
    (tmp_path / 'broken.onnx').write_bytes(b'\x00garbage')
    with pytest.raises(ModelLoadError, match='cannot read model'):
        load_model(core, tmp_path / 'broken.onnx')


def slow_model(size=384, repeats=12):
    """A model that takes a few milliseconds on CPU: chained matrix products."""
    value = opset.parameter([1, size, size], Type.f32, name='x')
    weight = opset.constant(np.eye(size, dtype=np.float32))
    node = value
    for _ in range(repeats):
        node = opset.matmul(node, weight, False, False)
    return Model([node], [value], 'slow')


def test_newest_frame_wins_when_frames_arrive_faster_than_inference(core):
    compiled = compile_model(core, slow_model(), 'CPU')
    results, errors = [], []
    done = threading.Event()
    # The first frame's request stays busy (in its result callback) until every other frame is
    # submitted, however fast this machine infers: those frames can only wait for it, and
    # replace one another.
    first_in_flight = threading.Event()
    all_submitted = threading.Event()

    def on_result(context, outputs, inference_ms):
        if context == 0:
            first_in_flight.set()
            all_submitted.wait(10.0)
        results.append((context, float(outputs[0][0, 0, 0]), inference_ms))
        if context == 19:
            done.set()

    engine = AsyncEngine(compiled, on_result, lambda *error: errors.append(error), 1)
    try:
        engine.submit(np.full((1, 384, 384), 0, np.float32), 0)
        assert first_in_flight.wait(10.0)
        for frame in range(1, 20):
            engine.submit(np.full((1, 384, 384), frame, np.float32), frame)
        all_submitted.set()
        assert done.wait(10.0)
    finally:
        engine.close()
    assert errors == []
    # Frame 0 was in flight; 1..18 each waited and were replaced by the next; 19 ran last.
    assert [context for context, _, _ in results] == [0, 19]
    assert engine.frames_dropped == 18
    assert all(value == context for context, value, _ in results)
    assert all(inference_ms > 0 for _, _, inference_ms in results)


def test_failures_reach_the_error_callback(core):
    compiled = compile_model(core, passthrough_model(3, 4, 4), 'CPU')
    errors = []
    failed = threading.Event()

    def on_error(context, error):
        errors.append((context, error))
        failed.set()

    def on_result(context, outputs, inference_ms):
        raise RuntimeError('head failed')

    engine = AsyncEngine(compiled, on_result, on_error, 2)
    try:
        engine.submit(np.zeros((1, 5, 5), np.float32), 'wrong shape')
        assert failed.wait(5.0)
        failed.clear()
        engine.submit(np.zeros((1, 3, 4, 4), np.float32), 'good shape')
        assert failed.wait(5.0)
    finally:
        engine.close()
    assert [context for context, _ in errors] == ['wrong shape', 'good shape']
    assert 'head failed' in str(errors[1][1])


@pytest.mark.parametrize('fp16', [True, False])
def test_ir_weights_are_saved_in_the_precision_asked_for(core, tmp_path, fp16):
    image = opset.parameter([1, 3, 4, 4], Type.f32, name='image')
    weights = opset.constant(np.full((1, 3, 1, 1), 0.3, np.float32))
    path = tmp_path / 'scaled.xml'
    save_model(Model([opset.multiply(image, weights)], [image], 'scaled'), path,
               compress_to_fp16=fp16)
    assert ('element_type="f16"' in path.read_text()) == fp16
    compiled = compile_model(core, load_model(core, path), 'CPU')
    result = compiled(np.ones((1, 3, 4, 4), np.float32))[compiled.outputs[0]]
    np.testing.assert_allclose(result, 0.3, rtol=1e-3)


def test_a_dynamic_batch_is_fixed_to_one(core, tmp_path):
    image = opset.parameter(PartialShape([-1, 3, 8, 8]), Type.f32, name='image')
    path = write_model(Model([opset.relu(image)], [image], 'dynamic_batch'), tmp_path, 'dyn')
    model = load_model(core, path)
    assert [dimension.get_length() for dimension in model.inputs[0].get_partial_shape()] == \
        [1, 3, 8, 8]
    fully_dynamic = opset.parameter(PartialShape([-1, 3, -1, -1]), Type.f32, name='image')
    path = write_model(Model([opset.relu(fully_dynamic)], [fully_dynamic], 'dyn'), tmp_path,
                       'all_dynamic')
    assert load_model(core, path).inputs[0].get_partial_shape().is_dynamic


def _tensor_references_its_array():
    array = np.zeros(4, np.float32)
    before = sys.getrefcount(array)
    tensor = Tensor(array, shared_memory=True)
    return sys.getrefcount(array) > before and tensor is not None


@pytest.mark.skipif(not _tensor_references_its_array(),
                    reason="this OpenVINO's Tensor does not keep the array it shares alive (the "
                           "pipeline keeps it in the frame's job instead)")
def test_an_input_sharing_the_callers_memory_stays_alive_until_its_result(core):
    compiled = compile_model(core, passthrough_model(3, 256, 256), 'CPU')
    results = []
    done = threading.Event()

    def on_result(context, outputs, inference_ms):
        results.append((context, np.unique(outputs[0])))
        done.set()

    engine = AsyncEngine(compiled, on_result, lambda *error: results.append(error), 1)
    try:
        for frame in range(20):
            done.clear()
            # The engine holds the only reference to the tensor and the array it shares.
            engine.submit(Tensor(np.full((1, 3, 256, 256), frame, np.float32),
                                 shared_memory=True), frame)
            scratch = [np.full((1, 3, 256, 256), -1.0, np.float32) for _ in range(8)]
            assert done.wait(10.0)
            del scratch
    finally:
        engine.close()
    assert all(len(values) == 1 and values[0] == frame for frame, values in results), results


def test_every_frame_an_engine_takes_is_answered_or_counted_when_it_closes_meanwhile(core):
    # A frame that had taken an idle request when the engine closed once lost its worker: no
    # result, no error, no count. Each trial closes the engine while a frame is being started
    # (a large input, whose copy into the request keeps that window open).
    compiled = compile_model(core, passthrough_model(3, 512, 512), 'CPU')
    frame = np.ones((1, 3, 512, 512), np.float32)
    for trial in range(50):
        answered, taken, dropped = _close_while_submitting(compiled, frame)
        assert len(answered) + dropped == len(taken), (trial, answered, taken)


def _close_while_submitting(compiled, frame):
    """Submit two frames while another thread closes the engine; return the contexts answered,
    those the engine took, and how many it counted as dropped.
    """
    answered = []
    engine = AsyncEngine(compiled, lambda context, outputs, ms: answered.append(context),
                         lambda context, error: answered.append(context), 1)
    together = threading.Barrier(2)

    def close():
        together.wait()
        engine.close(timeout_s=0.0)

    closer = threading.Thread(target=close)
    closer.start()
    together.wait()
    taken = [context for context in range(2) if engine.submit(frame, context)]
    closer.join()
    engine.close()  # waits for the requests in flight
    assert not engine.submit(frame, 'after close')
    return answered, taken, engine.frames_dropped
