"""The compiled streams of an :class:`~edge_perception.core.pipeline.ImagePipeline`: how one is
built, the cache that keeps them, and the thread that compiles them. No rclpy here.

A stream is one camera (encoding, height, width) compiled on a device. :class:`StreamBuilder`
plans its input once (:func:`~edge_perception.core.preprocessing.plan_input`: in the graph, or
converted on the host first) and compiles it, with the preprocessing in the graph or, as a
fallback, on the host. :class:`StreamCache` keeps the compiled streams, least recently used
first. :class:`CompileQueue` compiles on a thread of its own, so a caller never waits for a
compilation.
"""

from collections import deque, OrderedDict
from dataclasses import dataclass, field
import threading
import time

import numpy as np

from edge_perception.core.backoff import Retry
from edge_perception.core.engine import compile_model, load_model, openvino_reason
from edge_perception.core.input_crop import centred_crop, CropBox
from edge_perception.core.input_size import fix_input_size
from edge_perception.core.openvino_compat import Tensor, Type
from edge_perception.core.preprocessing import (
    embed_preprocessing,
    HostConversion,
    HostPreprocessor,
    plan_input,
)

# Compiled streams kept; the least recently used one beyond this is released.
CACHED_STREAMS = 3
# Back-off of a stream whose compilation failed.
COMPILE_RETRY_S = (1.0, 30.0)


@dataclass
class Stream:
    """One compiled stream: (encoding, height, width) on a device.

    :param crop: the part of each frame the network sees.
    :param conversion: the :class:`~edge_perception.core.preprocessing.HostConversion` of
        frames converted to 8 bits on the host first, or None.
    """

    key: tuple
    device: str
    mode: str
    compiled: object
    host_preprocessor: object
    engine: object
    crop: CropBox
    conversion: object = None
    conversion_lock: threading.Lock = field(default_factory=threading.Lock)

    def model_inputs(self, image):
        """Return what the stream's infer request takes for one frame (``image_to_array``'s)."""
        if self.conversion is not None:
            # The compilation thread (a pending frame) and the caller's thread may submit
            # frames of one stream at once, and both would convert into the stream's buffer.
            with self.conversion_lock:
                converted = self.conversion(image)
                if self.host_preprocessor is not None:
                    return self.host_preprocessor(converted)  # a new array: the buffer is free
                # The next frame is converted into the same buffer while this one may still
                # wait for, or run on, an infer request (inference is asynchronous): OpenVINO
                # gets a copy of its own. Frames that are not converted share the message's
                # memory.
                return Tensor(converted.reshape(1, *converted.shape[:2], -1),
                              shared_memory=False)
        if self.host_preprocessor is not None:
            return self.host_preprocessor(image)
        # Planar YUV arrives as its (height * 3/2) x width rows: the graph takes them as they
        # are.
        shape = (1, *image.shape[:2], image.shape[2] if image.ndim == 3 else 1)
        if image.flags.c_contiguous and image.flags.writeable:
            return Tensor(image.reshape(shape), shared_memory=True)
        # Padded rows or read-only memory: one copy, into a tensor that owns it (a tensor
        # sharing a temporary copy would outlive it on OpenVINO releases whose Tensor does not
        # reference the array it shares).
        tensor = Tensor(Type.u8, list(shape))
        np.copyto(tensor.data.reshape(image.shape), image)
        return tensor


