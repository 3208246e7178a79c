"""Start FastDepth training from an exported IR instead of random weights.

An exported IR has each batch norm folded into its convolution (weights scaled, a bias added
after it), and the shipped model exists only as an IR. :func:`fastdepth_from_ir` puts the
folded weights back into :class:`~edge_perception.networks.fastdepth.FastDepth` and gives
every batch norm the statistics of its input on calibration images, with an affine that undoes
them: in eval mode the network computes exactly what the IR computes, and in training mode,
on batches like the calibration images, nearly so, so fine-tuning starts from the IR's
predictions instead of losing them at the first batch-normalised step.
"""

from pathlib import Path

import numpy as np
import torch
from torch import nn

from edge_perception.core.openvino_compat import Core
from edge_perception.networks.fastdepth import FastDepth

_CONVOLUTIONS = ('Convolution', 'GroupConvolution')


class WarmStartError(ValueError):
    """The IR is not a FastDepth export whose weights fit this network."""


def fastdepth_from_ir(xml_path: Path, calibration_images: np.ndarray) -> FastDepth:
    """Return a FastDepth carrying the weights of an exported FastDepth IR.

    :param xml_path: the IR (``fastdepth.xml`` with its ``.bin``), as exported by
        ``train_fastdepth``.
    :param calibration_images: N×3×H×W normalised training images (a few dozen are enough);
        each batch norm takes the statistics of its input on them.
    :raises WarmStartError: when the IR's convolutions do not match the network's.
    """
    model = FastDepth()
    folded = _folded_convolutions(Core().read_model(str(xml_path)))
    layers = [module for module in model.modules() if _is_conv_bn_relu(module)]
    convolutions = [layer[0] for layer in layers] + [model.head]
    if len(folded) != len(convolutions):
        raise WarmStartError(f'{xml_path}: {len(folded)} convolutions, FastDepth has '
                             f'{len(convolutions)}')
    for index, ((weight, bias), convolution) in enumerate(zip(folded, convolutions, strict=True)):
        weight = weight.reshape(-1, *weight.shape[-3:])  # grouped: G x O/G x I/G x k x k
        if weight.shape != tuple(convolution.weight.shape) or bias.size != weight.shape[0]:
            raise WarmStartError(
                f'{xml_path}: convolution {index} has weights {weight.shape} and '
                f'{bias.size} biases; FastDepth expects {tuple(convolution.weight.shape)}')
        with torch.no_grad():
            convolution.weight.copy_(torch.from_numpy(weight))
            if convolution is model.head:
                convolution.bias.copy_(torch.from_numpy(bias))
    biases = [torch.from_numpy(bias) for _, bias in folded[:-1]]
    _calibrate_batch_norms(model, [layer[1] for layer in layers], biases, calibration_images)
    return model


def _is_conv_bn_relu(module: nn.Module) -> bool:
    return (isinstance(module, nn.Sequential) and len(module) == 3
            and isinstance(module[0], nn.Conv2d) and isinstance(module[1], nn.BatchNorm2d))


def _folded_convolutions(ir_model) -> list[tuple[np.ndarray, np.ndarray]]:
    """Each convolution's weights and the bias added after it, in execution order."""
    folded = []
    for node in ir_model.get_ordered_ops():
        if node.get_type_name() not in _CONVOLUTIONS:
            continue
        weight = _constant(node.input_value(1).get_node())
        adds = [target.get_node() for target in node.output(0).get_target_inputs()
                if target.get_node().get_type_name() == 'Add']
        if len(adds) != 1:
            raise WarmStartError(f'convolution {node.get_friendly_name()} has no single bias')
        add = adds[0]
        other = next(value.get_node() for value in add.input_values()
                     if value.get_node() is not node and value.get_node().get_type_name()
                     in ('Constant', 'Convert'))
        folded.append((weight, _constant(other).reshape(-1)))
    return folded


def _constant(node) -> np.ndarray:
    """Return the float32 value of a constant, through the Convert of FP16 weights."""
    while node.get_type_name() == 'Convert':
        node = node.input_value(0).get_node()
    if node.get_type_name() != 'Constant':
        raise WarmStartError(f'{node.get_friendly_name()} is not a constant')
    return np.array(node.get_data(), dtype=np.float32)


def _calibrate_batch_norms(model, batch_norms, biases, calibration_images) -> None:
    """Make every batch norm output its input plus the folded bias.

    First as identity plus bias (eval mode then computes the IR); one pass records each batch
    norm's input mean and variance per channel; then normalisation by those statistics
    followed by the affine that restores them.
    """
    statistics = {}

    def record(module, inputs, _output):
        values = inputs[0].transpose(0, 1).reshape(inputs[0].shape[1], -1).double()
        statistics[module] = (values.mean(dim=1), values.var(dim=1, unbiased=False))

    with torch.no_grad():
        for batch_norm, bias in zip(batch_norms, biases, strict=True):
            batch_norm.running_mean.zero_()
            batch_norm.running_var.fill_(1.0 - batch_norm.eps)
            batch_norm.weight.fill_(1.0)
            batch_norm.bias.copy_(bias)
        hooks = [batch_norm.register_forward_hook(record) for batch_norm in batch_norms]
        try:
            model.eval()
            model(torch.from_numpy(np.ascontiguousarray(calibration_images, np.float32)))
        finally:
            for hook in hooks:
                hook.remove()
        for batch_norm, bias in zip(batch_norms, biases, strict=True):
            mean, variance = statistics[batch_norm]
            batch_norm.running_mean.copy_(mean.float())
            batch_norm.running_var.copy_(variance.float())
            batch_norm.weight.copy_(torch.sqrt(variance + batch_norm.eps).float())
            batch_norm.bias.copy_((mean + bias.double()).float())
