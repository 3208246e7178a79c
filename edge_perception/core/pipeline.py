"""Camera frame in, model outputs out: the part the depth and classifier nodes share.

:class:`ImagePipeline` owns the model, compiles it for the camera's resolution and encoding
(with the preprocessing in the graph, or on the host as a fallback), hands each frame's raw
buffer to :class:`~edge_perception.core.engine.AsyncEngine` and reports results in frame order.
It also keeps the stream alive: an absent device gives way to the configured fallback devices,
and a failed inference gets fresh infer requests (and, after several failures in a row, a fresh
compilation) before the next frame. No rclpy here.
"""

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
from edge_perception.core.image_codec import image_to_array
from edge_perception.core.model_info import read_model_info
from edge_perception.core.openvino_compat import Tensor
from edge_perception.core.preprocessing import (
    embed_preprocessing,
    HostPreprocessor,
    ModelInput,
    Normalisation,
    resolve_normalisation,
)

PREPROCESSING_MODES = ('graph', 'host', 'auto')
# After this many failed inferences in a row, recovery compiles the model again instead of only
# replacing the infer requests.
RECOMPILE_AFTER_FAILURES = 3


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
    :param fallback_devices: devices tried in order when ``device`` is absent.
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
    """What the last (re)compilation did, for the node to log once."""

    preprocessing: str
    encoding: str
    height: int
    width: int
    device: str
    reason: str = ''


@dataclass
class _Job:
    context: object
    image: np.ndarray
    received: float
    preprocess_ms: float
    sequence: int


