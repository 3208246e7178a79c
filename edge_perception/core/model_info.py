"""What a model says about itself, carried in the IR: normalisation, colour order, labels, output.

The facts live in the IR's runtime information under ``model_info``, where
openvinotoolkit/model_api and DL Streamer look for them, with their names and conventions:

* ``model_type``: ``depth_estimation`` (this package's name) or ``Classification``;
* ``mean_values`` and ``scale_values``: space-separated, in 0-255 pixel units and the model's
  channel order, applied as ``(pixel - mean) / scale``;
* ``reverse_input_channels``: ``True`` when the model takes RGB (model_api feeds BGR images and
  swaps them when this is true), ``False`` for BGR;
* ``labels``: space-separated class names, class ``i`` at position ``i``;
* ``output_unit`` (this package's): ``metres`` for depth, ``logits`` or ``probabilities`` for
  class scores.

Training export and ``edge-perception convert`` write it; the nodes, ``quantize`` and the
benchmark read it, so the normalisation a model was trained with has one source. No rclpy here.
"""

from dataclasses import dataclass, replace

from edge_perception.core.openvino_compat import rt_info_text

MODEL_INFO = 'model_info'
DEPTH_ESTIMATION = 'depth_estimation'
CLASSIFICATION = 'Classification'
MODEL_TYPES = (DEPTH_ESTIMATION, CLASSIFICATION)
OUTPUT_UNITS = ('metres', 'logits', 'probabilities')


class ModelInfoError(ValueError):
    """Model metadata that cannot be written or read as this package means it."""


@dataclass(frozen=True)
class ModelInfo:
    """The facts; an empty value means the model does not say.

    :param mean: per-channel mean, 0-255 units, model channel order (one value for all).
    :param scale: per-channel divisor after the mean, 0-255 units.
    :param color_order: 'RGB' or 'BGR', the channel order of a colour model's input.
    :param labels: class names, class ``i`` at index ``i``.
    :param output_unit: one of :data:`OUTPUT_UNITS`.
    """

    model_type: str = ''
    mean: tuple = ()
    scale: tuple = ()
    color_order: str = ''
    labels: tuple = ()
    output_unit: str = ''
    title: str = ''

    def merged(self, other):
        """Return these facts with the ones ``other`` states replacing them."""
        return replace(self, **{name: value for name, value in vars(other).items() if value})


def read_model_info(model):
    """Return the :class:`ModelInfo` an ``ov.Model`` carries (all empty when it carries none).

    :raises ModelInfoError: when a value is present but malformed.
    """
    def text(key):
        return rt_info_text(model, [MODEL_INFO, key])

    reverse = text('reverse_input_channels').lower()
    if reverse not in ('', 'true', 'false'):
        raise ModelInfoError(f"model_info reverse_input_channels is '{reverse}', not True/False")
    return ModelInfo(
        model_type=text('model_type'),
        mean=_numbers(text('mean_values'), 'mean_values'),
        scale=_numbers(text('scale_values'), 'scale_values'),
        color_order={'true': 'RGB', 'false': 'BGR'}.get(reverse, ''),
        labels=tuple(text('labels').split()),
        output_unit=text('output_unit'),
        title=text('title'))


def write_model_info(model, info):
    """Store ``info`` (its non-empty facts) in an ``ov.Model``'s runtime information, in place.

    :return: ``model``.
    :raises ModelInfoError: for a label with white space (the format separates labels by
        spaces), an unknown model type, output unit or colour order, or a zero scale.
    """
    if info.model_type and info.model_type not in MODEL_TYPES:
        raise ModelInfoError(f"model type '{info.model_type}' is not one of: "
                             f"{', '.join(MODEL_TYPES)}")
    if info.output_unit and info.output_unit not in OUTPUT_UNITS:
        raise ModelInfoError(f"output unit '{info.output_unit}' is not one of: "
                             f"{', '.join(OUTPUT_UNITS)}")
    if info.color_order not in ('', 'RGB', 'BGR'):
        raise ModelInfoError(f"colour order '{info.color_order}' is not RGB or BGR")
    if any(float(value) == 0.0 for value in info.scale):
        raise ModelInfoError('scale values must not be zero')
    spaced = [label for label in info.labels if not label or any(c.isspace() for c in label)]
    if spaced:
        raise ModelInfoError(f'labels are stored space-separated; these cannot be: {spaced[:3]} '
                             '(use a labels file instead)')
    values = {
        'model_type': info.model_type,
        'mean_values': ' '.join(_number_text(value) for value in info.mean),
        'scale_values': ' '.join(_number_text(value) for value in info.scale),
        'reverse_input_channels': {'RGB': 'True', 'BGR': 'False'}.get(info.color_order, ''),
        'labels': ' '.join(info.labels),
        'output_unit': info.output_unit,
        'title': info.title,
    }
    for key, value in values.items():
        if value:
            model.set_rt_info(value, [MODEL_INFO, key])
    return model


def _numbers(text, key):
    try:
        return tuple(float(value) for value in text.replace(',', ' ').split())
    except ValueError as error:
        raise ModelInfoError(f"model_info {key} '{text}' is not a list of numbers") from error


def _number_text(value):
    text = repr(float(value))  # the shortest text that reads back as the same float
    return text.removesuffix('.0')
