"""The FastDepth authors' released networks (github dwofk/fast-depth, ``models.py``), rebuilt
from a ``state_dict``'s tensor names and shapes, so their NYU checkpoints load with
``strict=True`` without their code.

Two layouts, with the authors' module names (so their ``state_dict`` keys fit unchanged):

* :data:`SKIP_ADD` (``MobileNetSkipAdd``: ``mobilenet-nnconv5dw-skipadd`` and its NetAdapt-pruned
  version): encoder ``conv0`` … ``conv13``, decoder ``decode_conv1`` … ``decode_conv6``; the
  outputs of ``conv5``, ``conv3`` and ``conv1`` are added after decoder stages 2, 3 and 4.
* :data:`ENCODER_DECODER` (``MobileNet`` with an ``NNConv`` decoder: ``mobilenet-nnconv5``,
  ``mobilenet-nnconv5dw``): encoder ``mobilenet.0`` … ``mobilenet.13``, decoder
  ``decoder.conv1`` … ``decoder.conv6``; no skips.

Encoder (MobileNet v1 without its classifier): block 0 is a 3×3 stride-2 conv, BN, ReLU6; blocks
1–13 are each one flat sequence (3×3 depthwise conv, BN, ReLU6, 1×1 conv, BN, ReLU6) with
MobileNet v1's strides. Decoder stages 1–5: a 5×5 conv (nnconv5) or a 5×5 depthwise and a 1×1
conv (nnconv5dw), each conv-BN-ReLU, then nearest-neighbour ×2 upsampling. Stage 6 is a 1×1
conv-BN-ReLU to one channel, whose output is the depth in metres (the authors end with that
ReLU, not with the project's softplus). Channel widths come from the weights, so pruned
networks rebuild as they are. Input: RGB in [0, 1], no mean or scale.
"""

from __future__ import annotations

from collections.abc import Mapping

import torch
from torch import nn
from torch.nn import functional

from edge_perception.networks.fastdepth import conv_bn_relu

SKIP_ADD = 'MobileNetSkipAdd'
ENCODER_DECODER = 'MobileNet'
LAYOUTS = (SKIP_ADD, ENCODER_DECODER)
ENCODER_ACTIVATIONS = {'ReLU6': nn.ReLU6, 'ReLU': nn.ReLU}

# Stride of each encoder block (block 0 is the plain 3×3 convolution).
ENCODER_STRIDES = (2, 1, 2, 1, 2, 1, 2, 1, 1, 1, 1, 1, 2, 1)
DECODER_STAGES = 6
# MobileNetSkipAdd: decoder stage -> encoder block whose output is added after it.
SKIP_SOURCE_FOR_DECODER_STAGE = {2: 5, 3: 3, 4: 1}
#: Output channels of each encoder block and decoder stage of the unpruned networks.
FULL_WIDTHS = ((32, 64, 128, 128, 256, 256, 512, 512, 512, 512, 512, 512, 1024, 1024),
               (512, 256, 128, 64, 32, 1))

_MODULE_NAMES = {
    SKIP_ADD: (tuple(f'conv{index}' for index in range(len(ENCODER_STRIDES))),
               tuple(f'decode_conv{stage}' for stage in range(1, DECODER_STAGES + 1))),
    ENCODER_DECODER: (tuple(f'mobilenet.{index}' for index in range(len(ENCODER_STRIDES))),
                      tuple(f'decoder.conv{stage}' for stage in range(1, DECODER_STAGES + 1))),
}


class LayoutError(ValueError):
    """Weights whose names or shapes are not one of the authors' FastDepth networks."""


def layout_of(names) -> str:
    """Return the layout whose module names the ``state_dict`` keys ``names`` use.

    :raises LayoutError: when they use neither.
    """
    names = set(names)
    for layout, (encoder, _) in _MODULE_NAMES.items():
        if f'{encoder[0]}.0.weight' in names:
            return layout
    raise LayoutError("the weights are neither MobileNetSkipAdd's (conv0 ... conv13, "
                      "decode_conv1 ... decode_conv6) nor MobileNet's with a decoder "
                      '(mobilenet.0 ... mobilenet.13, decoder.conv1 ... decoder.conv6)')