class StreamBuilder:
    """Compiles the model for one stream on one device.

    :param config: the pipeline's :class:`~edge_perception.core.pipeline.PipelineConfig`.
    :param core: ``ov.Core``.
    :param model_input: the model's :class:`~edge_perception.core.preprocessing.ModelInput`.
    :param normalisation: the normalisation applied.
    """

    def __init__(self, config, core, model_input, normalisation):
        self.config = config
        self._core = core
        self._model_input = model_input
        self._normalisation = normalisation
        # Test hook at the compile boundary: see ImagePipeline.inject_compile_faults.
        self.compile_injector = None

    def check_input(self, encoding):
        """Refuse, before compiling, frames of ``encoding`` the model cannot take (depth and
        other data, a colour order the model lacks).

        :raises ImageFormatError, PreprocessingError: why not.
        """
        plan_input(encoding, self._model_input, self._normalisation, in_graph=False)

    def build(self, key, device, engine_factory):
        """Return a compiled :class:`Stream` for ``key`` on ``device``, and why its
        preprocessing is not the configured one ('' when it is).

        :param engine_factory: ``compiled model -> AsyncEngine``.
        """
        encoding, height, width = key
        config, normalisation = self.config, self._normalisation
        crop = centred_crop(height, width, config.input_crop)
        mode, why = config.preprocessing, ''
        if mode in ('graph', 'auto'):
            try:  # the whole in-graph attempt: building the graph and compiling it
                plan = plan_input(encoding, self._model_input, normalisation, in_graph=True)
                model = embed_preprocessing(self.load_model(), plan.fed_encoding, height, width,
                                            normalisation, config.input_crop)
                compiled = self.compile_model(model, device, 'graph')
                return self._stream(key, device, 'graph', compiled, None, plan, crop,
                                     engine_factory), ''
            except Exception as error:  # the device or PrePostProcessor rejected the graph
                if mode == 'graph':
                    raise
                why = f'{device} rejected in-graph preprocessing: {openvino_reason(error)}'
        plan = plan_input(encoding, self._model_input, normalisation, in_graph=False)
        model = self.load_model()
        host_preprocessor = HostPreprocessor(model, plan.fed_encoding, normalisation,
                                             config.input_crop)
        compiled = self.compile_model(model, device, 'host')
        return self._stream(key, device, 'host', compiled, host_preprocessor, plan, crop,
                            engine_factory), why

    @staticmethod
    def _stream(key, device, mode, compiled, host_preprocessor, plan, crop, engine_factory):
        _, height, width = key
        conversion = HostConversion(plan, height, width) if plan.path == 'host' else None
        return Stream(key, device, mode, compiled, host_preprocessor, engine_factory(compiled),
                      crop, conversion)

    def hold(self, device):
        """Compile the model alone for ``device`` (proving the device takes it)."""
        return self.compile_model(self.load_model(), device, 'host')

    def load_model(self):
        model = fix_input_size(load_model(self._core, self.config.model_path),
                               self.config.input_size)
        if self.config.output_postprocessing is not None:
            model = self.config.output_postprocessing(model)
        return model

    def compile_model(self, model, device, mode):
        if self.compile_injector is not None:
            self.compile_injector(mode, device)
        return compile_model(self._core, model, device, self.config.performance_hint,
                             inference_precision=self.config.inference_precision)


class StreamCache:
    """The streams of a pipeline by key: the compiled ones, least recently used first (at
    most :data:`CACHED_STREAMS`), read like a mapping; the newest frame waiting for each stream
    being compiled (:attr:`pending`); the back-off of each stream whose compilation failed.
    The owner's lock guards it.
    """

    def __init__(self):
        self._compiled = OrderedDict()
        self.pending = {}
        self._retries = {}

    def __len__(self):
        return len(self._compiled)

    def __contains__(self, key):
        return key in self._compiled

    def __getitem__(self, key):
        return self._compiled[key]

    def get(self, key):
        return self._compiled.get(key)

    def values(self):
        return self._compiled.values()

    def use(self, key):
        """Return the compiled stream of ``key`` (now the most recently used), or None."""
        stream = self._compiled.get(key)
        if stream is not None:
            self._compiled.move_to_end(key)
        return stream

    def wait(self, key, frame):
        """Make ``frame`` the one waiting for the compilation of ``key``; return whether it
        replaced (dropped) an older one.
        """
        replaced = key in self.pending
        self.pending[key] = frame
        return replaced

    def backing_off(self, key):
        """Return the :class:`~edge_perception.core.backoff.Retry` of ``key`` while its
        failed compilation backs off, else None.
        """
        retry = self._retries.get(key)
        return retry if retry is not None and time.monotonic() < retry.at else None

    def last_failure(self, key):
        """Return why the compilation of ``key`` failed last (None when it did not)."""
        retry = self._retries.get(key)
        return None if retry is None else retry.error

    def install(self, stream):
        """Keep a compiled ``stream``; return the streams it replaces or pushes out (to be
        released) and the frame that waited for it (or None).
        """
        self._retries.pop(stream.key, None)
        released = []
        old = self._compiled.pop(stream.key, None)
        if old is not None:
            released.append(old)
        self._compiled[stream.key] = stream
        while len(self._compiled) > CACHED_STREAMS:
            released.append(self._compiled.popitem(last=False)[1])
        return released, self.pending.pop(stream.key, None)

    def failed(self, key, error):
        """Back ``key`` off after a failed compilation (1 s, doubling to 30 s); return the
        frame that waited for it, now dropped (or None).
        """
        previous = self._retries.get(key)
        delay_s = COMPILE_RETRY_S[0] if previous is None else \
            min(previous.delay_s * 2, COMPILE_RETRY_S[1])
        self._retries[key] = Retry.after(delay_s, error)
        return self.pending.pop(key, None)

    def take_all(self):
        """Empty the compiled streams; return them."""
        streams = list(self._compiled.values())
        self._compiled.clear()
        return streams

    def forget_waiting(self):
        """Drop the waiting frames and the back-offs; return how many frames were dropped."""
        dropped = len(self.pending)
        self.pending.clear()
        self._retries.clear()
        return dropped


