"""Latency and throughput of a model through OpenVINO, and beside other engines on the CPU.

No rclpy here. Latency: synchronous inferences after a warm-up, compiled with the LATENCY
hint, as median and 90th percentile. Throughput: an ``AsyncInferQueue`` of N requests kept
full for a fixed time or frame count, compiled with the THROUGHPUT hint.

The comparison engines (ONNX Runtime, PyTorch eager, OpenCV DNN) run the same model on the
same seeded random inputs; each is imported only when asked for and listed as skipped, with
the reason, when it is not installed or does not apply. All engines are timed in one run in
interleaved rounds of a few inferences each, so that drifting machine load (another job, CPU
frequency) hits every engine alike, and each engine's first output is checked against
OpenVINO's so that a table never compares two different models.
"""

from dataclasses import asdict, dataclass, field
import importlib.util
import math
import os
import platform
import statistics
import time

import numpy as np

from edge_perception.core.engine import compile_model, load_model, openvino_reason
from edge_perception.core.onnx_external_data import check_external_data, OnnxFileError
from edge_perception.core.openvino_compat import AsyncInferQueue, openvino_version, Tensor
from edge_perception.toolchain.model_inputs import port_name, random_arrays
from edge_perception.toolchain.model_sources import build_torch_module, load_state_dict

OPENVINO = 'OpenVINO'


def call_times_ms(function, repeats, warmup=10):
    """Return the median and 90th percentile of ``function()``'s wall time, in milliseconds,
    over ``repeats`` calls after ``warmup`` untimed ones.
    """
    for _ in range(warmup):
        function()
    samples = []
    for _ in range(repeats):
        started = time.perf_counter()
        function()
        samples.append((time.perf_counter() - started) * 1e3)
    return statistics.median(samples), float(np.percentile(samples, 90))
ONNX_RUNTIME = 'ONNX Runtime'
PYTORCH = 'PyTorch eager'
OPENCV_DNN = 'OpenCV DNN'


class BenchmarkInputError(ValueError):
    """An option does not fit the model: its shapes, comparison files or PyTorch module."""


@dataclass(frozen=True)
class BenchmarkOptions:
    """What to measure and how.

    :param input_shapes: ``(name or None, dimensions)`` pairs fixing input shapes; a name of
        None stands for the model's only input.
    :param seed: seed of the random inputs.
    :param inference_precision: OpenVINO ``INFERENCE_PRECISION_HINT`` ('f32', 'bf16',
        'f16'); None keeps the device's default (bf16 on CPUs with AVX-512 BF16 or AMX).
    :param iterations: timed synchronous inferences per engine.
    :param warmup: untimed inferences per engine before the timed ones.
    :param round_size: inferences per engine in one interleaved round.
    :param compare: also run ONNX Runtime, PyTorch eager and OpenCV DNN.
    :param onnx_path: ONNX file for ONNX Runtime and OpenCV DNN; by default the model itself
        if it is ONNX, else an ``.onnx`` of the same name beside the IR.
    :param torch_module: ``package.module:factory`` returning the PyTorch module.
    :param torch_state_dict: its weights, a ``state_dict`` saved with ``torch.save``.
    :param requests: parallel infer requests for throughput; 0 for the device's optimal number.
    :param duration_s: how long the throughput queue is kept full.
    :param frames: if given, the frames run for throughput instead of a duration.
    """

    input_shapes: tuple = ()
    seed: int = 0
    inference_precision: str = None
    iterations: int = 200
    warmup: int = 10
    round_size: int = 10
    compare: bool = False
    onnx_path: str = None
    torch_module: str = None
    torch_state_dict: str = None
    requests: int = 0
    duration_s: float = 5.0
    frames: int = None


@dataclass(frozen=True)
class InputSpec:
    """One model input: its name, static shape and numpy dtype name."""

    name: str
    shape: tuple
    dtype: str


@dataclass(frozen=True)
class LatencyRow:
    """Synchronous latency of one engine; ``ratio`` is its median over OpenVINO's.

    ``max_abs_difference`` compares the engine's first output with OpenVINO's.
    """

    engine: str
    version: str
    median_ms: float
    p90_ms: float
    ratio: float
    max_abs_difference: float
    samples: int


@dataclass(frozen=True)
class Skipped:
    """An engine that was not measured, and why."""

    engine: str
    reason: str


@dataclass(frozen=True)
class Throughput:
    """Frames per second through an ``AsyncInferQueue`` of ``requests`` requests."""

    frames_per_s: float
    frames: int
    seconds: float
    requests: int


