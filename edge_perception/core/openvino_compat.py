"""One import point for the OpenVINO Python API across releases.

OpenVINO 2022.3 LTS (the last release with the NCS2 ``MYRIAD`` plugin, Python <= 3.10) and
2023.0 expose the runtime as ``openvino.runtime``; 2023.1 and later expose it at the top level
and dropped ``openvino.runtime`` in 2026. Everything else in the package imports from here.
"""

try:
    from openvino import (
        AsyncInferQueue,
        CompiledModel,
        Core,
        Layout,
        Model,
        PartialShape,
        Tensor,
        Type,
    )
    from openvino import opset8 as opset
except ImportError:
    from openvino.runtime import (
        AsyncInferQueue,
        CompiledModel,
        Core,
        Layout,
        Model,
        PartialShape,
        Tensor,
        Type,
    )
    from openvino.runtime import opset8 as opset

import importlib

from openvino.preprocess import ColorFormat, PrePostProcessor, ResizeAlgorithm

__all__ = [
    'AsyncInferQueue', 'ColorFormat', 'CompiledModel', 'Core', 'Layout', 'Model', 'PartialShape',
    'PrePostProcessor', 'ResizeAlgorithm', 'Tensor', 'Type', 'opset', 'opset_module',
    'openvino_version', 'rt_info_text', 'save_model',
]


def opset_module(number):
    """Return OpenVINO's ``opset<number>`` module of operation factories."""
    try:
        return importlib.import_module(f'openvino.opset{number}')
    except ImportError:
        return importlib.import_module(f'openvino.runtime.opset{number}')


def rt_info_text(model, path):
    """Return the text stored at ``path`` in ``model``'s ``rt_info`` ('' when absent).

    OpenVINO 2022.3 returns it as ``str``, later releases as an ``OVAny``.
    """
    if not model.has_rt_info(path):
        return ''
    value = model.get_rt_info(path)
    return (value if isinstance(value, str) else value.astype(str)).strip()


def openvino_version():
    """Return the OpenVINO runtime version string, whichever API layout is installed."""
    try:
        from openvino import get_version
    except ImportError:
        from openvino.runtime import get_version
    return get_version()


def save_model(model, xml_path, compress_to_fp16=False):
    """Write ``model`` as OpenVINO IR (``xml_path`` and the .bin beside it).

    :param compress_to_fp16: store floating-point weights as FP16 (what the NCS2 needs). On
        OpenVINO <= 2023.0, which has only ``serialize``, the weights are compressed in
        ``model`` itself first, as that release's Model Optimizer did.
    """
    try:
        from openvino import save_model as save
    except ImportError:
        from openvino.runtime import serialize
        if compress_to_fp16:
            try:
                from openvino._offline_transformations import compress_model_transformation
            except ImportError:
                from openvino.offline_transformations import compress_model_transformation
            compress_model_transformation(model)
        serialize(model, str(xml_path))
        return
    save(model, str(xml_path), compress_to_fp16=compress_to_fp16)
