"""Camera frames in, model outputs out: the part the depth and classifier nodes share.

:class:`ImagePipeline` owns the model and serves each camera stream, a stream being one
(encoding, height, width): it hands each frame's raw buffer to the stream's
:class:`~edge_perception.core.engine.AsyncEngine` and reports results in frame order, each with
what an output needs of its frame (:class:`FrameResult`: the frame, its decoded view, the crop
the network saw), so nobody decodes a frame twice. Frames of every common camera encoding are
served: those the preprocessing does not take as they are (16-bit, YUV, Bayer) are converted to
8 bits first, in the graph or on the host. No rclpy here. Its rooms:

* **Streams** (:mod:`~edge_perception.core.streams`): each stream is planned and compiled once,
  **on a thread of its own**, never the caller's. The frame that needs it becomes its stream's
  pending frame (a newer frame of the stream replaces it, counted as dropped: frames are never
  queued), and the streams already compiled keep running meanwhile. Compiled streams stay in a
  small LRU cache, so a camera that alternates resolutions, or a stray frame of another format,
  compiles once per stream, not per frame. **A failed compilation is retried with back-off**
  (1 s, doubling to 30 s); frames of that stream are refused meanwhile with the error. With
  ``preprocessing: auto`` the whole in-graph attempt falls back to host preprocessing.
* **Devices** (:mod:`~edge_perception.core.device_policy`): **a failed inference** (whatever
  OpenVINO raised for the frame) gets the stream fresh infer requests; after
  ``RECOMPILE_AFTER_FAILURES`` in a row, also a fresh compilation in the background; after
  ``FALLBACK_AFTER_FAILURES`` in a row, or as soon as the device is gone from OpenVINO's list,
  the next configured fallback device, at run time. **On a fallback device the configured
  device is tried again** with back-off (5 s, doubling to 60 s), and taken back once the stream
  compiles on it.
* **The per-frame path** (here): :meth:`ImagePipeline.process`, submission and ordered
  delivery.
"""

from dataclasses import dataclass, field
import itertools
import threading
import time

import numpy as np

from edge_perception.core.device_policy import DevicePolicy
from edge_perception.core.engine import (
    AsyncEngine,
    create_core,
    INFERENCE_PRECISIONS,
    load_model,
    openvino_reason,
    PERFORMANCE_HINTS,
)
from edge_perception.core.image_codec import (
    as_rgb8,
    check_frame_size,
    DEFAULT_MAX_SIDE,
    ImageFrame,
)
from edge_perception.core.input_crop import check_input_crop, CropBox, FULL_FRAME
from edge_perception.core.input_size import fix_input_size
from edge_perception.core.model_info import read_model_info
from edge_perception.core.preprocessing import ModelInput, Normalisation, resolve_normalisation
from edge_perception.core.streams import StreamBuilder, StreamKeeper

PREPROCESSING_MODES = ('graph', 'host', 'auto')


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
class FrameResult:
    """What comes back with a frame's outputs: the frame, what an output needs of it, and
    timings (milliseconds, except ``received``).

    :param frame: the :class:`~edge_perception.core.image_codec.ImageFrame` given to
        :meth:`ImagePipeline.process`.
    :param image: its pixels as the pipeline decoded them
        (:func:`~edge_perception.core.image_codec.image_to_array`, a view where possible).
    :param crop: the part of the frame the network saw.
    :param received: ``time.perf_counter()`` when the frame entered the pipeline.
    """

    frame: ImageFrame
    image: np.ndarray
    crop: CropBox
    received: float
    preprocess_ms: float
    inference_ms: float

    def rgb8(self):
        """Return the frame as ``height x width x 3`` uint8 RGB (a view for 8-bit RGB and BGR)
        (:func:`~edge_perception.core.image_codec.as_rgb8`).
        """
        return as_rgb8(self.image, self.frame.encoding)


