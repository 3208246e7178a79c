"""FastDepth (Wofk et al., "FastDepth: Fast Monocular Depth Estimation on Embedded Systems",
ICRA 2019) in PyTorch.

The layout follows the authors' released ``MobileNetSkipAdd`` model:

* **Encoder**: MobileNet v1, width multiplier 1.0, without its classifier: a 3×3 stride-2
  convolution followed by 13 depthwise-separable blocks (3×3 depthwise + 1×1 pointwise, each
  conv-BN-ReLU). A 224×224 input leaves it as 1024 channels at 7×7.
* **Decoder** (NNConv5): five stages, each a 5×5 depthwise conv and a 1×1 pointwise conv
  (conv-BN-ReLU) followed by nearest-neighbour ×2 upsampling. The encoder's 1/8, 1/4 and 1/2
  resolution features (outputs of encoder layers 5, 3 and 1) are added to the outputs of decoder
  stages 2, 3 and 4.
* **Head**: a 1×1 convolution to one channel and a softplus, giving depth in metres.

With a 1×3×224×224 input the network has 3,960,929 parameters and performs 0.737 G
multiply-accumulates (convolutions only; see :func:`count_multiply_accumulates`).
"""

from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional

#: Input side length the model is trained and exported at.
INPUT_SIZE = 224

# Depth the untrained head starts at, metres: the middle of the synthetic scenes' depth range, so
# early training does not spend its first steps just moving the output scale.
_INITIAL_DEPTH_METRES = 3.0

# Smallest depth the head can output, metres. Keeps the output strictly positive (log-depth losses
# and the depth→cloud conversion divide by or take the log of it) without limiting real depths.
MIN_DEPTH_METRES = 1e-3


def conv_bn_relu(
    in_channels: int, out_channels: int, kernel_size: int, stride: int = 1, groups: int = 1
) -> nn.Sequential:
    """Convolution without bias (BN supplies it), batch norm, ReLU."""
    return nn.Sequential(
        nn.Conv2d(
            in_channels,
            out_channels,
            kernel_size,
            stride=stride,
            padding=(kernel_size - 1) // 2,
            groups=groups,
            bias=False,
        ),
        nn.BatchNorm2d(out_channels),
        nn.ReLU(inplace=True),
    )


def _depthwise_separable(
    in_channels: int, out_channels: int, kernel_size: int, stride: int = 1
) -> nn.Sequential:
    """Depthwise k×k conv then pointwise 1×1 conv, each with BN and ReLU."""
    return nn.Sequential(
        conv_bn_relu(in_channels, in_channels, kernel_size, stride, groups=in_channels),
        conv_bn_relu(in_channels, out_channels, 1),
    )


# (output channels, stride) of MobileNet v1's 13 depthwise-separable blocks.
_MOBILENET_BLOCKS = (
    (64, 1),
    (128, 2),
    (128, 1),
    (256, 2),
    (256, 1),
    (512, 2),
    (512, 1),
    (512, 1),
    (512, 1),
    (512, 1),
    (512, 1),
    (1024, 2),
    (1024, 1),
)

# Encoder layer index whose output is added after each decoder stage (1-based stage number).
# Layer 1 is at 1/2 resolution (64 ch), layer 3 at 1/4 (128 ch), layer 5 at 1/8 (256 ch).
_SKIP_SOURCE_FOR_DECODER_STAGE = {2: 5, 3: 3, 4: 1}

_DECODER_CHANNELS = (1024, 512, 256, 128, 64, 32)


