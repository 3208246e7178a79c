"""The OpenVINO side: devices, model loading, compilation and asynchronous inference.

No rclpy here. :class:`AsyncEngine` starts each frame on an idle infer request from the
caller's thread and has a worker thread per request wait for its result, so that receiving
frames, inference and handling results overlap; it keeps at most one frame waiting: when every
request is busy a newer frame replaces the waiting one (newest frame wins) and the replaced
frame is counted as dropped, so latency stays bounded when frames arrive faster than the model
runs.
"""

import logging
import os
import threading
import time

from edge_perception.core.onnx_external_data import check_external_data, OnnxFileError
from edge_perception.core.openvino_compat import Core, openvino_version

# Device names that combine other devices: 'HETERO:GPU,CPU', 'AUTO:NPU,CPU', 'MULTI:...'.
VIRTUAL_DEVICES = ('AUTO', 'HETERO', 'MULTI', 'BATCH')
PERFORMANCE_HINTS = ('LATENCY', 'THROUGHPUT')
# 'default' keeps the device's choice (bf16 on CPUs with AMX/AVX-512 BF16, f16 on GPUs); 'f32'
# gives outputs that agree across CPUs, which regression against golden outputs needs.
INFERENCE_PRECISIONS = ('default', 'f32', 'bf16', 'f16')
MODEL_SUFFIXES = ('.xml', '.onnx')
_LOGGER = logging.getLogger(__name__)
# Why MYRIAD is missing, and what gives it: the PyPI wheels never had the plugin, and releases
# after 2022.3 have none at all (docs/ncs2.md).
MYRIAD_HINT = (' The Intel NCS2 (MYRIAD) plugin is only in the OpenVINO 2022.3 LTS archive '
               'install (storage.openvinotoolkit.org, Python <= 3.10; not the PyPI wheels, not '
               'releases after 2022.3; this is OpenVINO {}): source its setupvars.sh and install '
               'its udev rules (install_dependencies/install_NCS_udev_rules.sh); docs/ncs2.md.')


class DeviceUnavailableError(RuntimeError):
    """The device asked for is not one OpenVINO can use on this machine."""


class ModelLoadError(RuntimeError):
    """The model file is missing, of an unsupported format or unreadable."""


def requested_devices(device):
    """Return the physical devices named by a device string, e.g. 'HETERO:GPU,CPU' -> GPU, CPU.

    'AUTO' alone names no particular device and returns an empty list.
    """
    name, _, targets = device.partition(':')
    if name in VIRTUAL_DEVICES:
        # 'BATCH:CPU(4)' names the CPU with a batch size.
        return [target.split('(')[0].strip() for target in targets.split(',')
                if target.strip()]
    return [device]


def check_device(core, device):
    """Raise :class:`DeviceUnavailableError` unless every device in ``device`` is available.

    :param core: ``ov.Core``.
    :param device: 'CPU', 'GPU', 'GPU.1', 'NPU', 'MYRIAD', 'AUTO', 'HETERO:GPU,CPU', ...
    """
    available = list(core.available_devices)
    missing = [wanted for wanted in requested_devices(device)
               if not any(found == wanted or found.startswith(wanted + '.')
                          for found in available)]
    if device.partition(':')[0] in VIRTUAL_DEVICES and not available:
        missing = [device]
    if not device.strip():
        missing = ['(empty)']
    if missing:
        hint = MYRIAD_HINT.format(openvino_version().split('-')[0]) if 'MYRIAD' in missing \
            else ''
        raise DeviceUnavailableError(
            f"OpenVINO device '{device}' is not available (missing: {', '.join(missing)}). "
            f"Devices OpenVINO sees here: {', '.join(available) or 'none'}.{hint}")


def load_model(core, path):
    """Read an OpenVINO IR (.xml + .bin) or ONNX model from ``path``, batch fixed to 1.

    ONNX and IR files describe graphs and weights only; nothing is unpickled. An ONNX file's
    external data must lie in its folder (:mod:`.onnx_external_data`).

    :raises ModelLoadError: with the path and the reason.
    """
    path = os.fspath(path)
    if not os.path.isfile(path):
        raise ModelLoadError(f"model file '{path}' does not exist")
    suffix = os.path.splitext(path)[1].lower()
    if suffix not in MODEL_SUFFIXES:
        raise ModelLoadError(f"model file '{path}' is not one of: {', '.join(MODEL_SUFFIXES)}")
    if suffix == '.xml' and not os.path.isfile(os.path.splitext(path)[0] + '.bin'):
        raise ModelLoadError(f"model file '{path}' has no weights file "
                             f"'{os.path.splitext(path)[0]}.bin' beside it")
    if suffix == '.onnx':
        try:
            check_external_data(path)
        except OnnxFileError as error:
            raise ModelLoadError(error.for_file(path)) from None
    try:
        model = core.read_model(path)
    except Exception as error:  # OpenVINO raises RuntimeError subclasses varying by release.
        raise ModelLoadError(f"cannot read model '{path}': {openvino_reason(error)}") from error
    return with_batch_of_one(model)