class DeviceReleasedError(RuntimeError):
    """A frame arrived while the pipeline has released its device."""


class StreamCompileError(RuntimeError):
    """The frame's stream failed to compile and waits to be compiled again (with back-off);
    the message is the compilation's error.
    """


@dataclass
class _Job:
    """One frame on its way through a stream."""

    context: object
    frame: ImageFrame
    image: np.ndarray
    received: float
    key: tuple
    preprocess_ms: float = 0.0
    sequence: int = 0
    crop: CropBox = None


class ImagePipeline(StreamKeeper):
    """Model, devices and preprocessing for the camera streams of one node.

    The model is read and the device checked on construction, so a missing model or an absent
    device (with no fallback available) fails at start; compilation waits for each stream's
    first frame, which fixes the resolution. :attr:`device` is the device in use,
    :attr:`fallback_reason` says why it is not the configured one; :attr:`model_info` is what
    the model says about itself, :attr:`normalisation` what is applied and
    :attr:`unstated_normalisation` which of its parts neither the configuration nor the model
    stated.

    :param config: :class:`PipelineConfig`.
    :param on_result: ``on_result(context, outputs, result)`` with a :class:`FrameResult`,
        called from an inference thread in frame order (a result older than one already
        delivered is dropped).
    :param on_error: ``on_error(context, error)`` for a frame whose inference failed.
    :param core: ``ov.Core`` to use; a new one by default.
    :param on_event: ``on_event(CompileEvent)``, called from the compilation thread after each
        compilation (or failed attempt); None to ignore them.
    :raises DeviceUnavailableError, ModelLoadError, PreprocessingError: at start.
    """

    def __init__(self, config, on_result, on_error, core=None, on_event=None):
        _check_config(config)
        self.config = config
        self._core = core or create_core()
        policy = DevicePolicy(self._core, (config.device, *config.fallback_devices))
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
        super().__init__(StreamBuilder(config, self._core, self.model_input, self.normalisation),
                         policy, on_event)
        self._on_result = on_result
        self._on_error = on_error
        self._needs_recovery = None
        self._sequence = itertools.count(1)
        self._delivered_sequence = -1
        self._delivery_lock = threading.Lock()
        self.preprocessing_in_use = None
        self.frames_out_of_order = 0
        self.inference_failures = 0
        self.consecutive_failures = 0
        self.recoveries = 0
        self.last_error = ''

    @property
    def device(self):
        """The device in use."""
        return self._policy.device

    @property
    def fallback_reason(self):
        """Why the device in use is not the configured one ('' when it is)."""
        return self._policy.fallback_reason

    @property
    def _devices(self):
        return self._policy.devices

    @_devices.setter
    def _devices(self, devices):  # tests: the configured devices change while released
        self._policy.devices = tuple(devices)

    @property
    def frames_dropped(self):
        """Frames replaced by newer ones while waiting for a request or a compilation, plus
        results that arrived too late.
        """
        with self._condition:
            engines = sum(stream.engine.frames_dropped for stream in self._streams.values())
            return self._dropped + engines + self.frames_out_of_order

    # The per-frame path.

    def process(self, frame, context):
        """Start inference on one camera frame.

        Returns at once: a frame whose stream is still being compiled waits as its pending
        frame (it replaces an older one).

        :param frame: the frame's :class:`~edge_perception.core.image_codec.ImageFrame` (the
            fields of its Image message).
        :param context: handed back with the result.
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
        check_frame_size(frame.width, frame.height, self.config.max_width, self.config.max_height)
        key = (frame.encoding, frame.height, frame.width)
        job = _Job(context, frame, frame.image, received, key)
        if key not in self._streams:
            # Refused before compiling: depth and other data, or a colour order the model
            # lacks. A compiled stream's input was planned when it was built.
            self._builder.check_input(frame.encoding)
        with self._condition:
            recovered = self._recover()
            self._return_to_configured_device(key)
            stream, retry = self._stream_for(job)
        if recovered is not None:
            self._hand_over(*recovered)
        if retry is not None:
            raise StreamCompileError(openvino_reason(retry.error)) from retry.error
        if stream is not None:
            self._submit(stream, job)

    def _stream_for(self, job):
        """Return ``(stream, None)`` for a compiled stream; else ``(None, retry)`` while its
        compilation backs off, or ``(None, None)`` with the frame waiting for its compilation
        (the caller holds the lock).
        """
        key = self._last_key = job.key
        stream = self._streams.use(key)
        if stream is not None:
            return stream, None
        retry = self._streams.backing_off(key)
        if retry is not None:
            return None, retry
        if self._streams.wait(key, job):
            self._dropped += 1
        self._compiles.request(key, self._policy.device)
        return None, None

    def _submit(self, stream, job):
        while True:
            engine = stream.engine
            inputs = stream.model_inputs(job.image)
            job.preprocess_ms = (time.perf_counter() - job.received) * 1e3
            job.sequence = next(self._sequence)
            job.crop = stream.crop
            self.preprocessing_in_use = stream.mode
            if engine.submit(inputs, job):
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

    def _deliver(self, job, outputs, inference_ms):
        with self._condition:
            self.consecutive_failures = 0
        with self._delivery_lock:
            if job.sequence < self._delivered_sequence:
                self.frames_out_of_order += 1
                return
            self._delivered_sequence = job.sequence
            self._on_result(job.context, outputs, FrameResult(
                job.frame, job.image, job.crop, job.received, job.preprocess_ms, inference_ms))

    def _fail(self, job, error):
        with self._condition:
            self.inference_failures += 1
            self.consecutive_failures += 1
            self.last_error = openvino_reason(error)
            self._needs_recovery = job.key
        self._on_error(job.context, error)

    def _engine(self, compiled):
        return AsyncEngine(compiled, self._deliver, self._fail, self.config.num_requests)

    def _hand_over(self, engine, stream):
        """Close ``engine`` and give the frame waiting in it to ``stream`` (None: drop it)."""
        waiting = engine.take_waiting() if stream is not None else None
        engine.close(timeout_s=0.0)
        with self._condition:  # what the closed engine dropped still counts
            self._dropped += engine.frames_dropped
        if waiting is not None:
            self._submit(stream, waiting[1])

    # Recovery and devices (the caller holds the lock).

    def _recover(self):
        """After a failed inference: fresh infer requests for the stream, and a recompilation
        or the next fallback device when failures go on. Return ``(old engine, stream)`` for
        :meth:`_hand_over`, or None.
        """
        key, self._needs_recovery = self._needs_recovery, None
        if key is None:
            return None
        self.recoveries += 1
        stream = self._streams.get(key)
        if stream is None:
            return None
        compilation = self._policy.after_failures(self.consecutive_failures)
        if compilation is not None:
            self._compiles.request(key, *compilation)
        old_engine = stream.engine
        stream.engine = self._engine(stream.compiled)
        return old_engine, stream

    def _return_to_configured_device(self, key):
        """On a fallback device, try the configured one again when its back-off has passed."""
        configured = self._policy.configured
        device = self._policy.return_due(self._compiles.is_compiling(key, configured))
        if device is not None:
            self._compiles.request(key, device, f'back on the configured device {device}')

def _check_config(config):
    if config.preprocessing not in PREPROCESSING_MODES:
        raise ValueError(f"preprocessing must be one of: {', '.join(PREPROCESSING_MODES)}")
    if config.performance_hint not in PERFORMANCE_HINTS:
        raise ValueError(f"performance_hint must be one of: {', '.join(PERFORMANCE_HINTS)}")
    if config.inference_precision not in INFERENCE_PRECISIONS:
        raise ValueError(
            f"inference_precision must be one of: {', '.join(INFERENCE_PRECISIONS)}")
    check_input_crop(config.input_crop)
