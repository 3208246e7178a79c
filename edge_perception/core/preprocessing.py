"""Camera buffer -> model input: inside the OpenVINO graph, or on the host as a fallback.

Both paths do the same steps in the same order: u8 -> f32, colour conversion to the model's
channel order, the centred ``input_crop`` (:mod:`~edge_perception.core.input_crop`; the host
crops before converting colours, which work pixel by pixel), bilinear resize to the model's
input size (aspect ratio not kept), per-channel ``(value - mean) / scale``, and the layout
change from the camera's interleaved HWC to the model's planar layout. The graph path builds
them with ``PrePostProcessor`` so the node hands the raw message buffer to the device; the host
path (OpenCV) exists for devices that reject in-graph resize, such as the NCS2 (MYRIAD) and
some NPUs.

Camera encodings other than 8-bit RGB, BGR, RGBA, BGRA and gray reach those steps in one of two
ways (:func:`plan_input`): NV12 and I420 frames of colour models are converted to RGB or BGR in
the graph too (``PrePostProcessor``'s single-plane YUV formats); every other encoding (16-bit,
YUV 4:2:2, NV21, Bayer, and NV12/I420 on the host path or for gray models) is converted to 8
bits on the host with OpenCV first (:class:`HostConversion`), then fed like an 8-bit frame.
"""

from dataclasses import dataclass

import cv2
import numpy as np