def openvino_reason(error):
    """Return the human part of an OpenVINO exception, without its source-location lines.

    OpenVINO prefixes the reason with 'Exception from src/...' and 'Check ... failed at ...'
    lines that mean nothing to a robot's operator.
    """
    lines = [line.strip() for line in str(error).splitlines() if line.strip()]
    reason = [line for line in lines if not line.startswith(
        ('Exception from src', 'Check ', 'FrontEnd API failed with'))]
    return ' '.join(reason or lines[-1:]) or type(error).__name__


def with_batch_of_one(model):
    """Fix a dynamic batch dimension to 1 (a robot's camera gives one frame at a time).

    Exporters often leave the batch dynamic (``?x3x224x224``); static shapes compile faster
    and are what NCS2/NPU plugins need. Models with other dynamic dimensions are left as they
    are.
    """
    reshaped = {}
    for port in model.inputs:
        shape = port.get_partial_shape()
        if shape.rank.is_static and shape.rank.get_length() >= 2 and shape[0].is_dynamic \
                and all(dimension.is_static for dimension in list(shape)[1:]):
            reshaped[port] = [1] + [dimension.get_length() for dimension in list(shape)[1:]]
    if reshaped:
        model.reshape(reshaped)
    return model


def compile_model(core, model, device, performance_hint='LATENCY', extra_config=None,
                  inference_precision='default'):
    """Compile ``model`` for ``device`` with an OpenVINO performance hint.

    :param extra_config: further OpenVINO properties, e.g. ``{'PERF_COUNT': True}``.
    :param inference_precision: one of :data:`INFERENCE_PRECISIONS`; 'default' sends no
        property (plugins such as MYRIAD reject it) and leaves the device's choice.
    """
    if performance_hint not in PERFORMANCE_HINTS:
        raise ValueError(f"performance_hint must be one of: {', '.join(PERFORMANCE_HINTS)}")
    if inference_precision not in INFERENCE_PRECISIONS:
        raise ValueError('inference_precision must be one of: ' + ', '.join(INFERENCE_PRECISIONS))
    config = {'PERFORMANCE_HINT': performance_hint}
    if inference_precision != 'default':
        config['INFERENCE_PRECISION_HINT'] = inference_precision
    return core.compile_model(model, device, {**config, **(extra_config or {})})


def create_core():
    """Return a new ``ov.Core``."""
    return Core()


