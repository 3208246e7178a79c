"""Reading a model from its framework: ONNX, a PyTorch ``state_dict`` with the module that takes
it, TensorFlow and Keras, each with the runtime that checks the converted IR against it.

Every failure is a :class:`ConversionError` that says what to do. A PyTorch file is parsed by
:mod:`.torch_file`, never ``torch.load``.
"""

from collections.abc import Mapping
import importlib

import numpy as np

from edge_perception.core.engine import ModelLoadError, openvino_reason
from edge_perception.core.onnx_external_data import check_external_data, OnnxFileError
from edge_perception.core.openvino_compat import openvino_version
from edge_perception.toolchain.torch_file import (
    Allowlist,
    read_torch_file,
    StoredTensor,
    TorchFileError,
    TorchFileRefused,
)


class ConversionError(ModelLoadError):
    """The source model cannot be read, converted or run: missing, wrong format, corrupt."""


class OnnxSource:
    """An ONNX file, read by OpenVINO directly and validated against onnxruntime."""

    framework = 'ONNX'

    def __init__(self, path):
        self.path = path
        # Before OpenVINO or onnxruntime opens any weight it names.
        try:
            check_external_data(path)
        except OnnxFileError as error:
            raise ConversionError(error.for_file(path)) from None

    def require_reference(self):
        """Return onnxruntime, which validation runs the model with.

        :raises ConversionError: when it is not installed.
        """
        try:
            import onnxruntime
        except ImportError:
            raise ConversionError('validating an ONNX model needs onnxruntime, which is not '
                                  'installed (pip install onnxruntime), or pass --no-validate'
                                  ) from None
        return onnxruntime

    def reference_runtime(self):
        """Return ``(label, run)``: ``run(inputs, name_sets)`` gives ``[(name, array), ...]``."""
        onnxruntime = self.require_reference()
        try:
            session = onnxruntime.InferenceSession(self.path,
                                                   providers=['CPUExecutionProvider'])
        except Exception as error:  # onnxruntime's exception classes are not public API
            raise ConversionError(f"onnxruntime cannot load '{self.path}': {error}") from error
        input_names = [port.name for port in session.get_inputs()]
        output_names = [port.name for port in session.get_outputs()]

        def run(inputs, names):
            return list(zip(output_names,
                            session.run(output_names, _feed(input_names, names, inputs)),
                            strict=True))

        return f'onnxruntime {onnxruntime.__version__}', run

    def to_openvino(self, core, input_shapes):
        """Read the ONNX file; with ``input_shapes``, reshape its inputs to them."""
        model = _read_onnx(self.path)
        if input_shapes:
            _check_input_count(model, input_shapes)
            try:
                model.reshape({model.input(index): list(shape)
                               for index, shape in enumerate(input_shapes)})
            except Exception as error:  # OpenVINO raises RuntimeError subclasses by release
                raise ConversionError(f"cannot give '{self.path}' the input shapes "
                                      f"{_shapes_text(input_shapes)}: {openvino_reason(error)}"
                                      ) from error
        return model


def import_torch(path, kind):
    """Return torch, needed to read ``path``, a ``kind`` file.

    :raises ConversionError: when torch is not installed.
    """
    try:
        import torch
    except ImportError:
        raise ConversionError(f"'{path}' is {kind}: converting it needs torch, which is not "
                              'installed (pip install torch)') from None
    return torch


class TorchSource:
    """A PyTorch module from ``package.module:factory`` with weights from a ``state_dict``."""

    framework = 'PyTorch'
    # Example inputs when --input-shape is not given; none: the caller must give them.
    default_input_shapes = ()
    # Names given to the IR's input and output tensors; none: the converter's.
    tensor_names = ()

    def __init__(self, path, torch_module):
        self.path = path
        self.torch = import_torch(path, 'a PyTorch state_dict')
        self.module = build_torch_module(torch_module, load_state_dict(path))

    def require_reference(self):
        """Nothing more to check: the framework was imported to load the model."""

    def reference_runtime(self):
        """Return ``(label, run)``: ``run(inputs, name_sets)`` gives ``[(None, array), ...]``."""
        def run(inputs, names):
            with self.torch.no_grad():
                outputs = self.module(*(self.torch.from_numpy(array) for array in inputs))
            return [(None, output.numpy()) for output in flatten_outputs(outputs)]

        return f'torch {self.torch.__version__}', run

    def to_openvino(self, core, input_shapes):
        """Trace the module with a seeded random input of each shape in ``input_shapes``."""
        input_shapes = input_shapes or self.default_input_shapes
        if not input_shapes:
            raise ConversionError('a PyTorch module needs --input-shape: its example input')
        convert = _openvino_convert_model('PyTorch')
        generator = np.random.default_rng(0)
        example = tuple(self.torch.from_numpy(generator.standard_normal(shape, np.float32))
                        for shape in input_shapes)
        try:
            model = convert(self.module, example_input=example,
                            input=[list(shape) for shape in input_shapes])
        except Exception as error:  # tracing and frontend errors vary by torch and OpenVINO
            raise ConversionError(
                f'OpenVINO cannot convert the PyTorch module with input '
                f'{_shapes_text(input_shapes)}: {openvino_reason(error)}') from error
        if self.tensor_names:
            input_name, output_name = self.tensor_names
            model.inputs[0].get_tensor().set_names({input_name})
            model.outputs[0].get_tensor().set_names({output_name})
        return model