@dataclass
class BenchmarkReport:
    """Everything one benchmark run measured, with what it ran on."""

    model: str
    device: str
    machine: dict
    inputs: list
    options: BenchmarkOptions
    inference_precision: str = None
    latency: list = field(default_factory=list)
    skipped: list = field(default_factory=list)
    throughput: Throughput = None

    def to_dict(self):
        """Return the report as plain data, for JSON."""
        options = asdict(self.options)
        options['input_shapes'] = [[name, list(shape)] for name, shape in options['input_shapes']]
        return {
            'model': self.model,
            'device': self.device,
            'machine': self.machine,
            'inputs': [{'name': spec.name, 'shape': list(spec.shape), 'dtype': spec.dtype}
                       for spec in self.inputs],
            'options': options,
            'inference_precision': self.inference_precision,
            'latency': [asdict(row) for row in self.latency],
            'skipped': [asdict(skipped) for skipped in self.skipped],
            'throughput': asdict(self.throughput) if self.throughput else None,
        }


@dataclass
class _Engine:
    """A way of running the prepared model once: ``infer()`` returns its first output."""

    name: str
    version: str
    infer: object


def prepare_model(core, path, input_shapes=()):
    """Read a model, fix the input shapes asked for and check that every input is static.

    :param core: ``ov.Core``.
    :param path: OpenVINO IR (.xml) or ONNX file.
    :param input_shapes: ``(name or None, dimensions)`` pairs, see
        :func:`~edge_perception.toolchain.model_inputs.parse_input_shape`.
    :return: the ``ov.Model`` and one :class:`InputSpec` per input.
    :raises ModelLoadError: when the file cannot be read.
    :raises BenchmarkInputError: when a shape does not fit or an input stays dynamic.
    """
    model = load_model(core, path)
    names = [port_name(port, f'input{index}') for index, port in enumerate(model.inputs)]
    if input_shapes:
        request = _reshape_request(model, names, input_shapes, path)
        try:
            model.reshape(request)
        except RuntimeError as error:
            raise BenchmarkInputError(f"cannot give '{path}' the input shapes {request}: "
                                      f"{openvino_reason(error)}") from error
    specs = []
    for index, port in enumerate(model.inputs):
        shape = port.get_partial_shape()
        if shape.is_dynamic:
            raise BenchmarkInputError(
                f"input '{names[index]}' of '{path}' has the dynamic shape {shape}: fix it "
                f"with --input-shape "
                f"{','.join('?' if d.is_dynamic else str(d.get_length()) for d in shape)}, "
                f"each ? a size")
        specs.append(InputSpec(names[index], tuple(d.get_length() for d in shape),
                               np.dtype(port.get_element_type().to_dtype()).name))
    return model, specs


def _reshape_request(model, names, input_shapes, path):
    request = {}
    for name, shape in input_shapes:
        if name is None:
            if len(model.inputs) != 1:
                raise BenchmarkInputError(
                    f"'{path}' has {len(model.inputs)} inputs ({', '.join(names)}): name each "
                    f"one, --input-shape NAME=1,3,224,224")
            index = 0
        else:
            index = next((index for index, port in enumerate(model.inputs)
                          if name in port.get_names()), None)
            if index is None:
                raise BenchmarkInputError(f"'{path}' has no input '{name}'; its inputs: "
                                          f"{', '.join(names)}")
        rank = model.inputs[index].get_partial_shape().rank
        if rank.is_static and rank.get_length() != len(shape):
            raise BenchmarkInputError(
                f"input '{names[index]}' of '{path}' has {rank.get_length()} dimensions, "
                f"--input-shape gives {len(shape)}")
        request[index] = list(shape)
    return request


def comparison_onnx(model_path, onnx_path=None):
    """Return the ONNX file the comparison engines run, or None when there is none.

    :param model_path: the benchmarked model.
    :param onnx_path: an ONNX file given explicitly; it must exist.
    :raises BenchmarkInputError: when ``onnx_path`` is given and is not an ONNX file, or the
        ONNX file names external data outside its folder.
    """
    if onnx_path is not None:
        if not os.path.isfile(onnx_path):
            raise BenchmarkInputError(f"ONNX file '{onnx_path}' does not exist")
        if not onnx_path.lower().endswith('.onnx'):
            raise BenchmarkInputError(f"'{onnx_path}' is not an .onnx file")
        found = onnx_path
    else:
        stem, suffix = os.path.splitext(model_path)
        found = model_path if suffix.lower() == '.onnx' else stem + '.onnx'
        if not os.path.isfile(found):
            return None
    # onnxruntime and OpenCV read the external data it names.
    try:
        check_external_data(found)
    except OnnxFileError as error:
        raise BenchmarkInputError(error.for_file(found)) from None
    return found