class ImagePipeline:
    """Model, device and preprocessing for one camera stream.

    The model is read and the device checked on construction, so a missing model or an absent
    device (with no fallback available) fails at start; compilation waits for the first frame,
    which fixes the resolution. :attr:`device` is the device in use, :attr:`fallback_reason`
    says why it is not the configured one; :attr:`model_info` is what the model says about
    itself, :attr:`normalisation` what is applied and :attr:`unstated_normalisation` which of
    its parts neither the configuration nor the model stated.

    :param config: :class:`PipelineConfig`.
    :param on_result: ``on_result(context, outputs, timing)``, called from an OpenVINO thread
        in frame order (a result older than one already delivered is dropped).
    :param on_error: ``on_error(context, error)`` for a frame whose inference failed.
    :param core: ``ov.Core`` to use; a new one by default.
    :raises DeviceUnavailableError, ModelLoadError, PreprocessingError: at start.
    """

    def __init__(self, config, on_result, on_error, core=None):
        if config.preprocessing not in PREPROCESSING_MODES:
            raise ValueError(
                f"preprocessing must be one of: {', '.join(PREPROCESSING_MODES)}")
        if config.performance_hint not in PERFORMANCE_HINTS:
            raise ValueError(
                f"performance_hint must be one of: {', '.join(PERFORMANCE_HINTS)}")
        if config.inference_precision not in INFERENCE_PRECISIONS:
            raise ValueError(
                f"inference_precision must be one of: {', '.join(INFERENCE_PRECISIONS)}")
        self.config = config
        self._core = core or create_core()
        self.device, self.fallback_reason = choose_device(
            self._core, [config.device, *config.fallback_devices])
        model = load_model(self._core, config.model_path)
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
        self._engine = None
        self._host_preprocessor = None
        self._compiled_for = None
        self.preprocessing_in_use = None
        self._sequence = 0
        self._delivered_sequence = -1
        self._delivery_lock = threading.Lock()
        self.frames_out_of_order = 0
        self._dropped_by_closed_engines = 0
        self._failed_compile = None
        self._compiled = None
        self._fault_injector = None
        self._health_lock = threading.Lock()
        self._needs_recovery = False
        self.inference_failures = 0
        self.consecutive_failures = 0
        self.recoveries = 0
        self.last_error = ''

    @property
    def compile_error(self):
        """Why the current stream cannot be compiled ('' when it can)."""
        return str(self._failed_compile[1]) if self._failed_compile is not None else ''

    def inject_faults(self, injector):
        """Test hook at the engine boundary (see :class:`AsyncEngine` ``fault_injector``).

        ``injector(request)`` runs on each finished request before its outputs are read, in
        the current engine and in those recovery creates; what it raises is handled exactly as
        a failed inference. None removes it.
        """
        self._fault_injector = injector
        if self._engine is not None:
            self._engine.fault_injector = injector

    @property
    def frames_dropped(self):
        """Frames replaced by newer ones while waiting, plus results that arrived too late."""
        engine_drops = self._engine.frames_dropped if self._engine else 0
        return self._dropped_by_closed_engines + engine_drops + self.frames_out_of_order

    def process(self, height, width, encoding, is_bigendian, step, data, context):
        """Start inference on one camera frame given as raw Image fields.

        :param context: handed back with the result; it must keep ``data`` alive.
        :return: a :class:`CompileEvent` when this frame caused a (re)compilation, else None.
        :raises ImageFormatError: when the fields do not describe a supported image.
        :raises PreprocessingError: when this encoding cannot feed the model.
        """
        received = time.perf_counter()
        image = image_to_array(height, width, encoding, is_bigendian, step, data)
        event = self._recover() if self._needs_recovery else None
        key = (encoding, height, width)
        if self._compiled_for != key:
            if self._failed_compile is not None and self._failed_compile[0] == key:
                raise self._failed_compile[1]
            try:
                event = self._compile(encoding, height, width)
            except Exception as error:
                # Compiling again for every frame of the same stream would only burn CPU.
                self._failed_compile = (key, error)
                raise
        if self._host_preprocessor is None:
            if not (image.flags.c_contiguous and image.flags.writeable):
                image = np.ascontiguousarray(image).copy()
            inputs = Tensor(image.reshape(1, height, width, -1), shared_memory=True)
        else:
            inputs = self._host_preprocessor(image)
        preprocess_ms = (time.perf_counter() - received) * 1e3
        self._sequence += 1
        job = _Job(context, image, received, preprocess_ms, self._sequence)
        self._engine.submit(inputs, job)
        return event

    def _compile(self, encoding, height, width, reason=''):
        previous = self._compiled_for
        self.close()
        # Until this compilation succeeds, no stream is compiled: a failure must not leave the
        # previous resolution looking ready without an engine.
        self._compiled_for = None
        compiled, host_preprocessor, mode, preprocessing_reason = \
            self._compile_for_stream(encoding, height, width)
        self._compiled = compiled
        self._start_engine()
        self._host_preprocessor = host_preprocessor
        self._compiled_for = (encoding, height, width)
        self.preprocessing_in_use = mode
        reason = '; '.join(part for part in (reason, preprocessing_reason) if part)
        if previous is not None and previous != self._compiled_for and not reason:
            reason = f'input changed from {previous[0]} {previous[2]}x{previous[1]}'
        return CompileEvent(mode, encoding, height, width, self.device, reason)

    def _compile_for_stream(self, encoding, height, width):
        """Return (compiled model, host preprocessor or None, mode, why the mode changed)."""
        mode, reason = self.config.preprocessing, ''
        if mode in ('graph', 'auto'):
            model = embed_preprocessing(self._load_model(), encoding, height, width,
                                        self.normalisation)
            try:
                return self._compile_model(model), None, 'graph', ''
            except RuntimeError as error:
                if mode == 'graph':
                    raise
                reason = (f'{self.device} rejected in-graph preprocessing: '
                          f'{openvino_reason(error)}')
        model = self._load_model()
        host_preprocessor = HostPreprocessor(model, encoding, self.normalisation)
        return self._compile_model(model), host_preprocessor, 'host', reason

    def _compile_model(self, model):
        return compile_model(self._core, model, self.device, self.config.performance_hint,
                             inference_precision=self.config.inference_precision)

    def _start_engine(self):
        self._engine = AsyncEngine(self._compiled, self._deliver, self._fail,
                                   self.config.num_requests, self._fault_injector)

    def _recover(self):
        """Replace the infer requests after a failed inference; compile again after several
        failures in a row.

        :return: the :class:`CompileEvent` of a recompilation, else None.
        """
        with self._health_lock:
            self._needs_recovery = False
            failures = self.consecutive_failures
            self.recoveries += 1
        if self._engine is None:
            return None
        if failures < RECOMPILE_AFTER_FAILURES:
            self._stop_engine()
            self._start_engine()
            return None
        encoding, height, width = self._compiled_for
        return self._compile(encoding, height, width,
                             f'recompiled after {failures} failed inferences in a row')

    def _load_model(self):
        model = load_model(self._core, self.config.model_path)
        if self.config.output_postprocessing is not None:
            model = self.config.output_postprocessing(model)
        return model

    def _deliver(self, job, outputs, inference_ms):
        with self._health_lock:
            self.consecutive_failures = 0
        with self._delivery_lock:
            if job.sequence < self._delivered_sequence:
                self.frames_out_of_order += 1
                return
            self._delivered_sequence = job.sequence
            self._on_result(job.context, outputs,
                            FrameTiming(job.received, job.preprocess_ms, inference_ms))

    def _fail(self, job, error):
        with self._health_lock:
            self.inference_failures += 1
            self.consecutive_failures += 1
            self.last_error = openvino_reason(error)
            self._needs_recovery = True
        self._on_error(job.context, error)

    def _stop_engine(self):
        if self._engine is not None:
            self._engine.close()
            self._dropped_by_closed_engines += self._engine.frames_dropped
            self._engine = None

    def close(self):
        """Finish requests in flight and release the compiled model."""
        self._stop_engine()
        self._compiled = None


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
