"""Stand-in for the FastDepth authors' ``imagenet/mobilenet.py``: MobileNet v1 with the same
class name, module names and layer kinds, written for these tests (with widths to choose, so a
pruned network can be built too).
"""

from torch import nn

FULL_WIDTHS = (32, 64, 128, 128, 256, 256, 512, 512, 512, 512, 512, 512, 1024, 1024)
STRIDES = (2, 1, 2, 1, 2, 1, 2, 1, 1, 1, 1, 1, 2, 1)


class MobileNet(nn.Module):
    """MobileNet v1: ``model`` holds the 14 blocks, an average pool, then ``fc``."""

    def __init__(self, relu6=True, widths=FULL_WIDTHS):
        super().__init__()
        activation = nn.ReLU6 if relu6 else nn.ReLU
        blocks = [nn.Sequential(nn.Conv2d(3, widths[0], 3, STRIDES[0], 1, bias=False),
                                nn.BatchNorm2d(widths[0]), activation(inplace=True))]
        for inputs, outputs, stride in zip(widths[:-1], widths[1:], STRIDES[1:], strict=True):
            blocks.append(nn.Sequential(
                nn.Conv2d(inputs, inputs, 3, stride, 1, groups=inputs, bias=False),
                nn.BatchNorm2d(inputs), activation(inplace=True),
                nn.Conv2d(inputs, outputs, 1, 1, 0, bias=False),
                nn.BatchNorm2d(outputs), activation(inplace=True)))
        self.model = nn.Sequential(*blocks, nn.AvgPool2d(7))
        self.fc = nn.Linear(widths[-1], 1000)

    def forward(self, x):
        return self.fc(self.model(x).flatten(1))