def load_torch_module(spec, state_dict_path):
    """Build the PyTorch module of ``package.module:factory`` and load its ``state_dict``.

    The module and weights are loaded as ``edge-perception convert`` loads them: the weights
    parsed without ``torch.load``, tensors only, nothing in the file run.

    :return: the module in eval mode, or None when PyTorch is not installed.
    :raises ModelLoadError: (a ``ConversionError``) when the factory or the weights cannot be
        loaded.
    """
    if importlib.util.find_spec('torch') is None:
        return None
    if not os.path.isfile(state_dict_path):
        raise BenchmarkInputError(f"PyTorch state_dict '{state_dict_path}' does not exist")
    return build_torch_module(spec, load_state_dict(state_dict_path))


def _precision(options):
    return options.inference_precision or 'default'


def _inference_precision(compiled):
    try:
        precision = compiled.get_property('INFERENCE_PRECISION_HINT')
    except RuntimeError:  # not every device and release reports it
        return None
    return precision.get_type_name() if hasattr(precision, 'get_type_name') else str(precision)


def _openvino_engine(compiled, device, inputs):
    request = compiled.create_infer_request()
    # Inputs are set once, as the other engines hold theirs: no per-inference copy is timed.
    for index, array in enumerate(inputs):
        request.set_input_tensor(index, Tensor(array))

    def infer():
        request.infer()
        return request.get_output_tensor(0).data

    return _Engine(f'{OPENVINO} {device}', openvino_version().split('-')[0], infer)


def _onnxruntime_engine(onnx_path, inputs):
    try:
        import onnxruntime
    except ImportError:
        return Skipped(ONNX_RUNTIME, 'onnxruntime is not installed')
    session = onnxruntime.InferenceSession(onnx_path, providers=['CPUExecutionProvider'])
    feed = dict(zip((port.name for port in session.get_inputs()), inputs, strict=True))
    return _Engine(ONNX_RUNTIME, onnxruntime.__version__, lambda: session.run(None, feed)[0])


def _torch_engine(module, inputs):
    import torch
    tensors = [torch.from_numpy(array) for array in inputs]

    def infer():
        with torch.inference_mode():
            output = module(*tensors)
        return (output[0] if isinstance(output, (tuple, list)) else output).numpy()

    return _Engine(PYTORCH, torch.__version__, infer)


def _opencv_engine(onnx_path, input_names, inputs):
    try:
        import cv2
    except ImportError:
        return Skipped(OPENCV_DNN, 'OpenCV (cv2) is not installed')
    net = cv2.dnn.readNet(onnx_path)
    net.setPreferableBackend(cv2.dnn.DNN_BACKEND_OPENCV)  # CPU is the default target
    if len(inputs) == 1:
        net.setInput(inputs[0])
    else:
        for name, array in zip(input_names, inputs, strict=True):
            net.setInput(array, name)
    return _Engine(OPENCV_DNN, cv2.__version__, net.forward)


def _comparison_engines(core, options, model_path, inputs):
    """Return the comparison engines in table order, each an ``_Engine`` or :class:`Skipped`.

    Files and the PyTorch module are checked before anything runs, so a bad option fails fast.
    """
    onnx_path = comparison_onnx(model_path, options.onnx_path)
    torch_module = None
    if options.torch_module and options.torch_state_dict:
        torch_module = load_torch_module(options.torch_module, options.torch_state_dict)
    if onnx_path is None:
        onnx_problem = (f"'{model_path}' is an IR and no '{os.path.splitext(model_path)[0]}"
                        f".onnx' lies beside it (give --onnx PATH)")
    else:
        onnx_names = [port_name(port, f'input{index}')
                      for index, port in enumerate(load_model(core, onnx_path).inputs)]
        onnx_problem = None if len(onnx_names) == len(inputs) else (
            f"'{onnx_path}' has {len(onnx_names)} inputs, the model {len(inputs)}")
    engines = [Skipped(ONNX_RUNTIME, onnx_problem) if onnx_problem else
               _built(ONNX_RUNTIME, lambda: _onnxruntime_engine(onnx_path, inputs))]
    if not (options.torch_module and options.torch_state_dict):
        engines.append(Skipped(PYTORCH, 'needs --torch-module and --torch-state-dict'))
    elif torch_module is None:
        engines.append(Skipped(PYTORCH, 'torch is not installed'))
    else:
        engines.append(_built(PYTORCH, lambda: _torch_engine(torch_module, inputs)))
    engines.append(Skipped(OPENCV_DNN, onnx_problem) if onnx_problem else
                   _built(OPENCV_DNN, lambda: _opencv_engine(onnx_path, onnx_names, inputs)))
    return engines


