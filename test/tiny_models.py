"""Tiny OpenVINO models with outputs known exactly, written as IR for the tests, and a tiny
PyTorch module with the operations new converters write in opsets newer than 2022.3 reads.
"""

import math
import statistics
import time

import numpy as np

from edge_perception.core.engine import compile_model, create_core
from edge_perception.core.openvino_compat import Model, opset, save_model, Type


def write_model(model, directory, name):
    """Save ``model`` as ``directory/name.xml`` and return that path."""
    path = directory / f'{name}.xml'
    save_model(model, path)
    return path


def red_channel_depth_model(height, width):
    """Depth = the model's first input channel: N x 3 x H x W -> N x 1 x H x W."""
    image = opset.parameter([1, 3, height, width], Type.f32, name='image')
    depth = opset.gather(image, opset.constant(np.array([0], dtype=np.int64)),
                         opset.constant(np.int64(1)))
    return Model([depth], [image], 'red_channel_depth')


def constant_depth_model(height, width, value):
    """Depth = ``value`` everywhere (the input only fixes the shape)."""
    image = opset.parameter([1, 3, height, width], Type.f32, name='image')
    zero = opset.multiply(opset.reduce_sum(image, opset.constant(np.array([1], np.int64)), True),
                          opset.constant(np.float32(0.0)))
    depth = opset.add(zero, opset.constant(np.float32(value)))
    return Model([depth], [image], 'constant_depth')


def passthrough_model(channels, height, width):
    """Output = input, so the preprocessed tensor itself can be inspected."""
    image = opset.parameter([1, channels, height, width], Type.f32, name='image')
    return Model([opset.multiply(image, opset.constant(np.float32(1.0)))], [image],
                 'passthrough')


def channel_mean_model(channels, height, width):
    """Output 1 x channels: the mean of each input channel, a 'class vector' known exactly."""
    image = opset.parameter([1, channels, height, width], Type.f32, name='image')
    means = opset.reduce_mean(image, opset.constant(np.array([2, 3], np.int64)), False)
    return Model([means], [image], 'channel_mean')


def gray_two_class_model(height, width):
    """Output 1 x 2 of a gray input: (mean, -mean)."""
    image = opset.parameter([1, 1, height, width], Type.f32, name='image')
    mean = opset.reduce_mean(image, opset.constant(np.array([2, 3], np.int64)), False)
    return Model([opset.concat([mean, opset.negative(mean)], 1)], [image], 'gray_two_class')


def slow_depth_model(size=512, repeats=40):
    """Depth = the first input channel (``size`` x ``size``), after ``repeats`` identity
    matrix products: as slow as :func:`repeats_for` makes it, the depth still exact.
    """
    image = opset.parameter([1, 3, size, size], Type.f32, name='image')
    red = opset.gather(image, opset.constant(np.array([0], dtype=np.int64)),
                       opset.constant(np.int64(1)))
    work = opset.reshape(red, opset.constant(np.array([size, size], np.int64)), False)
    identity = opset.constant(np.eye(size, dtype=np.float32))
    for _ in range(repeats):
        work = opset.matmul(identity, work, False, False)
    depth = opset.reshape(work, opset.constant(np.array([1, 1, size, size], np.int64)), False)
    return Model([depth], [image], 'slow_depth')


def repeats_for(target_ms, size=512, probe_repeats=8, samples=7):
    """Return how many matrix products make :func:`slow_depth_model` take ``target_ms`` here.

    Measured on this machine now (f32, as the overload tests run it), so a test that needs a
    model slower than a camera period gets one on any CPU, fast or slow.
    """
    core = create_core()
    compiled = compile_model(core, slow_depth_model(size, probe_repeats), 'CPU',
                             inference_precision='f32')
    request = compiled.create_infer_request()
    image = np.zeros((1, 3, size, size), np.float32)
    durations = []
    for index in range(samples + 2):
        started = time.perf_counter()
        request.infer({0: image})
        if index >= 2:  # the first runs allocate
            durations.append(time.perf_counter() - started)
    per_repeat_ms = statistics.median(durations) * 1e3 / probe_repeats
    return max(1, math.ceil(target_ms / per_repeat_ms))


