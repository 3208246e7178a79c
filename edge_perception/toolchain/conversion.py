"""Framework model -> OpenVINO IR, and a check that the IR computes what the source computes.

No rclpy here. Sources: ONNX files; PyTorch modules built by a factory the caller names, with
weights from a ``state_dict`` file (parsed by :mod:`.torch_file`, never ``torch.load``); the
FastDepth authors' NYU checkpoints, rebuilt without their code
(:mod:`~edge_perception.toolchain.fastdepth_checkpoint`); TensorFlow SavedModel directories and
Keras files where ``tensorflow`` is installed.
:func:`validate` runs the source framework and the written IR on the same seeded random inputs
and compares every output.
"""

from dataclasses import dataclass
import os

import numpy as np

from edge_perception.core.engine import compile_model, load_model
from edge_perception.core.openvino_compat import save_model
from edge_perception.core.opset_lowering import DEFAULT_TARGET_RUNTIME, lower_for_runtime
from edge_perception.toolchain.fastdepth_checkpoint import (
    AuthorsCheckpointSource,
    is_checkpoint_path,
)
from edge_perception.toolchain.model_inputs import port_name, random_arrays
from edge_perception.toolchain.model_sources import (
    ConversionError,
    match_names,
    OnnxSource,
    TensorFlowSource,
    TorchSource,
)

TORCH_SUFFIXES = ('.pt', '.pth')
KERAS_SUFFIXES = ('.keras', '.h5')
SUPPORTED_SOURCES = ('ONNX (.onnx)', 'PyTorch state_dict (.pt, .pth) with --torch-module',
                     "the FastDepth authors' checkpoints (.pth.tar)",
                     'TensorFlow SavedModel (directory)', 'Keras (.keras, .h5)')

# Validation defaults: FP16 weights carry ~3 significant digits, so outputs of a deep network
# drift by up to about 1 % of their range; FP32 weights with f32 inference only differ by
# the order of floating-point operations.
DEFAULT_MIN_COSINE = {True: 0.999, False: 0.99999}
DEFAULT_RELATIVE_TOLERANCE = {True: 0.02, False: 1e-3}
# Below this the tolerance is never set, so an all-zero output does not demand exact zeros.
_TOLERANCE_FLOOR = 1e-6
# Elements smaller than this share of an output's largest magnitude are judged relative to it
# in the relative error, so values near zero do not turn rounding into huge ratios.
_RELATIVE_ERROR_FLOOR = 1e-3
_NUMPY_TYPES = {'f32': np.float32, 'f16': np.float16, 'f64': np.float64, 'i64': np.int64,
                'i32': np.int32, 'u8': np.uint8, 'i8': np.int8, 'boolean': np.bool_}


def open_source(path, torch_module=None):
    """Return the converter for the model at ``path``, chosen by what the path is.

    :param path: ``.onnx`` file, PyTorch ``state_dict`` (``.pt``/``.pth``), the FastDepth
        authors' checkpoint (``.pth.tar``, or ``.pt``/``.pth`` without ``torch_module``),
        TensorFlow SavedModel directory, or Keras ``.keras``/``.h5`` file.
    :param torch_module: ``package.module:factory`` building the PyTorch module that the
        ``state_dict`` belongs to; required for PyTorch files other than the FastDepth
        authors' networks.
    :raises ConversionError: for a missing path, an unsupported format, or a framework that is
        not installed.
    """
    path = os.fspath(path)
    suffix = os.path.splitext(path)[1].lower()
    if not os.path.exists(path):
        raise ConversionError(f"model '{path}' does not exist")
    if torch_module and suffix not in TORCH_SUFFIXES:
        raise ConversionError(f"--torch-module needs a PyTorch state_dict file "
                              f"({', '.join(TORCH_SUFFIXES)}), not '{path}'")
    if os.path.isdir(path):
        if not os.path.isfile(os.path.join(path, 'saved_model.pb')):
            raise ConversionError(f"directory '{path}' is not a TensorFlow SavedModel "
                                  "(it has no saved_model.pb)")
        return TensorFlowSource(path, keras=False)
    if suffix == '.onnx':
        return OnnxSource(path)
    if suffix in TORCH_SUFFIXES and torch_module:
        return TorchSource(path, torch_module)
    # Without --torch-module a PyTorch file can only be the FastDepth authors' network, whose
    # code this package has; the reader says what to do when it is something else.
    if suffix in TORCH_SUFFIXES or is_checkpoint_path(path):
        return AuthorsCheckpointSource(path)
    if suffix in KERAS_SUFFIXES:
        return TensorFlowSource(path, keras=True)
    if suffix == '.xml':
        raise ConversionError(f"'{path}' is already OpenVINO IR")
    raise ConversionError(f"'{path}' is not a supported model; supported: "
                          f"{'; '.join(SUPPORTED_SOURCES)}")