def _built(name, build):
    try:
        return build()
    except Exception as error:  # each library raises its own types for a model it rejects
        return Skipped(name, f'cannot load the model: {openvino_reason(error)}')


def _agreement(engine, reference):
    """Run ``engine`` once; return its largest absolute difference from ``reference``.

    :return: the difference, or a :class:`Skipped` when it fails or its output does not match.
    """
    try:
        output = np.asarray(engine.infer())
    except Exception as error:  # each library raises its own types for inputs it rejects
        return Skipped(engine.name, f'cannot run the model: {openvino_reason(error)}')
    if output.size != reference.size:
        return Skipped(engine.name, f'its first output has the shape {list(output.shape)}, '
                                    f"OpenVINO's {list(reference.shape)}: not the same model")
    return float(np.max(np.abs(output.reshape(reference.shape).astype(np.float64)
                               - reference.astype(np.float64)), initial=0.0))


def measure_interleaved(engines, iterations, warmup, round_size, progress=None):
    """Time ``iterations`` inferences of each engine, interleaved in rounds.

    Each round runs ``round_size`` inferences of every engine in turn, starting one engine
    later every round, so that neither load drifting over the run nor the engine that ran
    just before favours any of them. Each engine's turn starts with one untimed inference:
    the first after another engine ran pays for waking its thread pool, which an engine
    inferring frame after frame does not.

    :param engines: objects with a ``name`` and an ``infer()`` method.
    :param progress: called with a short status text after each round.
    :return: ``{engine name: [milliseconds of each inference]}``.
    """
    for engine in engines:
        for _ in range(warmup):
            engine.infer()
    samples = {engine.name: [] for engine in engines}
    rounds = math.ceil(iterations / round_size)
    for round_index in range(rounds):
        count = min(round_size, iterations - round_index * round_size)
        shift = round_index % len(engines)
        for engine in engines[shift:] + engines[:shift]:
            times = samples[engine.name]
            engine.infer()
            for _ in range(count):
                started = time.perf_counter()
                engine.infer()
                times.append((time.perf_counter() - started) * 1e3)
        if progress is not None:
            progress(f'latency: round {round_index + 1}/{rounds}')
    return samples


def measure_throughput(core, model, device, inputs, requests=0, duration_s=5.0, frames=None,
                       progress=None, inference_precision='default'):
    """Keep an ``AsyncInferQueue`` full for ``duration_s`` seconds or ``frames`` frames.

    The model is compiled with the THROUGHPUT hint. One inference per request runs first,
    untimed.

    :param requests: parallel requests; 0 asks the device for its optimal number.
    :param progress: called with a short status text about once a second.
    :param inference_precision: see :func:`~edge_perception.core.engine.compile_model`.
    :return: :class:`Throughput`.
    """
    compiled = compile_model(core, model, device, 'THROUGHPUT',
                             inference_precision=inference_precision)
    if requests <= 0:
        requests = int(compiled.get_property('OPTIMAL_NUMBER_OF_INFER_REQUESTS'))
    queue = AsyncInferQueue(compiled, requests)
    tensors = [Tensor(array) for array in inputs]
    for request_index in range(requests):
        for input_index, tensor in enumerate(tensors):
            queue[request_index].set_input_tensor(input_index, tensor)
    for _ in range(requests):
        queue.start_async()
    queue.wait_all()
    started = last_report = time.perf_counter()
    done = 0
    while True:
        now = time.perf_counter()
        if done >= frames if frames is not None else now - started >= duration_s:
            break
        queue.start_async()
        done += 1
        if progress is not None and now - last_report >= 1.0:
            last_report = now
            progress(f'throughput: {done} frames in {now - started:.0f} s')
    queue.wait_all()
    seconds = time.perf_counter() - started
    return Throughput(done / seconds, done, seconds, requests)


def describe_machine(core, device):
    """Return what the figures were measured on: device name, cores, library versions."""
    try:
        device_name = str(core.get_property(device, 'FULL_DEVICE_NAME'))
    except RuntimeError:  # virtual devices (AUTO, HETERO) have no single name
        device_name = device
    return {'device_name': device_name, 'cpu_cores': os.cpu_count(),
            'system': f'{platform.system()} {platform.release()} {platform.machine()}',
            'python': platform.python_version(), 'openvino': openvino_version()}