from edge_perception.core.image_codec import (
    camera_encoding_info,
    COLOR_CONVERSIONS,
    convert_camera_image,
    EIGHT_BIT_ENCODINGS,
    encoding_info,
)
from edge_perception.core.input_crop import centred_crop, check_input_crop, FULL_FRAME
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
# YUV encodings PrePostProcessor converts in the graph: one tensor of 1 x H*3/2 x W x 1.
IN_GRAPH_YUV_FORMATS = {
    'nv12': ColorFormat.NV12_SINGLE_PLANE,
    'i420': ColorFormat.I420_SINGLE_PLANE,
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


def model_color_order(model_input, normalisation):
    """Return the channel order the model takes: 'GRAY' for one channel, else 'RGB' or 'BGR'.

    :raises PreprocessingError: for a colour order other than RGB and BGR.
    """
    if model_input.channels == 1:
        return 'GRAY'
    if normalisation.color_order not in ('RGB', 'BGR'):
        raise PreprocessingError(
            f"color_order '{normalisation.color_order}' must be one of: RGB, BGR")
    return normalisation.color_order


def color_plan(encoding, model_input, normalisation):
    """Return the colour order of an encoding the preprocessing takes as it is (8-bit RGB, BGR,
    RGBA, BGRA, gray), and the order the model wants ('GRAY' for 1 channel).

    :raises ImageFormatError: for an encoding that is not a camera image.
    :raises PreprocessingError: for an encoding that must be converted first
        (:func:`plan_input` says how).
    """
    info = camera_encoding_info(encoding)
    if not info.is_direct:
        raise PreprocessingError(f"'{encoding}' frames must be converted to 8-bit RGB, BGR or "
                                 'gray before this preprocessing')
    return info.color_order, model_color_order(model_input, normalisation)


@dataclass(frozen=True)
class InputPlan:
    """How frames of one camera encoding reach a model's preprocessing.

    :param path: 'direct' (the preprocessing takes the frames as they are), 'graph' (the
        compiled preprocessing converts their colours too: NV12, I420) or 'host' (OpenCV
        converts them to 8 bits on the host first).
    :param encoding: the camera encoding.
    :param fed_encoding: the encoding the preprocessing is built for: ``encoding`` itself, or
        the 8-bit one the host conversion produces ('rgb8', 'bgr8', 'mono8').
    :param color_order: order of the host conversion's output ('RGB', 'BGR', 'GRAY'); ''
        for the other paths.
    """

    path: str
    encoding: str
    fed_encoding: str
    color_order: str = ''


def plan_input(encoding, model_input, normalisation, in_graph):
    """Return the :class:`InputPlan` of ``encoding`` frames for a model.

    16-bit images are only scaled to 8 bits on the host (the preprocessing then orders their
    channels as it does for 8-bit ones); YUV and Bayer images are converted straight to the
    order the model takes, as ``cv_bridge`` converts them. A gray model takes the Y plane of
    NV12 and I420 frames (OpenCV copies it on the host): in the graph, gray would be computed
    from RGB, which clipping YUV colours outside the RGB cube would change.

    :param in_graph: whether the preprocessing runs in the graph (where NV12 and I420 frames
        of colour models are converted too).
    :raises ImageFormatError: for an encoding that is not a camera image.
    :raises PreprocessingError: for a colour order the model cannot take.
    """
    info = camera_encoding_info(encoding)
    target = model_color_order(model_input, normalisation)
    if info.is_direct:
        return InputPlan('direct', encoding, encoding)
    if in_graph and encoding in IN_GRAPH_YUV_FORMATS and target != 'GRAY':
        return InputPlan('graph', encoding, encoding)
    order = info.color_order or target
    return InputPlan('host', encoding, EIGHT_BIT_ENCODINGS[order], order)


def embed_preprocessing(model, encoding, height, width, normalisation, input_crop=FULL_FRAME):
    """Return ``model`` with the camera-to-model preprocessing built into its graph.

    The resulting model takes the raw ``height x width`` camera buffer of ``encoding``
    (u8, interleaved) as a ``1 x height x width x channels`` tensor; for NV12 and I420, as the
    ``1 x height*3/2 x width x 1`` tensor of the Y plane and the chroma rows. The network sees
    the centred ``input_crop`` of the frame, cropped after the colour conversion (so NV12 and
    I420 crops need not fall on their 2x2 chroma blocks).

    :param model: ``ov.Model`` with one static image input; it is modified in place.
    :param encoding: camera encoding, e.g. 'rgb8', 'bgra8', 'mono8', or 'nv12' and 'i420' for
        a colour model.
    :param height: camera rows.
    :param width: camera columns.
    :param normalisation: :class:`Normalisation` of the model.
    :param input_crop: fraction of the width and of the height kept, centred
        (:func:`~edge_perception.core.input_crop.centred_crop`); 1 keeps the whole frame.
    :raises PreprocessingError: for an encoding the graph does not take
        (:func:`plan_input` says which it does).
    :raises ~edge_perception.core.input_crop.InputCropError: for a crop fraction out of range.
    """
    model_input = ModelInput.of(model)
    box = centred_crop(height, width, input_crop)
    mean, scale = normalisation.per_channel(model_input.channels)
    ppp = PrePostProcessor(model)
    tensor = ppp.input().tensor()
    tensor.set_element_type(Type.u8).set_layout(Layout('NHWC'))
    ppp.input().model().set_layout(Layout(model_input.layout))
    steps = ppp.input().preprocess()
    if encoding in IN_GRAPH_YUV_FORMATS:
        target = model_color_order(model_input, normalisation)
        if target == 'GRAY':
            raise PreprocessingError(f"'{encoding}' frames of a gray model are converted on the "
                                     'host (their gray image is the Y plane)')
        tensor.set_color_format(IN_GRAPH_YUV_FORMATS[encoding])
        tensor.set_spatial_static_shape(height, width)
        # Converted while still u8, so values are rounded to whole levels as OpenCV rounds them.
        steps.convert_color(_PPP_COLOR_FORMATS[target])
        steps.convert_element_type(Type.f32)
    else:
        source, target = color_plan(encoding, model_input, normalisation)
        tensor.set_shape([1, height, width, encoding_info(encoding).channels])
        if source != 'GRAY':
            tensor.set_color_format(_PPP_COLOR_FORMATS[source])
        steps.convert_element_type(Type.f32)
        if source == 'GRAY' and target != 'GRAY':
            steps.custom(lambda node: opset.concat([node, node, node], 3).output(0))
        elif source != 'GRAY' and target == 'GRAY':
            steps.convert_color(ColorFormat.RGB)
            steps.custom(_rgb_to_gray)
        elif source != 'GRAY':
            steps.convert_color(_PPP_COLOR_FORMATS[target])
    if not box.is_whole(height, width):
        channels = model_input.channels
        steps.crop([0, box.top, box.left, 0], [1, box.bottom, box.right, channels])
    if (box.height, box.width) != (model_input.height, model_input.width):
        steps.resize(ResizeAlgorithm.RESIZE_LINEAR)
    steps.mean(mean.tolist()).scale(scale.tolist())
    return ppp.build()


def _rgb_to_gray(node):
    weights = opset.constant(np.array(GRAY_WEIGHTS_RGB, dtype=np.float32).reshape(1, 1, 1, 3))
    return opset.reduce_sum(opset.multiply(node, weights), np.int64(3), True).output(0)


class HostConversion:
    """OpenCV conversion of one camera stream's frames to 8 bits, into a buffer reused from
    frame to frame (:func:`~edge_perception.core.image_codec.convert_camera_image`).

    The next call overwrites what the last one returned: use it, or copy it, first.

    :param plan: the stream's :class:`InputPlan` (path 'host').
    :param height: camera rows.
    :param width: camera columns.
    """

    def __init__(self, plan, height, width):
        if plan.path != 'host':
            raise ValueError(f"a host conversion needs a 'host' input plan, not '{plan.path}'")
        self.plan = plan
        shape = (height, width) if plan.color_order == 'GRAY' else (height, width, 3)
        self._buffer = np.empty(shape, np.uint8)

    def __call__(self, image):
        """Return ``image`` (as ``image_to_array`` gives it) converted, in the reused buffer."""
        return convert_camera_image(image, self.plan.encoding, self.plan.color_order,
                                    out=self._buffer)


class HostPreprocessor:
    """The same preprocessing as :func:`embed_preprocessing`, in OpenCV and numpy on the host.

    :param model: ``ov.Model`` with one static image input (left unchanged).
    :param encoding: camera encoding.
    :param normalisation: :class:`Normalisation` of the model.
    :param input_crop: fraction of the width and of the height kept, centred.
    """

    def __init__(self, model, encoding, normalisation, input_crop=FULL_FRAME):
        self.model_input = ModelInput.of(model)
        self._input_crop = check_input_crop(input_crop)  # refused now, not per frame
        source, target = color_plan(encoding, self.model_input, normalisation)
        self._conversion = COLOR_CONVERSIONS.get((source, target))
        mean, scale = normalisation.per_channel(self.model_input.channels)
        self._mean = mean
        self._inverse_scale = (1.0 / scale).astype(np.float32)

    def __call__(self, image):
        """Return the model input tensor (float32, batch 1, model layout) for ``image``."""
        rows, columns = centred_crop(*image.shape[:2], self._input_crop).slices
        # Cropped before the colour conversion, which works pixel by pixel: less to convert.
        image = np.ascontiguousarray(image[rows, columns])
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
