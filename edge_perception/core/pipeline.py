"""Camera frames in, model outputs out: the part the depth and classifier nodes share.

:class:`ImagePipeline` owns the model and serves each camera stream, a stream being one
(encoding, height, width): it compiles the model for the stream (preprocessing in the graph, or
on the host as a fallback), hands each frame's raw buffer to
:class:`~edge_perception.core.engine.AsyncEngine` and reports results in frame order. Frames of
every common camera encoding are served: those the preprocessing does not take as they are
(16-bit, YUV, Bayer) are converted to 8 bits first, in the graph or on the host
(:func:`~edge_perception.core.preprocessing.plan_input`). No rclpy here. It never stops
serving silently:

* **Compilation runs on a thread of its own**, never the caller's. The frame that needs it
  becomes its stream's pending frame (a newer frame of the stream replaces it, counted as
  dropped: frames are never queued), and the streams already compiled keep running meanwhile.
  Compiled streams stay in a small LRU cache, so a camera that alternates resolutions, or a
  stray frame of another format, compiles once per stream, not per frame.
* **A failed compilation is retried with back-off** (1 s, doubling to 30 s); frames of that
  stream are refused meanwhile with the error. With ``preprocessing: auto`` the whole in-graph
  attempt (building the preprocessing graph and compiling it) falls back to host preprocessing.
* **A failed inference** (whatever OpenVINO raised for the frame) gets the stream fresh infer
  requests; after :data:`RECOMPILE_AFTER_FAILURES` in a row, also a fresh compilation in the
  background (at most every :data:`RECOMPILE_INTERVAL_S`); after
  :data:`FALLBACK_AFTER_FAILURES` in a row, or as soon as the device is gone from OpenVINO's
  list, the next configured fallback device, at run time.
* **On a fallback device the configured device is tried again** with back-off (5 s, doubling to
  60 s), and taken back once the stream compiles on it.
"""

from collections import deque, OrderedDict
from dataclasses import dataclass, field
import threading
import time

import numpy as np

from edge_perception.core.engine import (
    AsyncEngine,
    check_device,
    compile_model,
    create_core,
    DeviceUnavailableError,
    INFERENCE_PRECISIONS,
    load_model,
    openvino_reason,
    PERFORMANCE_HINTS,
)
from edge_perception.core.image_codec import check_frame_size, DEFAULT_MAX_SIDE, image_to_array
from edge_perception.core.input_crop import check_input_crop, FULL_FRAME
from edge_perception.core.input_size import fix_input_size
from edge_perception.core.model_info import read_model_info
from edge_perception.core.openvino_compat import Tensor, Type
from edge_perception.core.preprocessing import (
    embed_preprocessing,
    HostConversion,
    HostPreprocessor,
    ModelInput,
    Normalisation,
    plan_input,
    resolve_normalisation,
)

PREPROCESSING_MODES = ('graph', 'host', 'auto')
# After this many failed inferences in a row, recovery compiles the model again besides
# replacing the infer requests, at most once per RECOMPILE_INTERVAL_S.
RECOMPILE_AFTER_FAILURES = 3
RECOMPILE_INTERVAL_S = 2.0
# After this many failed inferences in a row, the stream moves to the next fallback device.
FALLBACK_AFTER_FAILURES = 6
# Back-off of a stream whose compilation failed, and of returning to the configured device.
COMPILE_RETRY_S = (1.0, 30.0)
RETURN_TO_DEVICE_S = (5.0, 60.0)
# Compiled streams kept; the least recently used one beyond this is released.
CACHED_STREAMS = 3


