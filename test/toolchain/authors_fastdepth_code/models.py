"""Stand-in for the FastDepth authors' ``models.py`` (github dwofk/fast-depth), written for
these tests: ``MobileNet`` with an ``NNConv`` decoder and ``MobileNetSkipAdd``, with the
authors' class names, module names, layer kinds and forward passes, so ``torch.save`` of these
pickles what the authors' checkpoints hold. Widths can be chosen (the authors' fixed them) to
build a pruned network.
"""

import imagenet.mobilenet
import torch.nn as nn
import torch.nn.functional as F

DECODER_WIDTHS = (512, 256, 128, 64, 32)


def conv(in_channels, out_channels, kernel_size):
    """Conv-BN-ReLU, 'same' padding."""
    return nn.Sequential(
        nn.Conv2d(in_channels, out_channels, kernel_size, stride=1,
                  padding=(kernel_size - 1) // 2, bias=False),
        nn.BatchNorm2d(out_channels), nn.ReLU(inplace=True))


def depthwise(in_channels, kernel_size):
    """Depthwise conv-BN-ReLU."""
    return nn.Sequential(
        nn.Conv2d(in_channels, in_channels, kernel_size, stride=1,
                  padding=(kernel_size - 1) // 2, bias=False, groups=in_channels),
        nn.BatchNorm2d(in_channels), nn.ReLU(inplace=True))


def pointwise(in_channels, out_channels):
    """1x1 conv-BN-ReLU."""
    return nn.Sequential(nn.Conv2d(in_channels, out_channels, 1, 1, 0, bias=False),
                         nn.BatchNorm2d(out_channels), nn.ReLU(inplace=True))


def decoder_stages(in_channels, widths, kernel_size, dw):
    """Stages 1-5 (a k x k conv, or depthwise k x k + pointwise), then the 1x1 to depth."""
    stages = []
    for out_channels in widths:
        stages.append(nn.Sequential(depthwise(in_channels, kernel_size),
                                    pointwise(in_channels, out_channels)) if dw
                      else conv(in_channels, out_channels, kernel_size))
        in_channels = out_channels
    return stages + [pointwise(in_channels, 1)]


class NNConv(nn.Module):
    """Decoder: five conv stages, each followed by nearest x2 upsampling, then conv6."""

    def __init__(self, kernel_size, dw):
        super().__init__()
        for index, stage in enumerate(decoder_stages(1024, DECODER_WIDTHS, kernel_size, dw),
                                      start=1):
            setattr(self, f'conv{index}', stage)

    def forward(self, x):
        for index in range(1, 6):
            x = F.interpolate(getattr(self, f'conv{index}')(x), scale_factor=2, mode='nearest')
        return self.conv6(x)


class MobileNet(nn.Module):
    """MobileNet encoder (``mobilenet``) and a decoder chosen by name (nnconv5, nnconv5dw)."""

    def __init__(self, decoder, output_size, in_channels=3, pretrained=True):
        super().__init__()
        self.output_size = output_size
        mobilenet = imagenet.mobilenet.MobileNet()
        self.mobilenet = nn.Sequential(*(mobilenet.model[index] for index in range(14)))
        self.decoder = NNConv(int(decoder[6]), 'dw' in decoder)

    def forward(self, x):
        return self.decoder(self.mobilenet(x))


class MobileNetSkipAdd(nn.Module):
    """Encoder ``conv0``-``conv13``, depthwise decoder ``decode_conv1``-``decode_conv6``, with
    conv5, conv3 and conv1 added after decoder stages 2, 3 and 4.
    """

    def __init__(self, output_size, pretrained=True, widths=imagenet.mobilenet.FULL_WIDTHS,
                 decoder_widths=DECODER_WIDTHS):
        super().__init__()
        self.output_size = output_size
        mobilenet = imagenet.mobilenet.MobileNet(widths=widths)
        for index in range(14):
            setattr(self, f'conv{index}', mobilenet.model[index])
        for index, stage in enumerate(decoder_stages(widths[-1], decoder_widths, 5, True),
                                      start=1):
            setattr(self, f'decode_conv{index}', stage)

    def forward(self, x):
        skips = {}
        for index in range(14):
            x = getattr(self, f'conv{index}')(x)
            skips[index] = x
        for index in range(1, 6):
            x = F.interpolate(getattr(self, f'decode_conv{index}')(x), scale_factor=2,
                              mode='nearest')
            x = x + skips[{2: 5, 3: 3, 4: 1}[index]] if index in (2, 3, 4) else x
        return self.decode_conv6(x)