def failing_depth_model(height, width, threshold=250.0):
    """Depth = the first input channel, and a real failure inside OpenVINO (a Reshape to an
    impossible shape, decided at run time) whenever a value of that channel exceeds
    ``threshold``: a test switches failures on and off by what it publishes.

    The impossible shape depends on how far the brightest value exceeds the threshold: the CPU
    plugin lets a failing frame through when the very same frame failed just before (it reuses
    a cached shape), so consecutive failing frames must differ in that value.
    """
    image = opset.parameter([1, 3, height, width], Type.f32, name='image')
    red = opset.gather(image, opset.constant(np.array([0], dtype=np.int64)),
                       opset.constant(np.int64(1)))
    brightest = opset.reduce_max(red, opset.constant(np.array([0, 1, 2, 3], np.int64)), False)
    excess = opset.convert(opset.ceiling(opset.maximum(
        opset.subtract(brightest, opset.constant(np.float32(threshold))),
        opset.constant(np.float32(0.0)))), 'i64')
    # [1, -1] normally; more rows than there are values when too bright: no shape fits.
    rows = opset.add(opset.constant(np.int64(1)),
                     opset.multiply(excess, opset.constant(np.int64(height * width))))
    shape = opset.concat([opset.reshape(rows, opset.constant(np.array([1], np.int64)), False),
                          opset.constant(np.array([-1], np.int64))], 0)
    flat = opset.reshape(red, shape, False)
    depth = opset.reshape(flat, opset.constant(np.array([1, 1, height, width], np.int64)), False)
    return Model([depth], [image], 'failing_depth')


def _random_features_times_zero(image, patch, seed):
    """A random-weight convolution of the image (kernel = stride = ``patch``, a ViT patch
    embedding) summed and multiplied by 0: the graph has a real network's first layer while
    the output stays known exactly.
    """
    weights = np.random.default_rng(seed).normal(0.0, 0.1, (8, 3, patch, patch))
    features = opset.convolution(image, opset.constant(weights.astype(np.float32)),
                                 [patch, patch], [0, 0], [0, 0], [1, 1])
    total = opset.reduce_sum(features, opset.constant(np.array([0, 1, 2, 3], np.int64)), False)
    return opset.multiply(total, opset.constant(np.float32(0.0)))


def midas_like_model(size=256, seed=0):
    """Static input like MiDaS small: 1 x 3 x size x size -> inverse relative depth
    1 x size x size, equal to the red input channel (random-weight first layer, zeroed).
    """
    image = opset.parameter([1, 3, size, size], Type.f32, name='image')
    red = opset.gather(image, opset.constant(np.array([0], dtype=np.int64)),
                       opset.constant(np.int64(1)))
    prediction = opset.add(opset.reshape(red, opset.constant(np.array([1, size, size],
                                                                      np.int64)), False),
                           _random_features_times_zero(image, 2, seed))
    return Model([prediction], [image], 'midas_like')


def depth_anything_like_model(patch=14, seed=0):
    """Dynamic height and width like Depth Anything: 1 x 3 x H x W (H, W multiples of
    ``patch``, a patch-embedding convolution with random weights) -> 1 x H x W, equal to the
    red input channel plus H: the output says at which size the model ran.
    """
    image = opset.parameter([1, 3, -1, -1], Type.f32, name='pixel_values')
    red = opset.gather(image, opset.constant(np.array([0], dtype=np.int64)),
                       opset.constant(np.int64(1)))
    rows = opset.convert(opset.gather(opset.shape_of(image), opset.constant(np.int64(2)),
                                      opset.constant(np.int64(0))), 'f32')
    prediction = opset.squeeze(opset.add(opset.add(red, rows),
                                         _random_features_times_zero(image, patch, seed)),
                               opset.constant(np.array([1], np.int64)))
    return Model([prediction], [image], 'depth_anything_like')


def pooling_and_resizing_net():
    """What makes the new converters write opset11 to opset16: pooling with ceil rounding
    (ceil_torch), average pooling, nearest and bilinear upsampling.
    """
    import torch
    from torch import nn

    class PoolingAndResizing(nn.Module):
        def __init__(self):
            super().__init__()
            self.features = nn.Sequential(nn.Conv2d(3, 8, 3, padding=1), nn.ReLU(),
                                          nn.MaxPool2d(3, 2, padding=1, ceil_mode=True))
            self.smooth = nn.AvgPool2d(3, 2, ceil_mode=True, count_include_pad=False)
            self.head = nn.Conv2d(8, 2, 1)

        def forward(self, image):
            features = self.features(image)
            coarse = nn.functional.interpolate(self.smooth(features), scale_factor=2.0,
                                               mode='nearest')
            fine = nn.functional.interpolate(features, size=coarse.shape[2:], mode='bilinear',
                                             align_corners=False)
            return self.head(coarse + fine)

    torch.manual_seed(0)
    return PoolingAndResizing().eval()