@dataclass(frozen=True)
class PipelineConfig:
    """What to run and where.

    :param preprocessing: 'graph' (in the compiled model), 'host' (OpenCV), or 'auto' (graph,
        falling back to host when the device rejects the graph).
    :param normalisation: the normalisation given; an empty mean, scale or colour order is
        taken from the model (see
        :func:`~edge_perception.core.preprocessing.resolve_normalisation`).
    :param num_requests: parallel infer requests; 0 lets the device choose.
    :param output_postprocessing: optional ``ov.Model -> ov.Model`` function adding output
        steps to the graph (e.g. a softmax), applied whichever preprocessing path runs.
    :param inference_precision: 'default' (the device's choice), 'f32', 'bf16' or 'f16'.
    :param fallback_devices: devices tried in order when ``device`` is absent at start or
        fails at run time.
    :param max_width: widest frame accepted, pixels; wider frames are refused before any
        buffer is allocated for them.
    :param max_height: tallest frame accepted, pixels.
    :param input_size: height and width given to a model whose input height and width are
        dynamic (see :func:`~edge_perception.core.input_size.fix_input_size`); 0 leaves them
        dynamic, which is refused. A static input keeps its own size.
    :param input_crop: fraction of each frame's width and height the network sees, centred
        (:func:`~edge_perception.core.input_crop.centred_crop`); 1 is the whole frame.
    """

    model_path: str
    device: str = 'CPU'
    preprocessing: str = 'auto'
    normalisation: Normalisation = field(default_factory=lambda: Normalisation((), (), ''))
    performance_hint: str = 'LATENCY'
    num_requests: int = 0
    output_postprocessing: object = None
    inference_precision: str = 'default'
    fallback_devices: tuple = ()
    max_width: int = DEFAULT_MAX_SIDE
    max_height: int = DEFAULT_MAX_SIDE
    input_size: int = 0
    input_crop: float = FULL_FRAME


@dataclass(frozen=True)
class FrameTiming:
    """Per-frame timings from the pipeline (milliseconds, except ``received``).

    :param received: ``time.perf_counter()`` when the frame entered the pipeline.
    """

    received: float
    preprocess_ms: float
    inference_ms: float


@dataclass(frozen=True)
class CompileEvent:
    """What a (re)compilation did, or why it failed, for the node to log once.

    :param error: '' when the stream was compiled; else why not (it will be retried).
    """

    preprocessing: str
    encoding: str
    height: int
    width: int
    device: str
    reason: str = ''
    error: str = ''


class DeviceReleasedError(RuntimeError):
    """A frame arrived while the pipeline has released its device."""


class StreamCompileError(RuntimeError):
    """The frame's stream failed to compile and waits to be compiled again (with back-off);
    the message is the compilation's error.
    """


@dataclass
class _Job:
    context: object
    image: np.ndarray
    received: float
    preprocess_ms: float
    sequence: int
    key: tuple


@dataclass
class _Stream:
    """One compiled stream: (encoding, height, width) on a device.

    :param conversion: the :class:`~edge_perception.core.preprocessing.HostConversion` of
        frames converted to 8 bits on the host first, or None.
    """

    key: tuple
    device: str
    mode: str
    compiled: object
    host_preprocessor: object
    engine: AsyncEngine
    conversion: object = None
    conversion_lock: threading.Lock = field(default_factory=threading.Lock)


@dataclass
class _Pending:
    """The newest frame of a stream that is being compiled."""

    image: np.ndarray
    context: object
    received: float


@dataclass
class _Retry:
    """When to try again, and how long to wait after that."""

    error: Exception
    at: float
    delay_s: float