class CompileQueue:
    """Compilations waiting for, or running on, the compilation thread.

    :param condition: the owner's ``threading.Condition``, held by the callers of
        :meth:`request`, :meth:`done`, :meth:`clear` and :meth:`is_compiling`.
    :param compile: ``compile(key, device, reason)``, run on the thread without the lock.
    """

    def __init__(self, condition, compile):
        self._condition = condition
        self._compile = compile
        self._queue = deque()
        self._compiling = set()
        self._thread = None
        self._closing = False

    def request(self, key, device, reason=''):
        """Queue a compilation of ``key`` for ``device`` unless it is queued or running."""
        if (key, device) in self._compiling or self._closing:
            return
        self._compiling.add((key, device))
        self._queue.append((key, device, reason))
        if self._thread is None:
            self._thread = threading.Thread(target=self._loop, name='ov-compile', daemon=True)
            self._thread.start()
        self._condition.notify_all()

    def is_compiling(self, key, device):
        return (key, device) in self._compiling

    def done(self, key, device):
        """Mark the compilation of ``key`` for ``device`` finished (built or failed)."""
        self._compiling.discard((key, device))

    def clear(self):
        """Drop the queued compilations (one running finishes)."""
        self._queue.clear()

    def close(self):
        """Stop the thread after the compilation it runs (the caller holds the lock)."""
        self._closing = True
        self._condition.notify_all()

    def join(self, timeout):
        """Wait for the thread to end (the caller does not hold the lock)."""
        if self._thread is not None:
            self._thread.join(timeout=timeout)

    def _loop(self):
        while True:
            with self._condition:
                while not self._queue and not self._closing:
                    self._condition.wait()
                if self._closing:
                    return
                key, device, reason = self._queue.popleft()
            # A call of its own: a local of this loop would keep the latest compiled model and
            # its infer requests alive while the thread waits, holding the device after
            # release_device (found by test_pipeline's weak references).
            self._compile(key, device, reason)


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


