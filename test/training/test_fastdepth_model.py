"""FastDepth network: shapes, size and cost as published."""

import pytest

torch = pytest.importorskip('torch')

from edge_perception.networks.fastdepth import (  # noqa: E402
    count_multiply_accumulates,
    count_parameters,
    FastDepth,
    MIN_DEPTH_METRES,
)


@pytest.fixture(scope='module')
def model():
    torch.manual_seed(0)
    return FastDepth().eval()


def test_output_is_positive_metres_at_input_resolution(model):
    with torch.no_grad():
        depth = model(torch.randn(2, 3, 224, 224))
    assert depth.shape == (2, 1, 224, 224)
    assert depth.dtype == torch.float32
    assert bool((depth >= MIN_DEPTH_METRES).all())
    # The untrained head starts near 3 m, the middle of the training depth range.
    assert float(depth.mean()) == pytest.approx(3.0, rel=0.05)


def test_fully_convolutional_for_other_multiples_of_32(model):
    with torch.no_grad():
        assert model(torch.zeros(1, 3, 160, 128)).shape == (1, 1, 160, 128)


# The published architecture, written out here independently of the module: MobileNet v1's
# 3x3 stride-2 stem (3 -> 32) and 13 depthwise-separable blocks (output channels, stride), then
# NNConv5's five 5x5 depthwise-separable decoder stages, each followed by x2 upsampling, and a
# 1x1 head to one channel. Convolutions have no bias (batch norm: 2 parameters per channel),
# except the head's.
MOBILENET_V1_BLOCKS = [(64, 1), (128, 2), (128, 1), (256, 2), (256, 1), (512, 2), (512, 1),
                       (512, 1), (512, 1), (512, 1), (512, 1), (1024, 2), (1024, 1)]
NNCONV5_CHANNELS = [1024, 512, 256, 128, 64, 32]


def architecture_table_counts(side=224):
    """Return (parameters, multiply-accumulates) of FastDepth from the table above."""
    parameters, side = 3 * 32 * 3 * 3 + 2 * 32, side // 2
    macs = side * side * 32 * 3 * 3 * 3
    channels = 32
    for out_channels, stride in MOBILENET_V1_BLOCKS:
        side //= stride
        parameters += channels * 3 * 3 + 2 * channels + channels * out_channels + 2 * out_channels
        macs += side * side * channels * (3 * 3 + out_channels)
        channels = out_channels
    for in_channels, out_channels in zip(NNCONV5_CHANNELS[:-1], NNCONV5_CHANNELS[1:], strict=True):
        parameters += in_channels * 5 * 5 + 2 * in_channels + in_channels * out_channels + \
            2 * out_channels
        macs += side * side * in_channels * (5 * 5 + out_channels)
        side *= 2
    return parameters + 32 + 1, macs + side * side * 32


def test_parameter_count_follows_the_architecture_table(model):
    parameters, _ = architecture_table_counts()
    assert parameters == 3_960_929  # "about 3.9 M" as the FastDepth paper reports
    assert count_parameters(model) == parameters


def test_multiply_accumulates_follow_the_architecture_table(model):
    _, macs = architecture_table_counts()
    assert macs == 736_658_944  # 0.74 G, the paper's figure for this variant
    assert count_multiply_accumulates(model, (1, 3, 224, 224)) == macs
    assert count_multiply_accumulates(model, (2, 3, 224, 224)) == 2 * macs
    assert model.training is False


def test_skip_connections_reach_the_output(model):
    # Changing only the input's fine detail must change the output even where the 7x7
    # bottleneck could not resolve it: evidence that the 1/2-resolution skip is wired in.
    image = torch.zeros(1, 3, 224, 224)
    detailed = image.clone()
    detailed[..., 100:102, 100:102] = 3.0
    with torch.no_grad():
        difference = (model(detailed) - model(image)).abs()[0, 0]
    assert float(difference[96:106, 96:106].max()) > 0.0
