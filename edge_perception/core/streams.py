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