def load_state_dict(path):
    """Read a ``state_dict`` without running the file (:mod:`.torch_file`): tensors only.

    A checkpoint dictionary holding it under 'state_dict' or 'model_state_dict' is accepted.

    :raises ConversionError: when the file is not a readable ``state_dict``, or its pickle
        names, calls or changes anything besides tensors and dictionaries.
    """
    import torch
    try:
        state = read_torch_file(path, Allowlist(classes={}, callables={}))
    except TorchFileRefused as refused:
        raise ConversionError(
            f"cannot read '{path}' as a PyTorch state_dict: "
            + (f'it is {refused}' if refused.what == 'TorchScript' else
               f'{refused}, which a state_dict never holds (tensors only). Nothing in the '
               'file was run')) from None
    except TorchFileError as error:
        raise ConversionError(f"cannot read '{path}' as a PyTorch state_dict: {error}"
                              ) from None
    if isinstance(state, Mapping):
        for key in ('state_dict', 'model_state_dict'):
            if isinstance(state.get(key), Mapping):
                state = state[key]
    if not isinstance(state, Mapping) or not all(
            isinstance(name, str) and isinstance(value, StoredTensor)
            for name, value in state.items()):
        raise ConversionError(f"'{path}' holds no state_dict (a mapping of names to tensors)")
    return {name: torch.from_numpy(value.numpy()) for name, value in state.items()}


def build_torch_module(spec, state_dict):
    """Call the factory named by ``spec`` ('package.module:factory') and load ``state_dict``.

    :return: the module in eval mode.
    :raises ConversionError: when the factory cannot be imported or called, or the weights do
        not fit the module it builds.
    """
    from torch import nn
    module_name, _, factory_name = spec.partition(':')
    if not module_name or not factory_name:
        raise ConversionError(f"--torch-module '{spec}' is not package.module:factory")
    try:
        factory = importlib.import_module(module_name)
        for attribute in factory_name.split('.'):
            factory = getattr(factory, attribute)
    except ImportError as error:
        raise ConversionError(f"--torch-module '{spec}': cannot import '{module_name}': "
                              f'{error}') from error
    except AttributeError:
        raise ConversionError(f"--torch-module '{spec}': '{module_name}' has no "
                              f"'{factory_name}'") from None
    try:
        module = factory()
    except Exception as error:  # arbitrary user code
        raise ConversionError(f"--torch-module '{spec}': calling {factory_name}() failed: "
                              f'{type(error).__name__}: {error}') from error
    if not isinstance(module, nn.Module):
        raise ConversionError(f"--torch-module '{spec}' returned {type(module).__name__}, "
                              'not a torch.nn.Module')
    try:
        module.load_state_dict(state_dict)
    except RuntimeError as error:
        raise ConversionError(f"the state_dict does not fit the module '{spec}' builds: "
                              f'{error}') from error
    return module.eval()


