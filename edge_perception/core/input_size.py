"""The input size of a model whose image input has dynamic height and width.

Models such as Depth Anything (ONNX export) take ``1 x 3 x H x W`` with H and W free, as long
as they are multiples of the ViT patch size (14). Preprocessing in the graph resizes the camera
frame to the model's input size, so such a model is reshaped to a fixed size before it is
compiled: :func:`fix_input_size`. Models with a static input are left as they are. No rclpy
here.
"""

from edge_perception.core.openvino_compat import PartialShape
from edge_perception.core.preprocessing import PreprocessingError

# Operations that leave the spatial grid as it is, passed through when looking for the patch
# embedding (an exported model may normalise or convert its input first).
_ELEMENTWISE = {'Convert', 'Add', 'Subtract', 'Multiply', 'Divide', 'Clamp'}
_SEARCH_DEPTH = 6


class InputSizeError(PreprocessingError):
    """An input size the model cannot take."""


def dynamic_spatial_axes(model):
    """Return the (height, width) axes of a single 4-D image input whose height or width is
    dynamic, or None when the input size is static (or not a 4-D image with 1 or 3 channels).
    """
    if len(model.inputs) != 1:
        return None
    shape = model.inputs[0].get_partial_shape()
    if shape.rank.is_dynamic or shape.rank.get_length() != 4 or not shape.is_dynamic:
        return None
    channels = [dim.get_length() if dim.is_static else None for dim in shape]
    if channels[1] in (1, 3):
        return 2, 3
    if channels[3] in (1, 3):
        return 1, 2
    return None


def patch_stride(model):
    """Return the stride of the patch embedding the image input feeds (a convolution whose
    kernel equals its stride, as in ViT models), or 0 when the model has none.

    Input sizes of such a model must be multiples of it; other strides in a network are not
    visible this simply, so they are not checked.
    """
    frontier = [model.get_parameters()[0]]
    for _ in range(_SEARCH_DEPTH):
        consumers = []
        for node in frontier:
            for output in node.outputs():
                consumers.extend(target.get_node() for target in output.get_target_inputs())
        for node in consumers:
            if node.get_type_name() == 'Convolution':
                strides = list(node.get_attributes()['strides'])
                kernel = node.input(1).get_partial_shape()
                if kernel.is_dynamic:
                    return 0
                window = [dim.get_length() for dim in kernel][2:]
                return strides[0] if window == strides and len(set(strides)) == 1 else 0
        frontier = [node for node in consumers if node.get_type_name() in _ELEMENTWISE]
        if not frontier:
            return 0
    return 0


def fix_input_size(model, size):
    """Reshape a model whose image input has dynamic height or width to ``size x size``
    (batch 1) and return it; return a model with a static input, or any model when ``size``
    is 0, unchanged.

    :param model: ``ov.Model``; reshaped in place.
    :param size: input height and width in pixels; 0 to leave a dynamic input dynamic (which
        :class:`~edge_perception.core.preprocessing.ModelInput` then refuses).
    :raises InputSizeError: when ``size`` is not a positive multiple of the model's patch
        stride (:func:`patch_stride`), or the model refuses the shape.
    """
    axes = dynamic_spatial_axes(model)
    if axes is None or size == 0:
        return model
    stride = patch_stride(model)
    if size <= 0 or (stride and size % stride):
        nearest = max(stride, round(size / stride) * stride) if stride else 1
        raise InputSizeError(
            f'input_size {size} does not fit the model: its input height and width are dynamic '
            + (f'and must be multiples of its patch size {stride} (e.g. {nearest})'
               if stride else 'and must be positive'))
    shape = [dim.get_length() if dim.is_static else 1
             for dim in model.inputs[0].get_partial_shape()]
    shape[axes[0]] = shape[axes[1]] = size
    try:
        model.reshape({model.inputs[0]: PartialShape(shape)})
    except Exception as error:  # OpenVINO's shape inference names what does not fit
        raise InputSizeError(f'the model cannot be reshaped to input {shape}: {error}') from error
    return model
