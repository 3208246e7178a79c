"""FastDepth network: shapes, size and cost as published."""

import pytest

torch = pytest.importorskip("torch")

from edge_perception.training.fastdepth import (  # noqa: E402
    MIN_DEPTH_METRES,
    FastDepth,
    count_multiply_accumulates,
    count_parameters,
)


@pytest.fixture(scope="module")
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


def test_parameter_count_is_about_3_9_million(model):
    assert count_parameters(model) == 3_960_929


def test_multiply_accumulates_are_about_0_74_g(model):
    macs = count_multiply_accumulates(model, (1, 3, 224, 224))
    assert macs == 736_658_944
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