def run_benchmark(core, model_path, device, options, progress=None):
    """Measure ``model_path`` on ``device`` (and the comparison engines) as ``options`` say.

    :param core: ``ov.Core``; the device is assumed checked (:func:`engine.check_device`).
    :param options: :class:`BenchmarkOptions`.
    :param progress: called with short status texts while measuring.
    :return: :class:`BenchmarkReport`.
    :raises ModelLoadError: when a model file or the PyTorch module cannot be loaded.
    :raises BenchmarkInputError: when an option does not fit the model.
    """
    model, specs = prepare_model(core, model_path, options.input_shapes)
    inputs = random_arrays([(spec.shape, spec.dtype) for spec in specs],
                           np.random.default_rng(options.seed))
    comparison = (_comparison_engines(core, options, model_path, inputs)
                  if options.compare else [])
    report = BenchmarkReport(model_path, device, describe_machine(core, device), specs, options)
    compiled = compile_model(core, model, device, 'LATENCY',
                             inference_precision=_precision(options))
    report.inference_precision = _inference_precision(compiled)
    openvino = _openvino_engine(compiled, device, inputs)
    reference = np.array(openvino.infer())
    engines, differences = [openvino], {openvino.name: 0.0}
    for engine in comparison:
        agreement = engine if isinstance(engine, Skipped) else _agreement(engine, reference)
        if isinstance(agreement, Skipped):
            report.skipped.append(agreement)
        else:
            engines.append(engine)
            differences[engine.name] = agreement
    samples = measure_interleaved(engines, options.iterations, options.warmup,
                                  options.round_size, progress)
    openvino_median = statistics.median(samples[openvino.name])
    for engine in engines:
        times = samples[engine.name]
        median = statistics.median(times)
        report.latency.append(LatencyRow(engine.name, engine.version, median,
                                         float(np.percentile(times, 90)),
                                         median / openvino_median, differences[engine.name],
                                         len(times)))
    del engines, comparison, openvino, compiled  # free them before the throughput run
    report.throughput = measure_throughput(core, model, device, inputs, options.requests,
                                           options.duration_s, options.frames, progress,
                                           _precision(options))
    return report


LATENCY_COLUMNS = ('engine', 'version', 'median ms', 'p90 ms', 'ratio to OpenVINO',
                   'max |diff|')


def format_report(report):
    """Return the report as text: a header, the latency table, skipped engines, throughput."""
    options = report.options
    machine = report.machine
    inputs = ', '.join(f"{spec.name} {'x'.join(map(str, spec.shape))} {spec.dtype}"
                       for spec in report.inputs)
    precision = report.inference_precision or 'unknown'
    lines = [
        f'{report.model} on {report.device} ({machine["device_name"]}), '
        f'{machine["cpu_cores"]} cores, OpenVINO {machine["openvino"].split("-")[0]}, '
        f'Python {machine["python"]}',
        f'inputs (random, seed {options.seed}): {inputs}',
        f'OpenVINO: LATENCY hint, inference precision {precision}'
        + ('' if options.inference_precision else " (the device's default)")
        + ("; other engines: CPU, the model's precision" if options.compare else ''),
        f'latency: {options.iterations} synchronous inferences per engine after '
        f'{options.warmup} warm-up, interleaved in rounds of {options.round_size}',
    ]
    rows = [LATENCY_COLUMNS] + [
        (row.engine, row.version, f'{row.median_ms:.3f}', f'{row.p90_ms:.3f}',
         f'{row.ratio:.2f}', f'{row.max_abs_difference:.2g}') for row in report.latency]
    widths = [max(len(row[column]) for row in rows) for column in range(len(LATENCY_COLUMNS))]
    for row in rows:
        cells = [row[0].ljust(widths[0]), row[1].ljust(widths[1])]
        cells += [cell.rjust(width) for cell, width in zip(row[2:], widths[2:], strict=True)]
        lines.append('  '.join(cells).rstrip())
    lines += [f'skipped: {skipped.engine}: {skipped.reason}' for skipped in report.skipped]
    if report.throughput is not None:
        throughput = report.throughput
        lines.append(f'throughput: {throughput.frames_per_s:.1f} frames/s (OpenVINO, '
                     f'THROUGHPUT hint, {throughput.requests} requests, {throughput.frames} '
                     f'frames in {throughput.seconds:.2f} s)')
    return '\n'.join(lines)
