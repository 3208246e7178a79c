"""Camera buffer -> model input: inside the OpenVINO graph, or on the host as a fallback.

Both paths do the same steps in the same order: u8 -> f32, colour conversion to the model's
channel order, bilinear resize to the model's input size (aspect ratio not kept), per-channel
``(value - mean) / scale``, and the layout change from the camera's interleaved HWC to the
model's planar layout. The graph path builds them with ``PrePostProcessor`` so the node hands
the raw message buffer to the device; the host path (OpenCV) exists for devices that reject
in-graph resize, such as the NCS2 (MYRIAD) and some NPUs.
"""

from dataclasses import dataclass

import cv2
import numpy as np

from edge_perception.core.image_codec import encoding_info, ImageFormatError
from edge_perception.core.openvino_compat import (
    ColorFormat,
    Layout,
    opset,
    PrePostProcessor,
    ResizeAlgorithm,
    Type,
)

GRAY_WEIGHTS_RGB = (0.299, 0.587, 0.114)

_PPP_COLOR_FORMATS = {
    'RGB': ColorFormat.RGB,
    'BGR': ColorFormat.BGR,
    'RGBA': ColorFormat.RGBX,
    'BGRA': ColorFormat.BGRX,
}


class PreprocessingError(ValueError):
    """The camera input cannot be turned into this model's input."""


@dataclass(frozen=True)
class Normalisation:
    """Per-channel normalisation the model was trained with, applied as ``(x - mean) / scale``.

    :param mean: one value per model channel (or one for all), in 0..255 pixel units.
    :param scale: one value per model channel (or one for all), in 0..255 pixel units.
    :param color_order: channel order the model expects for colour input, 'RGB' or 'BGR'.
    """

    mean: tuple = (0.0, 0.0, 0.0)
    scale: tuple = (1.0, 1.0, 1.0)
    color_order: str = 'RGB'

    def per_channel(self, channels):
        """Return ``(mean, scale)`` as float32 arrays of ``channels`` values.

        :raises PreprocessingError: when a list has neither 1 nor ``channels`` values, or a
            scale is zero.
        """
        arrays = []
        for name, values in (('mean', self.mean), ('scale', self.scale)):
            values = np.asarray(values, dtype=np.float32).reshape(-1)
            if values.size == 1:
                values = np.repeat(values, channels)
            if values.size != channels:
                raise PreprocessingError(
                    f'{name} has {values.size} values but the model takes {channels} channels')
            arrays.append(values)
        if np.any(arrays[1] == 0):
            raise PreprocessingError('scale must not contain zeros')
        return arrays[0], arrays[1]


def resolve_normalisation(model_info, mean=(), scale=(), color_order=''):
    """Return the normalisation to apply: what was given wins, then what the model says.

    :param model_info: the model's :class:`~edge_perception.core.model_info.ModelInfo`.
    :param mean: given per-channel mean, or empty for the model's.
    :param scale: given per-channel scale, or empty for the model's.
    :param color_order: given 'RGB' or 'BGR', or '' for the model's.
    :return: ``(Normalisation, unstated)``: ``unstated`` names what neither was given nor is in
        the model ('mean', 'scale', 'color_order'); those fall back to 0, 1 and 'RGB'.
    """
    chosen = {'mean': tuple(mean) or tuple(model_info.mean),
              'scale': tuple(scale) or tuple(model_info.scale),
              'color_order': color_order or model_info.color_order}
    unstated = tuple(name for name, value in chosen.items() if not value)
    return Normalisation(chosen['mean'] or (0.0,), chosen['scale'] or (1.0,),
                         chosen['color_order'] or 'RGB'), unstated


@dataclass(frozen=True)
class ModelInput:
    """Shape facts of a model's single image input.

    :param layout: 'NCHW' or 'NHWC'.
    """

    name: str
    layout: str
    channels: int
    height: int
    width: int

    @classmethod
    def of(cls, model):
        """Describe the single image input of an ``ov.Model``.

        :raises PreprocessingError: for several inputs, or an input that is not a static
            batch-1 image with 1 or 3 channels.
        """
        if len(model.inputs) != 1:
            raise PreprocessingError(f'the model has {len(model.inputs)} inputs; one image input '
                                     'is supported')
        port = model.inputs[0]
        shape = port.get_partial_shape()
        if shape.rank.is_dynamic or shape.rank.get_length() != 4 or shape.is_dynamic:
            raise PreprocessingError(f'model input {shape} is not a static 4-D image shape')
        n, a, b, c = (dim.get_length() for dim in shape)
        if a in (1, 3):
            layout, channels, height, width = 'NCHW', a, b, c
        elif c in (1, 3):
            layout, channels, height, width = 'NHWC', c, a, b
        else:
            raise PreprocessingError(f'model input {shape} has neither 1 nor 3 channels')
        if n != 1:
            raise PreprocessingError(f'model input {shape} has batch {n}; batch 1 is supported')
        return cls(port.get_any_name(), layout, channels, height, width)