class TensorFlowSource:
    """A TensorFlow SavedModel directory or a Keras file; needs ``tensorflow`` installed."""

    framework = 'TensorFlow'

    def __init__(self, path, keras):
        try:
            import tensorflow
        except ImportError:
            kind = 'Keras model' if keras else 'TensorFlow SavedModel'
            raise ConversionError(f"'{path}' is a {kind}: converting it needs the tensorflow "
                                  'package, which is not installed (pip install tensorflow)'
                                  ) from None
        self.path = path
        self.tf = tensorflow
        self.keras = keras
        self.framework = 'Keras' if keras else 'TensorFlow'
        try:
            if keras:
                # safe_mode (Keras 3) refuses Lambda layers' serialised Python code.
                self.model = tensorflow.keras.models.load_model(path, compile=False,
                                                                safe_mode=True)
            else:
                self.model = tensorflow.saved_model.load(path)
        except Exception as error:  # TensorFlow raises many unrelated types here
            raise ConversionError(f"cannot load '{path}' with TensorFlow: {error}") from error

    def require_reference(self):
        """Nothing more to check: the framework was imported to load the model."""

    def reference_runtime(self):
        """Return ``(label, run)``: ``run(inputs, name_sets)`` gives ``[(name, array), ...]``."""
        def run(inputs, names):
            tensors = [self.tf.constant(array) for array in inputs]
            if self.keras:
                outputs = self.model(tensors[0] if len(tensors) == 1 else tensors)
                return [(None, np.asarray(output)) for output in flatten_outputs(outputs)]
            signature = self.model.signatures['serving_default']
            _, keywords = signature.structured_input_signature
            feed = _feed(list(keywords), names, tensors)
            return [(name, output.numpy()) for name, output in signature(**feed).items()]

        return f'tensorflow {self.tf.__version__}', run

    def to_openvino(self, core, input_shapes):
        """Convert with ``openvino.convert_model``; ``input_shapes`` fix dynamic dimensions."""
        convert = _openvino_convert_model(self.framework)
        source = self.model if self.keras else self.path
        try:
            if input_shapes:
                return convert(source, input=[list(shape) for shape in input_shapes])
            return convert(source)
        except Exception as error:  # frontend errors vary by release
            raise ConversionError(f"OpenVINO cannot convert '{self.path}': {openvino_reason(error)}"
                                  ) from error


def flatten_outputs(outputs):
    """Tensors of a model's output: one tensor, or nested tuples/lists/dicts of them."""
    if isinstance(outputs, Mapping):
        outputs = list(outputs.values())
    if isinstance(outputs, (tuple, list)):
        return [tensor for output in outputs for tensor in flatten_outputs(output)]
    return [outputs]


def match_names(names, name_sets):
    """For each of ``names``, the index of the one name set holding it; None unless all match.

    Sources and IR keep tensor names (ONNX, TensorFlow), so inputs and outputs pair by name;
    where they do not (PyTorch), they pair by position.
    """
    indices = []
    for name in names:
        holders = [index for index, name_set in enumerate(name_sets) if name in name_set]
        if name is None or len(holders) != 1:
            return None
        indices.append(holders[0])
    return indices if sorted(indices) == list(range(len(name_sets))) else None


def _feed(source_names, ir_name_sets, inputs):
    """Key the IR-ordered ``inputs`` by the source's input names."""
    indices = match_names(source_names, ir_name_sets) or list(range(len(inputs)))
    return {name: inputs[index] for name, index in zip(source_names, indices, strict=True)}


def _openvino_convert_model(framework):
    # openvino.convert_model exists from OpenVINO 2023.1; the openvino.runtime releases
    # (2022.3 LTS, 2023.0) only read IR and ONNX.
    try:
        from openvino import convert_model
    except ImportError:
        raise ConversionError(
            f'converting a {framework} model needs openvino.convert_model (OpenVINO 2023.1 or '
            f'later); this is OpenVINO {openvino_version()}. Convert with a newer OpenVINO, or '
            'export the model to ONNX, which this release reads') from None
    return convert_model


def _read_onnx(path):
    # The ONNX frontend alone: Core.read_model would also offer a file that is not valid ONNX
    # to the other frontends, and TensorFlow's logs parse errors of its own to stderr.
    from openvino.frontend import FrontEndManager
    try:
        frontend = FrontEndManager().load_by_framework('onnx')
        return frontend.convert(frontend.load(path))
    except Exception as error:  # OpenVINO raises RuntimeError subclasses varying by release
        raise ConversionError(
            f"cannot read ONNX model '{path}': {openvino_reason(error)}") from error


def _check_input_count(model, input_shapes):
    if len(input_shapes) != len(model.inputs):
        raise ConversionError(f'--input-shape given {len(input_shapes)} times for a model '
                              f'with {len(model.inputs)} input(s)')


def _shapes_text(shapes):
    return ', '.join('x'.join(str(dim) for dim in shape) for shape in shapes)