class ImagePipeline:
    """Model, devices and preprocessing for the camera streams of one node.

    The model is read and the device checked on construction, so a missing model or an absent
    device (with no fallback available) fails at start; compilation waits for each stream's
    first frame, which fixes the resolution. :attr:`device` is the device in use,
    :attr:`fallback_reason` says why it is not the configured one; :attr:`model_info` is what
    the model says about itself, :attr:`normalisation` what is applied and
    :attr:`unstated_normalisation` which of its parts neither the configuration nor the model
    stated.

    :param config: :class:`PipelineConfig`.
    :param on_result: ``on_result(context, outputs, timing)``, called from an inference thread
        in frame order (a result older than one already delivered is dropped).
    :param on_error: ``on_error(context, error)`` for a frame whose inference failed.
    :param core: ``ov.Core`` to use; a new one by default.
    :param on_event: ``on_event(CompileEvent)``, called from the compilation thread after each
        compilation (or failed attempt); None to ignore them.
    :raises DeviceUnavailableError, ModelLoadError, PreprocessingError: at start.
    """

    def __init__(self, config, on_result, on_error, core=None, on_event=None):
        if config.preprocessing not in PREPROCESSING_MODES:
            raise ValueError(
                f"preprocessing must be one of: {', '.join(PREPROCESSING_MODES)}")
        if config.performance_hint not in PERFORMANCE_HINTS:
            raise ValueError(
                f"performance_hint must be one of: {', '.join(PERFORMANCE_HINTS)}")
        if config.inference_precision not in INFERENCE_PRECISIONS:
            raise ValueError(
                f"inference_precision must be one of: {', '.join(INFERENCE_PRECISIONS)}")
        check_input_crop(config.input_crop)
        self.config = config
        self._core = core or create_core()
        self._devices = (config.device, *config.fallback_devices)
        self.device, self.fallback_reason = choose_device(self._core, self._devices)
        model = fix_input_size(load_model(self._core, config.model_path), config.input_size)
        self.model_info = read_model_info(model)
        self.normalisation, self.unstated_normalisation = resolve_normalisation(
            self.model_info, config.normalisation.mean, config.normalisation.scale,
            config.normalisation.color_order)
        self.model_input = ModelInput.of(model)
        self.output_shapes = [
            tuple(dim.get_length() if dim.is_static else -1 for dim in port.get_partial_shape())
            for port in model.outputs]
        self.normalisation.per_channel(self.model_input.channels)
        self._on_result = on_result
        self._on_error = on_error
        self._on_event = on_event
        # Guards the streams, pending frames, compilation queue, retries, device and counters.
        self._condition = threading.Condition()
        self._streams = OrderedDict()
        self._pending = {}
        self._compile_queue = deque()
        self._compiling = set()
        self._compile_retries = {}
        self._compiler = None
        self._closing = False
        self._last_key = None
        self._return_retry = _Retry(None, time.monotonic() + RETURN_TO_DEVICE_S[0],
                                    RETURN_TO_DEVICE_S[0])
        self._last_recompile = float('-inf')
        self._needs_recovery = None
        self._sequence = 0
        self._delivered_sequence = -1
        self._delivery_lock = threading.Lock()
        self._dropped = 0
        self._compile_injector = None
        self._released = False
        self._remembered_keys = ()
        self._device_hold = None
        self.preprocessing_in_use = None
        self.compilations = 0
        self.frames_out_of_order = 0
        self.inference_failures = 0
        self.consecutive_failures = 0
        self.recoveries = 0
        self.last_error = ''

    @property
    def compile_error(self):
        """Why the stream of the latest frame cannot be compiled ('' when it can)."""
        with self._condition:
            retry = self._compile_retries.get(self._last_key)
            return openvino_reason(retry.error) if retry is not None else ''

    @property
    def frames_dropped(self):
        """Frames replaced by newer ones while waiting for a request or a compilation, plus
        results that arrived too late.
        """
        with self._condition:
            engines = sum(stream.engine.frames_dropped for stream in self._streams.values())
            return self._dropped + engines + self.frames_out_of_order

    def inject_compile_faults(self, injector):
        """Test hook at the compile boundary; None removes it.

        ``injector(mode, device)`` runs before each compilation ('graph' or 'host'
        preprocessing); what it raises is handled exactly as the device rejecting that
        compilation (no plugin on a CPU-only machine rejects in-graph preprocessing).
        """
        self._compile_injector = injector

    def process(self, height, width, encoding, is_bigendian, step, data, context):
        """Start inference on one camera frame given as raw Image fields.

        Returns at once: a frame whose stream is still being compiled waits as its pending
        frame (it replaces an older one).

        :param context: handed back with the result; it must keep ``data`` alive.
        :raises ImageFormatError: when the fields do not describe a supported image, or it is
            larger than ``max_width`` x ``max_height`` (``FrameTooLargeError``).
        :raises PreprocessingError: when this encoding cannot feed the model.
        :raises StreamCompileError: why the frame's stream cannot be compiled, while it waits
            to be compiled again.
        :raises DeviceReleasedError: while the device is released.
        """
        received = time.perf_counter()
        if self._released:
            raise DeviceReleasedError('the device is released (the node is not active)')
        check_frame_size(width, height, self.config.max_width, self.config.max_height)
        image = image_to_array(height, width, encoding, is_bigendian, step, data)
        # Refused before compiling: depth and other data, or a colour order the model lacks.
        plan_input(encoding, self.model_input, self.normalisation, in_graph=False)
        key = (encoding, height, width)
        self._recover()
        self._return_to_configured_device(key)
        with self._condition:
            self._last_key = key
            stream = self._streams.get(key)
            if stream is None:
                retry = self._compile_retries.get(key)
                if retry is not None and time.monotonic() < retry.at:
                    raise StreamCompileError(openvino_reason(retry.error)) from retry.error
                if key in self._pending:
                    self._dropped += 1
                self._pending[key] = _Pending(image, context, received)
                self._request_compile(key, self.device)
                return
            self._streams.move_to_end(key)
        self._submit(stream, image, context, received)

    def _submit(self, stream, image, context, received):
        while True:
            engine = stream.engine
            inputs = _model_inputs(stream, image)
            preprocess_ms = (time.perf_counter() - received) * 1e3
            with self._condition:
                self._sequence += 1
                sequence = self._sequence
                self.preprocessing_in_use = stream.mode
            if engine.submit(inputs, _Job(context, image, received, preprocess_ms, sequence,
                                          stream.key)):
                return
            # The engine closed between looking the stream up and submitting: a recompilation
            # or a device switch replaced the stream, or recovery its engine. The frame goes
            # to the replacement; dropped only when there is none (closing, released).
            with self._condition:
                current = self._streams.get(stream.key)
                if current is None or (current is stream and current.engine is engine):
                    self._dropped += 1
                    return
            stream = current

    def _hand_over(self, engine, stream):
        """Close ``engine`` and give the frame waiting in it to ``stream`` (None: drop it)."""
        waiting = engine.take_waiting() if stream is not None else None
        engine.close(timeout_s=0.0)
        with self._condition:  # what the closed engine dropped still counts
            self._dropped += engine.frames_dropped
        if waiting is not None:
            job = waiting[1]
            self._submit(stream, job.image, job.context, job.received)

    def _request_compile(self, key, device, reason=''):
        """Queue a compilation of ``key`` for ``device`` (the caller holds the lock)."""
        if (key, device) in self._compiling or self._closing:
            return
        self._compiling.add((key, device))
        self._compile_queue.append((key, device, reason))
        if self._compiler is None:
            self._compiler = threading.Thread(target=self._compile_loop, name='ov-compile',
                                              daemon=True)
            self._compiler.start()
        self._condition.notify_all()

    def _compile_loop(self):
        while True:
            with self._condition:
                while not self._compile_queue and not self._closing:
                    self._condition.wait()
                if self._closing:
                    return
                key, device, reason = self._compile_queue.popleft()
            # A call of its own: a local of this loop would keep the latest compiled model and
            # its infer requests alive while the thread waits, holding the device after
            # release_device (found by test_pipeline's weak references).
            self._compile(key, device, reason)

    def _compile(self, key, device, reason):
        try:
            stream, why = self._build_stream(key, device)
        except Exception as error:  # any compile failure: retried with back-off
            self._compile_failed(key, device, error)
            return
        self._install(stream, '; '.join(part for part in (reason, why) if part))

    def _build_stream(self, key, device):
        """Return a compiled :class:`_Stream` for ``key`` on ``device``, and why its
        preprocessing is not the configured one ('' when it is).
        """
        encoding, height, width = key
        mode, why = self.config.preprocessing, ''
        if mode in ('graph', 'auto'):
            try:  # the whole in-graph attempt: building the graph and compiling it
                plan = plan_input(encoding, self.model_input, self.normalisation, in_graph=True)
                model = embed_preprocessing(self._load_model(), plan.fed_encoding, height, width,
                                            self.normalisation, self.config.input_crop)
                compiled = self._compile_model(model, device, 'graph')
                return self._stream(key, device, 'graph', compiled, None, plan), ''
            except Exception as error:  # the device or PrePostProcessor rejected the graph
                if mode == 'graph':
                    raise
                why = f'{device} rejected in-graph preprocessing: {openvino_reason(error)}'
        plan = plan_input(encoding, self.model_input, self.normalisation, in_graph=False)
        model = self._load_model()
        host_preprocessor = HostPreprocessor(model, plan.fed_encoding, self.normalisation,
                                             self.config.input_crop)
        compiled = self._compile_model(model, device, 'host')
        return self._stream(key, device, 'host', compiled, host_preprocessor, plan), why

    def _stream(self, key, device, mode, compiled, host_preprocessor, plan):
        _, height, width = key
        conversion = HostConversion(plan, height, width) if plan.path == 'host' else None
        return _Stream(key, device, mode, compiled, host_preprocessor, self._engine(compiled),
                       conversion)

    def _engine(self, compiled):
        return AsyncEngine(compiled, self._deliver, self._fail, self.config.num_requests)

    def _compile_model(self, model, device, mode):
        if self._compile_injector is not None:
            self._compile_injector(mode, device)
        return compile_model(self._core, model, device, self.config.performance_hint,
                             inference_precision=self.config.inference_precision)

    def _install(self, stream, reason):
        """Take a compiled stream into service: on a device switch, it replaces every stream of
        the old device.
        """
        released = []
        with self._condition:
            self._compiling.discard((stream.key, stream.device))
            if self._closing or self._released:
                released.append(stream)
                pending = None
            else:
                self._compile_retries.pop(stream.key, None)
                if stream.device != self.device:
                    released += self._switch_device(stream.device)
                old = self._streams.pop(stream.key, None)
                if old is not None:
                    released.append(old)
                self._streams[stream.key] = stream
                while len(self._streams) > CACHED_STREAMS:
                    released.append(self._streams.popitem(last=False)[1])
                pending = self._pending.pop(stream.key, None)
                self.compilations += 1
                self._device_hold = None  # a compiled stream holds the device now
        kept = stream not in released
        for old in released:  # the frame waiting in a replaced stream goes to its successor
            self._hand_over(old.engine, stream if kept and old.key == stream.key else None)
        if not kept:
            return
        self._emit(CompileEvent(stream.mode, *stream.key, stream.device, reason))
        if pending is not None:
            try:
                self._submit(stream, pending.image, pending.context, pending.received)
            except Exception as error:  # host preprocessing of the pending frame
                self._fail(_Job(pending.context, pending.image, pending.received, 0.0, 0,
                                stream.key), error)

    def _switch_device(self, device):
        """Make ``device`` the one in use (the caller holds the lock); return the streams of
        the old one, to be released.
        """
        previous, self.device = self.device, device
        self.consecutive_failures = 0
        if device == self.config.device:
            self.fallback_reason = ''
        else:
            self.fallback_reason = (f"using fallback device '{device}': '{previous}' failed "
                                    f'at run time ({self.last_error})')
            self._return_retry = _Retry(None, time.monotonic() + RETURN_TO_DEVICE_S[0],
                                        RETURN_TO_DEVICE_S[0])
        old = list(self._streams.values())
        self._streams.clear()
        for key in self._pending:  # streams that were waiting for the old device
            self._request_compile(key, device)
        return old

    def _compile_failed(self, key, device, error):
        with self._condition:
            self._compiling.discard((key, device))
            if self._closing or self._released:
                return
            if device != self.device:  # an attempt to switch devices: stay where we are
                if device == self.config.device:
                    self._return_retry = _Retry(error, self._return_retry.at,
                                                self._return_retry.delay_s)
                else:
                    self._fall_back(key, f'{device} failed to compile: {openvino_reason(error)}')
                pending = None
            else:
                previous = self._compile_retries.get(key)
                delay_s = COMPILE_RETRY_S[0] if previous is None else \
                    min(previous.delay_s * 2, COMPILE_RETRY_S[1])
                self._compile_retries[key] = _Retry(error, time.monotonic() + delay_s, delay_s)
                pending = self._pending.pop(key, None)
                if pending is not None:
                    self._dropped += 1
        encoding, height, width = key
        mode = 'host' if self.config.preprocessing == 'host' else 'graph'
        self._emit(CompileEvent(mode, encoding, height, width, device,
                                error=openvino_reason(error)))

    def _recover(self):
        """After a failed inference: fresh infer requests for the stream; a recompilation or
        the next fallback device when failures go on.
        """
        with self._condition:
            key, self._needs_recovery = self._needs_recovery, None
            if key is None:
                return
            self.recoveries += 1
            failures = self.consecutive_failures
            stream = self._streams.get(key)
            if stream is None:
                return
            device_gone = not self._available(self.device)
            if (failures >= FALLBACK_AFTER_FAILURES or device_gone) and \
                    self._next_device() is not None:
                self._fall_back(key, f'{self.device} is no longer available' if device_gone
                                else f'{failures} failed inferences in a row')
            elif failures >= RECOMPILE_AFTER_FAILURES and \
                    time.monotonic() - self._last_recompile >= RECOMPILE_INTERVAL_S:
                self._last_recompile = time.monotonic()
                self._request_compile(key, self.device,
                                      f'recompiled after {failures} failed inferences in a row')
            old_engine = stream.engine
            stream.engine = self._engine(stream.compiled)
        self._hand_over(old_engine, stream)

    def _next_device(self):
        """Return the first fallback device after the one in use that OpenVINO has, or None."""
        start = self._devices.index(self.device) + 1 if self.device in self._devices else 0
        return next((device for device in self._devices[start:]
                     if device != self.device and self._available(device)), None)

    def _fall_back(self, key, why):
        """Compile ``key`` for the next fallback device (the caller holds the lock)."""
        device = self._next_device()
        if device is not None:
            self._request_compile(key, device, f'falling back from {self.device}: {why}')

    def _return_to_configured_device(self, key):
        """On a fallback device, try the configured one again when its back-off has passed."""
        with self._condition:
            configured = self.config.device
            if self.device == configured or time.monotonic() < self._return_retry.at or \
                    (key, configured) in self._compiling:
                return
            delay_s = min(self._return_retry.delay_s * 2, RETURN_TO_DEVICE_S[1])
            self._return_retry = _Retry(None, time.monotonic() + self._return_retry.delay_s,
                                        delay_s)
            if self._available(configured):
                self._request_compile(key, configured, f'back on the configured device '
                                                       f'{configured}')

    def _available(self, device):
        try:
            check_device(self._core, device)
        except DeviceUnavailableError:
            return False
        return True

    def _emit(self, event):
        if self._on_event is not None:
            self._on_event(event)

    def _load_model(self):
        model = fix_input_size(load_model(self._core, self.config.model_path),
                               self.config.input_size)
        if self.config.output_postprocessing is not None:
            model = self.config.output_postprocessing(model)
        return model

    def _deliver(self, job, outputs, inference_ms):
        with self._condition:
            self.consecutive_failures = 0
        with self._delivery_lock:
            if job.sequence < self._delivered_sequence:
                self.frames_out_of_order += 1
                return
            self._delivered_sequence = job.sequence
            self._on_result(job.context, outputs,
                            FrameTiming(job.received, job.preprocess_ms, inference_ms))

    def _fail(self, job, error):
        with self._condition:
            self.inference_failures += 1
            self.consecutive_failures += 1
            self.last_error = openvino_reason(error)
            self._needs_recovery = job.key
        self._on_error(job.context, error)

    @property
    def compiled_streams(self):
        """How many compiled streams (compiled models with their infer requests) are held."""
        with self._condition:
            return len(self._streams)

    @property
    def device_held(self):
        """True while a compiled model is held on the device (see :meth:`release_device`)."""
        with self._condition:
            return bool(self._streams) or self._device_hold is not None

    def release_device(self):
        """Let go of the device: finish the requests in flight, then delete every compiled
        model and infer request, so another process can use the device (an NCS2 or an NPU
        serves one at a time). Frames are refused with :class:`DeviceReleasedError` until
        :meth:`claim_device`; the streams in use are remembered for it.
        """
        with self._condition:
            self._released = True
            streams = list(self._streams.values())
            if streams:
                self._remembered_keys = tuple(self._streams)
            self._streams.clear()
            self._dropped += len(self._pending)
            self._pending.clear()
            self._compile_queue.clear()
            self._compile_retries.clear()
            self._device_hold = None
        for stream in streams:
            stream.engine.close()
        with self._condition:  # what the released engines dropped still counts
            self._dropped += sum(stream.engine.frames_dropped for stream in streams)

    def claim_device(self):
        """Compile on the device now, on the caller's thread: the streams in use before
        :meth:`release_device`, or, before any frame has fixed a stream, the model alone (which
        proves the device takes it, and holds the device until the first stream is compiled).

        The first available of the configured device and its fallbacks is used.

        :raises DeviceUnavailableError: when no configured device is available.
        :raises Exception: what OpenVINO raised compiling; the device stays released.
        """
        device, reason = choose_device(self._core, self._devices)
        streams = [self._build_stream(key, device)[0] for key in self._remembered_keys]
        hold = None if streams else self._compile_model(self._load_model(), device, 'host')
        with self._condition:
            self.device, self.fallback_reason = device, reason
            self.consecutive_failures = 0
            for stream in streams:
                self._streams[stream.key] = stream
            self._device_hold = hold
            self._released = False

    def close(self):
        """Stop compiling, finish requests in flight (briefly) and release the streams."""
        with self._condition:
            self._closing = True
            streams = list(self._streams.values())
            self._streams.clear()
            self._pending.clear()
            self._condition.notify_all()
        for stream in streams:
            stream.engine.close()
        if self._compiler is not None:
            self._compiler.join(timeout=5.0)