def require_static_inputs(model):
    """Raise :class:`ConversionError` naming every input whose shape is not static."""
    dynamic = [f"'{port_name(port, f'input {index}')}' {port.get_partial_shape()}"
               for index, port in enumerate(model.inputs) if port.get_partial_shape().is_dynamic]
    if dynamic:
        raise ConversionError(f"inputs with dynamic dimensions: {', '.join(dynamic)}; give "
                              'static shapes with --input-shape (once per input, in order)')


def require_batch_of_one(model):
    """Raise :class:`ConversionError` naming every input whose batch is not 1."""
    batched = [f"'{port_name(port, f'input {index}')}' {port.get_partial_shape()}"
               for index, port in enumerate(model.inputs)
               if port.get_partial_shape().rank.is_dynamic or port.get_partial_shape()[0] != 1]
    if batched:
        raise ConversionError(f"inputs without a batch of 1: {', '.join(batched)}; give "
                              '--input-shape 1,... (once per input, in order)')


def save_ir(model, xml_path, fp16=True, target_runtime=DEFAULT_TARGET_RUNTIME):
    """Write ``model`` as OpenVINO IR, with FP16 weights unless ``fp16`` is False, readable by
    ``target_runtime`` where the operations allow.

    Operations newer than ``target_runtime`` reads are lowered in ``model`` itself first
    (:func:`~edge_perception.core.opset_lowering.lower_for_runtime`); on OpenVINO <= 2023.0
    the FP16 compression changes ``model`` in place too.

    :return: the operations left that ``target_runtime`` cannot read (the IR is written anyway).
    """
    left = lower_for_runtime(model, target_runtime)
    save_model(model, xml_path, compress_to_fp16=fp16)
    return left


@dataclass(frozen=True)
class OutputComparison:
    """How one IR output compares with the source framework's, over all samples.

    :param max_rel_error: largest ``|ir - source| / max(|source|, 1e-3 * max|source|)``.
    :param tolerance: the largest max-abs error accepted.
    :param error: why the output could not be compared (shape mismatch), else ''.
    """

    name: str
    shape: tuple
    max_abs_error: float
    max_rel_error: float
    cosine: float
    tolerance: float
    min_cosine: float
    error: str = ''

    @property
    def passed(self):
        # Written so that NaN errors fail.
        return (not self.error and self.max_abs_error <= self.tolerance
                and self.cosine >= self.min_cosine)


def compare(name, reference, candidate, fp16, tolerance=None, min_cosine=None):
    """Compare one output's ``candidate`` values with its ``reference`` values.

    :param reference: the source framework's output, all samples stacked.
    :param candidate: the IR's output, same shape.
    :param fp16: whether the IR has FP16 weights; picks the default thresholds.
    :param tolerance: max-abs error accepted; default: 2 % (FP16) or 0.1 % (FP32) of the
        reference output's largest magnitude.
    :param min_cosine: lowest cosine similarity accepted; default 0.999 (FP16) or 0.99999.
    """
    reference = np.asarray(reference, dtype=np.float64)
    candidate = np.asarray(candidate, dtype=np.float64)
    peak = float(np.max(np.abs(reference))) if reference.size else 0.0
    if tolerance is None:
        tolerance = max(DEFAULT_RELATIVE_TOLERANCE[fp16] * peak, _TOLERANCE_FLOOR)
    if min_cosine is None:
        min_cosine = DEFAULT_MIN_COSINE[fp16]
    if reference.shape != candidate.shape:
        return OutputComparison(name, candidate.shape[1:], float('nan'), float('nan'),
                                float('nan'), tolerance, min_cosine,
                                f"shape {candidate.shape[1:]} differs from the source's "
                                f'{reference.shape[1:]}')
    difference = np.abs(candidate - reference)
    floor = max(_RELATIVE_ERROR_FLOOR * peak, np.finfo(np.float32).tiny)
    norms = np.linalg.norm(reference) * np.linalg.norm(candidate)
    if norms > 0:
        cosine = float(np.sum(reference * candidate) / norms)
    else:
        cosine = 1.0 if np.array_equal(reference, candidate) else 0.0
    return OutputComparison(
        name, reference.shape[1:], float(np.max(difference, initial=0.0)),
        float(np.max(difference / np.maximum(np.abs(reference), floor), initial=0.0)),
        cosine, tolerance, min_cosine)


