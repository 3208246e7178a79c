"""Camera frame in, model outputs out: the part the depth and classifier nodes share.

:class:`ImagePipeline` owns the model, compiles it for the camera's resolution and encoding
(with the preprocessing in the graph, or on the host as a fallback), hands each frame's raw
buffer to :class:`~edge_perception.engine.AsyncEngine` and reports results in frame order.
No rclpy here.
"""

from dataclasses import dataclass, field
import threading
import time

import numpy as np

from .engine import (AsyncEngine, check_device, compile_model, create_core, load_model,
                     PERFORMANCE_HINTS)
from .image_codec import image_to_array
from .openvino_compat import Tensor
from .preprocessing import embed_preprocessing, HostPreprocessor, ModelInput, Normalisation

PREPROCESSING_MODES = ('graph', 'host', 'auto')


@dataclass(frozen=True)
class PipelineConfig:
    """What to run and where.

    :param preprocessing: 'graph' (in the compiled model), 'host' (OpenCV), or 'auto' (graph,
        falling back to host when the device rejects the graph).
    :param num_requests: parallel infer requests; 0 lets the device choose.
    :param output_postprocessing: optional ``ov.Model -> ov.Model`` function adding output
        steps to the graph (e.g. a softmax), applied whichever preprocessing path runs.
    """

    model_path: str
    device: str = 'CPU'
    preprocessing: str = 'auto'
    normalisation: Normalisation = field(default_factory=Normalisation)
    performance_hint: str = 'LATENCY'
    num_requests: int = 0
    output_postprocessing: object = None


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
    device fails at start; compilation waits for the first frame, which fixes the resolution.

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
        self.config = config
        self._core = core or create_core()
        check_device(self._core, config.device)
        model = load_model(self._core, config.model_path)
        self.model_input = ModelInput.of(model)
        self.output_shapes = [
            tuple(dim.get_length() if dim.is_static else -1 for dim in port.get_partial_shape())
            for port in model.outputs]
        config.normalisation.per_channel(self.model_input.channels)
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
        event = None
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

    def _compile(self, encoding, height, width):
        previous = self._compiled_for
        self.close()
        mode, reason = self.config.preprocessing, ''
        compiled = None
        if mode in ('graph', 'auto'):
            model = embed_preprocessing(self._load_model(), encoding, height, width,
                                        self.config.normalisation)
            try:
                compiled = compile_model(self._core, model, self.config.device,
                                         self.config.performance_hint)
                mode = 'graph'
            except RuntimeError as error:
                if mode == 'graph':
                    raise
                first_line = str(error).strip().splitlines()[0] if str(error).strip() else ''
                mode = 'host'
                reason = f'{self.config.device} rejected in-graph preprocessing: {first_line}'
        host_preprocessor = None
        if compiled is None:
            model = self._load_model()
            host_preprocessor = HostPreprocessor(model, encoding, self.config.normalisation)
            compiled = compile_model(self._core, model, self.config.device,
                                     self.config.performance_hint)
        self._engine = AsyncEngine(compiled, self._deliver, self._fail, self.config.num_requests)
        self._host_preprocessor = host_preprocessor
        self._compiled_for = (encoding, height, width)
        self.preprocessing_in_use = mode
        if previous is not None and not reason:
            reason = f'input changed from {previous[0]} {previous[2]}x{previous[1]}'
        return CompileEvent(mode, encoding, height, width, reason)

    def _load_model(self):
        model = load_model(self._core, self.config.model_path)
        if self.config.output_postprocessing is not None:
            model = self.config.output_postprocessing(model)
        return model

    def _deliver(self, job, outputs, inference_ms):
        with self._delivery_lock:
            if job.sequence < self._delivered_sequence:
                self.frames_out_of_order += 1
                return
            self._delivered_sequence = job.sequence
            self._on_result(job.context, outputs,
                            FrameTiming(job.received, job.preprocess_ms, inference_ms))

    def _fail(self, job, error):
        self._on_error(job.context, error)

    def close(self):
        """Finish requests in flight and release the compiled model."""
        if self._engine is not None:
            self._engine.close()
            self._dropped_by_closed_engines += self._engine.frames_dropped
            self._engine = None