def color_plan(encoding, model_input, normalisation):
    """Return the source colour order and the order the model wants ('GRAY' for 1 channel)."""
    source = encoding_info(encoding).color_order
    if source is None:
        raise ImageFormatError(f"'{encoding}' is not a camera image encoding")
    if model_input.channels == 1:
        return source, 'GRAY'
    if normalisation.color_order not in ('RGB', 'BGR'):
        raise PreprocessingError(
            f"color_order '{normalisation.color_order}' must be one of: RGB, BGR")
    return source, normalisation.color_order


def embed_preprocessing(model, encoding, height, width, normalisation):
    """Return ``model`` with the camera-to-model preprocessing built into its graph.

    The resulting model takes the raw ``height x width`` camera buffer of ``encoding``
    (u8, interleaved) as a ``1 x height x width x channels`` tensor.

    :param model: ``ov.Model`` with one static image input; it is modified in place.
    :param encoding: camera encoding, e.g. 'rgb8', 'bgra8', 'mono8'.
    :param height: camera rows.
    :param width: camera columns.
    :param normalisation: :class:`Normalisation` of the model.
    """
    model_input = ModelInput.of(model)
    source, target = color_plan(encoding, model_input, normalisation)
    mean, scale = normalisation.per_channel(model_input.channels)
    source_channels = encoding_info(encoding).channels

    ppp = PrePostProcessor(model)
    tensor = ppp.input().tensor()
    tensor.set_element_type(Type.u8).set_layout(Layout('NHWC'))
    tensor.set_shape([1, height, width, source_channels])
    if source != 'GRAY':
        tensor.set_color_format(_PPP_COLOR_FORMATS[source])
    ppp.input().model().set_layout(Layout(model_input.layout))
    steps = ppp.input().preprocess()
    steps.convert_element_type(Type.f32)
    if source == 'GRAY' and target != 'GRAY':
        steps.custom(lambda node: opset.concat([node, node, node], 3).output(0))
    elif source != 'GRAY' and target == 'GRAY':
        steps.convert_color(ColorFormat.RGB)
        steps.custom(_rgb_to_gray)
    elif source != 'GRAY':
        steps.convert_color(_PPP_COLOR_FORMATS[target])
    if (height, width) != (model_input.height, model_input.width):
        steps.resize(ResizeAlgorithm.RESIZE_LINEAR)
    steps.mean(mean.tolist()).scale(scale.tolist())
    return ppp.build()


def _rgb_to_gray(node):
    weights = opset.constant(np.array(GRAY_WEIGHTS_RGB, dtype=np.float32).reshape(1, 1, 1, 3))
    return opset.reduce_sum(opset.multiply(node, weights), np.int64(3), True).output(0)


_CV2_CONVERSIONS = {
    ('RGB', 'BGR'): cv2.COLOR_RGB2BGR,
    ('BGR', 'RGB'): cv2.COLOR_BGR2RGB,
    ('RGBA', 'RGB'): cv2.COLOR_RGBA2RGB,
    ('RGBA', 'BGR'): cv2.COLOR_RGBA2BGR,
    ('BGRA', 'BGR'): cv2.COLOR_BGRA2BGR,
    ('BGRA', 'RGB'): cv2.COLOR_BGRA2RGB,
    ('GRAY', 'RGB'): cv2.COLOR_GRAY2RGB,
    ('GRAY', 'BGR'): cv2.COLOR_GRAY2BGR,
    ('RGB', 'GRAY'): cv2.COLOR_RGB2GRAY,
    ('BGR', 'GRAY'): cv2.COLOR_BGR2GRAY,
    ('RGBA', 'GRAY'): cv2.COLOR_RGBA2GRAY,
    ('BGRA', 'GRAY'): cv2.COLOR_BGRA2GRAY,
}


class HostPreprocessor:
    """The same preprocessing as :func:`embed_preprocessing`, in OpenCV and numpy on the host.

    :param model: ``ov.Model`` with one static image input (left unchanged).
    :param encoding: camera encoding.
    :param normalisation: :class:`Normalisation` of the model.
    """

    def __init__(self, model, encoding, normalisation):
        self.model_input = ModelInput.of(model)
        source, target = color_plan(encoding, self.model_input, normalisation)
        self._conversion = _CV2_CONVERSIONS.get((source, target))
        mean, scale = normalisation.per_channel(self.model_input.channels)
        self._mean = mean
        self._inverse_scale = (1.0 / scale).astype(np.float32)

    def __call__(self, image):
        """Return the model input tensor (float32, batch 1, model layout) for ``image``."""
        image = np.ascontiguousarray(image)
        if self._conversion is not None:
            image = cv2.cvtColor(image, self._conversion)
        size = (self.model_input.width, self.model_input.height)
        if image.shape[1::-1] != size:
            image = cv2.resize(image, size, interpolation=cv2.INTER_LINEAR)
        if image.ndim == 2:
            image = image[:, :, None]
        normalised = (image.astype(np.float32) - self._mean) * self._inverse_scale
        if self.model_input.layout == 'NCHW':
            normalised = normalised.transpose(2, 0, 1)
        return np.ascontiguousarray(normalised[None])