def random_inputs(model, samples, seed):
    """Seeded random inputs for every input of ``model`` (static shapes), ``samples`` times
    (see :func:`~edge_perception.toolchain.model_inputs.random_arrays`).

    :return: a list of samples, each a list of arrays in the model's input order.
    """
    specs = []
    for port in model.inputs:
        type_name = port.get_element_type().get_type_name()
        if type_name not in _NUMPY_TYPES:
            raise ConversionError(f'cannot make random values for an input of type {type_name}')
        specs.append((tuple(port.get_partial_shape().to_shape()), _NUMPY_TYPES[type_name]))
    generator = np.random.default_rng(seed)
    return [random_arrays(specs, generator) for _ in range(samples)]


def validate(core, xml_path, source, samples=3, seed=0, fp16=True, tolerance=None,
             min_cosine=None):
    """Run ``source`` and the IR at ``xml_path`` on the same inputs and compare each output.

    The IR runs on the OpenVINO CPU device with f32 inference precision, so the comparison
    shows the conversion and the weight precision, not a bf16 or f16 execution mode.

    :param source: an :func:`open_source` converter.
    :param samples: seeded random inputs compared.
    :return: ``(runtime_label, [OutputComparison, ...])`` in the IR's output order.
    :raises ConversionError: when either side cannot run.
    """
    label, run_reference = source.reference_runtime()
    model = load_model(core, xml_path)
    compiled = compile_model(core, model, 'CPU', inference_precision='f32')
    request = compiled.create_infer_request()
    input_names = [port.get_names() for port in model.inputs]
    reference_runs, ir_runs = [], []
    for inputs in random_inputs(model, samples, seed):
        try:
            reference_runs.append(run_reference(inputs, input_names))
        except Exception as error:  # whatever the framework raises
            raise ConversionError(f'{label} cannot run the source model: {error}') from error
        request.infer(dict(enumerate(inputs)))
        ir_runs.append([request.get_output_tensor(index).data.copy()
                        for index in range(len(model.outputs))])
    reference_names = [name for name, _ in reference_runs[0]]
    if len(reference_names) != len(model.outputs):
        raise ConversionError(f'the source model has {len(reference_names)} outputs, '
                              f'the IR {len(model.outputs)}')
    ir_of_reference = match_names(reference_names, [port.get_names() for port in model.outputs])
    reference_of_ir = (list(range(len(reference_names))) if ir_of_reference is None
                       else [ir_of_reference.index(index) for index in range(len(model.outputs))])
    comparisons = [
        compare(port_name(port, f'output {index}'),
                np.stack([np.asarray(run[reference_index][1]) for run in reference_runs]),
                np.stack([run[index] for run in ir_runs]), fp16, tolerance, min_cosine)
        for index, (port, reference_index) in enumerate(zip(model.outputs, reference_of_ir,
                                                            strict=True))]
    return label, comparisons


def format_comparisons(comparisons):
    """Return the comparisons as a text table, one row per output."""
    rows = [('output', 'shape', 'max abs err', 'max rel err', 'cosine', 'tolerance', 'result')]
    for item in comparisons:
        rows.append((item.name, 'x'.join(str(dim) for dim in item.shape) or 'scalar',
                     f'{item.max_abs_error:.3g}', f'{item.max_rel_error:.3g}',
                     f'{item.cosine:.6f}', f'{item.tolerance:.3g}',
                     'ok' if item.passed else f'FAILED {item.error}'.rstrip()))
    widths = [max(len(row[column]) for row in rows) for column in range(len(rows[0]))]
    return '\n'.join('  '.join(cell.ljust(width) for cell, width in zip(row, widths, strict=True))
                     .rstrip() for row in rows)