class FastDepth(nn.Module):
    """MobileNet v1 encoder + NNConv5 decoder with additive skips; RGB in, metres out.

    Input: N×3×H×W float32, normalised per channel as described in ``docs/fastdepth.md``
    (H and W multiples of 32; the shipped model uses 224×224). Output: N×1×H×W depth in metres,
    always ≥ :data:`MIN_DEPTH_METRES`.
    """

    def __init__(self) -> None:
        super().__init__()
        encoder_layers = [conv_bn_relu(3, 32, 3, stride=2)]
        in_channels = 32
        for out_channels, stride in _MOBILENET_BLOCKS:
            encoder_layers.append(_depthwise_separable(in_channels, out_channels, 3, stride))
            in_channels = out_channels
        self.encoder = nn.ModuleList(encoder_layers)
        self.decoder = nn.ModuleList(
            _depthwise_separable(c_in, c_out, 5)
            for c_in, c_out in zip(_DECODER_CHANNELS[:-1], _DECODER_CHANNELS[1:], strict=True)
        )
        self.head = nn.Conv2d(_DECODER_CHANNELS[-1], 1, 1)
        self._initialise()

    def _initialise(self) -> None:
        """He initialisation for convolutions (the network is trained from scratch)."""
        for module in self.modules():
            if isinstance(module, nn.Conv2d):
                nn.init.kaiming_normal_(module.weight, mode='fan_out', nonlinearity='relu')
            elif isinstance(module, nn.BatchNorm2d):
                nn.init.ones_(module.weight)
                nn.init.zeros_(module.bias)
        nn.init.normal_(self.head.weight, std=1e-3)
        # softplus⁻¹(d) = log(exp(d) - 1)
        initial = torch.tensor(_INITIAL_DEPTH_METRES)
        nn.init.constant_(self.head.bias, float(torch.log(torch.expm1(initial))))

    def forward(self, image: torch.Tensor) -> torch.Tensor:
        """Predict depth.

        :param image: N×3×H×W normalised RGB.
        :returns: N×1×H×W depth, metres.
        """
        skips = {}
        features = image
        for index, layer in enumerate(self.encoder):
            features = layer(features)
            skips[index] = features
        for stage, layer in enumerate(self.decoder, start=1):
            features = functional.interpolate(layer(features), scale_factor=2, mode='nearest')
            if stage in _SKIP_SOURCE_FOR_DECODER_STAGE:
                features = features + skips[_SKIP_SOURCE_FOR_DECODER_STAGE[stage]]
        # Softplus rather than ReLU: it is smooth and never has zero gradient, so no output pixel
        # can "die" at zero depth during training; rather than exp it cannot overflow in FP16
        # for large inputs (it grows linearly). The epsilon makes the output strictly positive.
        return functional.softplus(self.head(features)) + MIN_DEPTH_METRES


def count_parameters(model: nn.Module) -> int:
    """Count trainable parameters (batch-norm running statistics excluded).

    :param model: any module.
    :returns: the parameter count.
    """
    return sum(parameter.numel() for parameter in model.parameters() if parameter.requires_grad)


def count_multiply_accumulates(model: nn.Module, input_shape: tuple[int, ...]) -> int:
    """Multiply-accumulates of all convolutions and linear layers for one forward pass.

    Counted analytically from each layer's output size with forward hooks: a convolution costs
    ``output elements × (input channels / groups) × kernel area``. Batch norm, ReLU, softplus,
    upsampling and additions are not counted (conventional, and under 1 % here).

    :param model: the network; it is run once in eval mode on zeros of ``input_shape``.
    :param input_shape: e.g. ``(1, 3, 224, 224)``; the count is for the whole batch.
    :returns: the number of multiply-accumulates.
    """
    total = 0

    def add_conv(module: nn.Conv2d, _inputs: tuple, output: torch.Tensor) -> None:
        nonlocal total
        kernel_area = module.kernel_size[0] * module.kernel_size[1]
        total += output.numel() * (module.in_channels // module.groups) * kernel_area

    def add_linear(module: nn.Linear, _inputs: tuple, output: torch.Tensor) -> None:
        nonlocal total
        total += output.numel() * module.in_features

    handles = []
    for module in model.modules():
        if isinstance(module, nn.Conv2d):
            handles.append(module.register_forward_hook(add_conv))
        elif isinstance(module, nn.Linear):
            handles.append(module.register_forward_hook(add_linear))
    was_training = model.training
    model.eval()
    try:
        with torch.no_grad():
            model(torch.zeros(input_shape))
    finally:
        for handle in handles:
            handle.remove()
        model.train(was_training)
    return total