def _model_inputs(stream, image):
    """Return what the stream's infer request takes for one frame (``image_to_array``'s)."""
    if stream.conversion is not None:
        # The compilation thread (a pending frame) and the caller's thread may submit frames of
        # one stream at once, and both would convert into the stream's one buffer.
        with stream.conversion_lock:
            converted = stream.conversion(image)
            if stream.host_preprocessor is not None:
                return stream.host_preprocessor(converted)  # a new array: the buffer is free
            # The next frame is converted into the same buffer while this one may still wait
            # for, or run on, an infer request (inference is asynchronous): OpenVINO gets a
            # copy of its own. Frames that are not converted share the message's memory.
            return Tensor(converted.reshape(1, *converted.shape[:2], -1), shared_memory=False)
    if stream.host_preprocessor is not None:
        return stream.host_preprocessor(image)
    # Planar YUV arrives as its (height * 3/2) x width rows: the graph takes them as they are.
    shape = (1, *image.shape[:2], image.shape[2] if image.ndim == 3 else 1)
    if image.flags.c_contiguous and image.flags.writeable:
        return Tensor(image.reshape(shape), shared_memory=True)
    # Padded rows or read-only memory: one copy, into a tensor that owns it (a tensor sharing
    # a temporary copy would outlive it on OpenVINO releases whose Tensor does not reference
    # the array it shares).
    tensor = Tensor(Type.u8, list(shape))
    np.copyto(tensor.data.reshape(image.shape), image)
    return tensor


def choose_device(core, devices):
    """Return the first of ``devices`` OpenVINO has, and why earlier ones were passed over.

    :return: ``(device, reason)``; ``reason`` is '' when the first device is available.
    :raises DeviceUnavailableError: naming every device, when none is available.
    """
    unavailable = []
    for device in devices:
        try:
            check_device(core, device)
        except DeviceUnavailableError as error:
            unavailable.append(str(error))
            continue
        reason = f"using fallback device '{device}': {' '.join(unavailable)}" \
            if unavailable else ''
        return device, reason
    if len(unavailable) == 1:
        raise DeviceUnavailableError(unavailable[0])
    raise DeviceUnavailableError('no configured device can run the model: '
                                 + ' '.join(unavailable))