class AsyncEngine:
    """Runs a compiled model's infer requests, newest frame first, each request watched by a
    worker thread of its own.

    A frame that finds a request idle starts on it at once, on the caller's thread
    (``InferRequest.start_async`` returns as soon as the device has it), and the request's
    worker waits for the result while the caller goes on. Handing the frame to another Python
    thread first would delay the start by the time that thread needs to get the interpreter
    lock, which the caller (an rclpy executor) holds until its next blocking call. When every
    request is busy the frame waits, a newer one replacing it (counted as dropped), and the
    first worker to finish starts it.

    ``InferRequest.wait`` raises whatever failed inside OpenVINO for that frame, and the request
    stays usable. The callback paths do not: ``AsyncInferQueue`` re-raises a device failure
    from ``get_idle_request_id`` and is unusable afterwards, and an ``InferRequest`` callback is
    called after a failed inference as after a good one. A worker reports every failure with
    the frame it belongs to and goes on.

    :param compiled_model: ``ov.CompiledModel`` with one input.
    :param on_result: called as ``on_result(context, outputs, inference_ms)`` from a worker
        thread when a request finishes; ``outputs`` are copies of every output.
    :param on_error: called as ``on_error(context, error)`` when a frame's inference fails
        inside OpenVINO or ``on_result`` raises.
    :param num_requests: parallel infer requests; 0 asks the device for its optimal number.
    """

    def __init__(self, compiled_model, on_result, on_error, num_requests=0):
        if num_requests <= 0:
            num_requests = int(compiled_model.get_property('OPTIMAL_NUMBER_OF_INFER_REQUESTS'))
        self.num_requests = max(1, num_requests)
        self._on_result = on_result
        self._on_error = on_error
        self._condition = threading.Condition()
        self._waiting = None
        self._closing = False
        self.frames_dropped = 0
        self._slots = [_RequestSlot(compiled_model.create_infer_request())
                       for _ in range(self.num_requests)]
        self._idle = list(self._slots)
        self._workers = [threading.Thread(target=self._work, args=(slot,),
                                          name=f'ov-infer-{index}', daemon=True)
                         for index, slot in enumerate(self._slots)]
        for worker in self._workers:
            worker.start()

    def submit(self, inputs, context):
        """Start one frame on an idle request, or let it wait for one (replacing a frame
        already waiting).

        :param inputs: what ``InferRequest.start_async`` takes (an ``ov.Tensor`` shares the
            caller's memory, which must stay valid until the result arrives: keep it in
            ``context``).
        :param context: anything; handed back to ``on_result``/``on_error``.
        :returns: False when the engine is closed and did not take the frame (the caller
            still owns it), True otherwise.
        """
        with self._condition:
            if self._closing:
                return False
            if not self._idle:
                if self._waiting is not None:
                    self.frames_dropped += 1
                self._waiting = (inputs, context)
                return True
            slot = self._idle.pop()
        self._start(slot, inputs, context)
        return True

    def take_waiting(self):
        """Remove the frame waiting for a request and return it as ``(inputs, context)``
        (None when there is none), so that it can go to the engine that replaces this one.
        """
        with self._condition:
            waiting, self._waiting = self._waiting, None
            return waiting

    @property
    def idle(self):
        """True when no frame waits and no request is running or having its result handled."""
        with self._condition:
            return self._waiting is None and len(self._idle) == len(self._slots)

    def _start(self, slot, inputs, context):
        started = time.perf_counter()
        try:
            slot.request.start_async(inputs)
        except Exception as error:  # refused before it ran: the request stays available
            self._report(context, error)
            self._release(slot)
            return
        with self._condition:
            # The inputs stay referenced until the request is done: a tensor sharing a
            # caller's array reads that array while the request runs.
            slot.job = (inputs, context, started)
            self._condition.notify_all()

    def _release(self, slot):
        """Start the waiting frame on ``slot``, or make it idle."""
        with self._condition:
            waiting, self._waiting = self._waiting, None
            if waiting is None or self._closing:
                self._idle.append(slot)
                self._condition.notify_all()
                return
        self._start(slot, *waiting)

    def _work(self, slot):
        while True:
            with self._condition:
                # A slot taken from the idle list is starting a frame: its worker stays for
                # that frame's result even when the engine closes meanwhile.
                while slot.job is None and not (self._closing and slot in self._idle):
                    self._condition.wait()
                if slot.job is None:
                    return
                (inputs, context, started), slot.job = slot.job, None
            outputs, error = self._collect(slot.request)
            del inputs
            # The request takes the next frame only once this one's results are handled: with
            # the LATENCY hint OpenVINO's threads use every core, and a Python thread publishing
            # a cloud beside them slowed both down (measured, docs/benchmark.md).
            self._deliver(context, outputs, error, (time.perf_counter() - started) * 1e3)
            self._release(slot)

    @staticmethod
    def _collect(request):
        """Wait for the request; return ``(outputs, None)`` or ``(None, error)``."""
        try:
            request.wait()
            return [request.get_output_tensor(index).data.copy()
                    for index in range(len(request.model_outputs))], None
        except Exception as error:  # whatever failed inside OpenVINO, for this frame
            return None, error

    def _deliver(self, context, outputs, error, inference_ms):
        if error is not None:
            self._report(context, error)
            return
        try:
            self._on_result(context, outputs, inference_ms)
        except Exception as error:  # result handling must not end the worker either
            self._report(context, error)

    def _report(self, context, error):
        try:
            self._on_error(context, error)
        except Exception:  # the error callback failing must not end the worker either
            _LOGGER.exception('reporting a failed inference failed')

    def close(self, timeout_s=5.0):
        """Stop taking frames, drop the waiting one, and wait for requests in flight.

        A request that hangs on a broken device is left behind after ``timeout_s`` (its worker
        is a daemon thread): closing never hangs.
        """
        with self._condition:
            self._closing = True
            if self._waiting is not None:
                self.frames_dropped += 1
                self._waiting = None
            self._condition.notify_all()
        deadline = time.monotonic() + timeout_s
        for worker in self._workers:
            worker.join(timeout=max(0.0, deadline - time.monotonic()))


class _RequestSlot:
    """One infer request, and the frame it runs as ``(inputs, context, started)`` (None when
    idle).
    """

    def __init__(self, request):
        self.request = request
        self.job = None