class AuthorsFastDepth(nn.Module):
    """One of the authors' networks, widths read from the weights' shapes (see module doc).

    :param layout: :data:`SKIP_ADD` or :data:`ENCODER_DECODER`.
    :param shapes: ``state_dict`` key -> tensor shape of the weights it is built for.
    :param encoder_activation: 'ReLU6' (the authors' MobileNet) or 'ReLU'.
    :raises LayoutError: when a weight the layout needs is missing or has an impossible shape.
    """

    def __init__(self, layout: str, shapes: Mapping[str, tuple],
                 encoder_activation: str = 'ReLU6') -> None:
        super().__init__()
        if layout not in _MODULE_NAMES:
            raise LayoutError(f"layout '{layout}' is not one of: {', '.join(LAYOUTS)}")
        self.layout = layout
        self._encoder_names, self._decoder_names = _MODULE_NAMES[layout]
        self._skips = SKIP_SOURCE_FOR_DECODER_STAGE if layout == SKIP_ADD else {}
        activation = ENCODER_ACTIVATIONS[encoder_activation]
        shapes = {name: tuple(shape) for name, shape in shapes.items()}
        encoder = [_encoder_block(name, index, stride, shapes, activation)
                   for index, (name, stride) in enumerate(zip(self._encoder_names,
                                                              ENCODER_STRIDES, strict=True))]
        decoder = [_decoder_stage(name, shapes) for name in self._decoder_names]
        if layout == SKIP_ADD:
            for name, module in zip(self._encoder_names + self._decoder_names,
                                    encoder + decoder, strict=True):
                self.add_module(name, module)
        else:
            self.mobilenet = nn.Sequential(*encoder)
            self.decoder = nn.Module()
            for name, module in zip(self._decoder_names, decoder, strict=True):
                self.decoder.add_module(name.rpartition('.')[2], module)
        self.depthwise_decoder = f'{self._decoder_names[0]}.0.0.weight' in shapes
        self._check_skip_widths(encoder, decoder)

    def widths(self) -> tuple:
        """Output channels of each encoder block and of each decoder stage."""
        return tuple(tuple(_out_channels(self.get_submodule(name)) for name in names)
                     for names in (self._encoder_names, self._decoder_names))

    def _check_skip_widths(self, encoder, decoder) -> None:
        for stage, source in self._skips.items():
            added = _out_channels(decoder[stage - 1])
            skipped = _out_channels(encoder[source])
            if added != skipped:
                raise LayoutError(f'{self._decoder_names[stage - 1]} gives {added} channels but '
                                  f'the skip from {self._encoder_names[source]} adds {skipped}')

    def forward(self, image: torch.Tensor) -> torch.Tensor:
        """Predict depth.

        :param image: N×3×H×W RGB in [0, 1] (H and W multiples of 32; the authors use 224).
        :returns: N×1×H×W depth, metres.
        """
        encoder_outputs = []
        features = image
        for name in self._encoder_names:
            features = self.get_submodule(name)(features)
            encoder_outputs.append(features)
        for stage, name in enumerate(self._decoder_names[:-1], start=1):
            features = functional.interpolate(self.get_submodule(name)(features),
                                              scale_factor=2, mode='nearest')
            if stage in self._skips:
                features = features + encoder_outputs[self._skips[stage]]
        return self.get_submodule(self._decoder_names[-1])(features)


def _weight_shape(shapes, name, dimensions=4):
    shape = shapes.get(f'{name}.weight')
    if shape is None:
        raise LayoutError(f"the weights have no '{name}.weight'")
    if len(shape) != dimensions:
        raise LayoutError(f"'{name}.weight' has shape {list(shape)}, not {dimensions}-D")
    return shape


def _encoder_block(name, index, stride, shapes, activation):
    if index == 0:
        out_channels, in_channels, kernel, _ = _weight_shape(shapes, f'{name}.0')
        return nn.Sequential(
            nn.Conv2d(in_channels, out_channels, kernel, stride, (kernel - 1) // 2, bias=False),
            nn.BatchNorm2d(out_channels), activation(inplace=True))
    channels, per_group, kernel, _ = _weight_shape(shapes, f'{name}.0')
    out_channels, in_channels, _, _ = _weight_shape(shapes, f'{name}.3')
    if per_group != 1 or in_channels != channels:
        raise LayoutError(f"'{name}' is not a depthwise-separable block: depthwise weight "
                          f'{list(shapes[name + ".0.weight"])}, pointwise weight '
                          f'{list(shapes[name + ".3.weight"])}')
    return nn.Sequential(
        nn.Conv2d(channels, channels, kernel, stride, (kernel - 1) // 2, groups=channels,
                  bias=False),
        nn.BatchNorm2d(channels), activation(inplace=True),
        nn.Conv2d(channels, out_channels, 1, 1, 0, bias=False),
        nn.BatchNorm2d(out_channels), activation(inplace=True))


def _decoder_stage(name, shapes):
    if f'{name}.0.0.weight' in shapes:  # nnconv5dw: depthwise k×k, then pointwise 1×1
        channels, per_group, kernel, _ = _weight_shape(shapes, f'{name}.0.0')
        out_channels, in_channels, _, _ = _weight_shape(shapes, f'{name}.1.0')
        if per_group != 1 or in_channels != channels:
            raise LayoutError(f"'{name}' is not a depthwise + pointwise stage")
        return nn.Sequential(conv_bn_relu(channels, channels, kernel, groups=channels),
                             conv_bn_relu(channels, out_channels, 1))
    out_channels, in_channels, kernel, _ = _weight_shape(shapes, f'{name}.0')
    return conv_bn_relu(in_channels, out_channels, kernel)


def _out_channels(module):
    return [layer for layer in module.modules() if isinstance(layer, nn.Conv2d)][-1].out_channels