class StreamKeeper:
    """Keeps a pipeline's compiled streams in step with its compilations and its device.

    It takes what the compilation thread built into service (on a device switch, in place of
    every stream of the old device), backs off what failed to compile, and releases, claims
    and closes the device's streams. The per-frame path built on it,
    :class:`~edge_perception.core.pipeline.ImagePipeline`, provides ``_engine(compiled)``,
    ``_submit(stream, frame)``, ``_hand_over(engine, stream)`` and ``_fail(frame, error)``,
    and its failure counters.

    :param builder: the :class:`StreamBuilder`.
    :param policy: the :class:`~edge_perception.core.device_policy.DevicePolicy`.
    :param on_event: ``on_event(CompileEvent)`` after each compilation, or None.
    """

    def __init__(self, builder, policy, on_event):
        self._builder = builder
        self._policy = policy
        self._on_event = on_event
        # Guards the streams, pending frames, compilations, retries, device and counters.
        self._condition = threading.Condition()
        self._streams = StreamCache()
        self._compiles = CompileQueue(self._condition, self._compile)
        self._closing = False
        self._released = False
        self._last_key = None
        self._remembered_keys = ()
        self._device_hold = None
        self._dropped = 0
        self.compilations = 0

    @property
    def compile_error(self):
        """Why the stream of the latest frame cannot be compiled ('' when it can)."""
        with self._condition:
            error = self._streams.last_failure(self._last_key)
            return openvino_reason(error) if error is not None else ''

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

    def inject_compile_faults(self, injector):
        """Test hook at the compile boundary; None removes it.

        ``injector(mode, device)`` runs before each compilation ('graph' or 'host'
        preprocessing); what it raises is handled exactly as the device rejecting that
        compilation (no plugin on a CPU-only machine rejects in-graph preprocessing).
        """
        self._builder.compile_injector = injector

    def _switch_device(self, device):
        """Make ``device`` the one in use; return the streams of the old one, to be
        released.
        """
        self._policy.switch_to(device, self.last_error)
        self.consecutive_failures = 0
        old = self._streams.take_all()
        for key in self._streams.pending:  # streams that were waiting for the old device
            self._compiles.request(key, device)
        return old

    def _compile(self, key, device, reason):
        try:
            stream, why = self._builder.build(key, device, self._engine)
        except Exception as error:  # any compile failure: retried with back-off
            self._compile_failed(key, device, error)
            return
        self._install(stream, '; '.join(part for part in (reason, why) if part))

    def _install(self, stream, reason):
        """Take a compiled stream into service: on a device switch, it replaces every stream of
        the old device.
        """
        with self._condition:
            self._compiles.done(stream.key, stream.device)
            if self._closing or self._released:
                released, pending = [stream], None
            else:
                released, pending = self._take_into_service(stream)
        kept = stream not in released
        for old in released:  # the frame waiting in a replaced stream goes to its successor
            self._hand_over(old.engine, stream if kept and old.key == stream.key else None)
        if not kept:
            return
        self._emit(CompileEvent(stream.mode, *stream.key, stream.device, reason))
        if pending is not None:
            try:
                self._submit(stream, pending)
            except Exception as error:  # host preprocessing of the pending frame
                self._fail(pending, error)

    def _take_into_service(self, stream):
        """Cache ``stream`` (the caller holds the lock); return the streams it releases and
        the frame that waited for it.
        """
        released = []
        if stream.device != self._policy.device:
            released += self._switch_device(stream.device)
        replaced, pending = self._streams.install(stream)
        self.compilations += 1
        self._device_hold = None  # a compiled stream holds the device now
        return released + replaced, pending

    def _compile_failed(self, key, device, error):
        with self._condition:
            self._compiles.done(key, device)
            if self._closing or self._released:
                return
            if device != self._policy.device:  # an attempt to switch devices: stay here
                if device == self._policy.configured:
                    self._policy.return_failed(error)
                else:
                    fallback = self._policy.fallback_after(
                        f'{device} failed to compile: {openvino_reason(error)}')
                    if fallback is not None:
                        self._compiles.request(key, *fallback)
            else:  # the stream backs off; the frame that waited for it is dropped
                if self._streams.failed(key, error) is not None:
                    self._dropped += 1
        encoding, height, width = key
        mode = 'host' if self._builder.config.preprocessing == 'host' else 'graph'
        self._emit(CompileEvent(mode, encoding, height, width, device,
                                error=openvino_reason(error)))

    def _emit(self, event):
        if self._on_event is not None:
            self._on_event(event)

    # The device's life.

    def release_device(self):
        """Let go of the device: finish the requests in flight, then delete every compiled
        model and infer request, so another process can use the device (an NCS2 or an NPU
        serves one at a time). Frames are refused with :class:`DeviceReleasedError` until
        :meth:`claim_device`; the streams in use are remembered for it.
        """
        with self._condition:
            self._released = True
            streams = self._streams.take_all()
            if streams:
                self._remembered_keys = tuple(stream.key for stream in streams)
            self._dropped += self._streams.forget_waiting()
            self._compiles.clear()
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
        device, reason = self._policy.choose()
        streams = [self._builder.build(key, device, self._engine)[0]
                   for key in self._remembered_keys]
        hold = None if streams else self._builder.hold(device)
        with self._condition:
            self._policy.use(device, reason)
            self.consecutive_failures = 0
            for stream in streams:
                self._streams.install(stream)
            self._device_hold = hold
            self._released = False

    def close(self):
        """Stop compiling, finish requests in flight (briefly) and release the streams."""
        with self._condition:
            self._closing = True
            streams = self._streams.take_all()
            self._streams.pending.clear()
            self._compiles.close()
        for stream in streams:
            stream.engine.close()
        self._compiles.join(timeout=5.0)
