#!/usr/bin/env python3
"""What each camera encoding costs at 640x480, and decoding compressed images, measured in one
run on this machine (run with .venv/bin/python; no ROS needed).

For every encoding the nodes accept: the path its frames take with the default preprocessing
('auto', in the graph on the CPU) for a colour model (the bundled FastDepth) and its cost
beside ``rgb8``:

* direct: the compiled preprocessing takes the frame as it is;
* graph: the compiled preprocessing converts its colours too (NV12, I420);
* host: OpenCV converts it into the stream's buffer first, which is then copied into an
  OpenVINO tensor (the buffer is reused while earlier frames may still be read).

The compiled preprocessing (u8 camera buffer to FastDepth's normalised 1x3x224x224 input) is
timed for the encoding fed to it against ``rgb8``'s, in interleaved rounds, on a model whose
body does nothing, so that inference does not hide the difference. Then JPEG and PNG decoding
of a 640x480 frame of the demo recording, compressed as image_transport's ``compressed``
transport does by default (JPEG quality 95, PNG level 3).
"""

import argparse
import datetime
from functools import partial
import os
import platform
import statistics
import time

import cv2
import numpy as np

from edge_perception.bags.reader import read_depth_bag
from edge_perception.core.compressed_image import decode_compressed_image
from edge_perception.core.engine import compile_model, create_core, load_model
from edge_perception.core.image_codec import (
    array_to_image_fields,
    CAMERA_ENCODINGS,
    ENCODINGS,
)
from edge_perception.core.model_info import read_model_info
from edge_perception.core.openvino_compat import Model, openvino_version, opset, Tensor, Type
from edge_perception.core.preprocessing import (
    embed_preprocessing,
    HostConversion,
    ModelInput,
    plan_input,
    resolve_normalisation,
)
from edge_perception.package_paths import shared_file
from edge_perception.toolchain.benchmarking import call_times_ms

WIDTH, HEIGHT = 640, 480
FASTDEPTH = ('models', 'fastdepth', 'fastdepth.xml')
DEMO_BAG = ('data', 'demo_depth_bag')
# image_transport's compressed publisher defaults (ROS 2): jpeg_quality 95, png_level 3.
JPEG_QUALITY, PNG_LEVEL = 95, 3


def timed(function, repeats):
    """Return the median wall time of ``function()``, in milliseconds."""
    return call_times_ms(function, repeats)[0]


def interleaved(functions, repeats, round_size=10, warmup=10):
    """Return the median wall time (ms) of each of ``functions``, timed in alternating rounds
    so that all of them see the same machine load.
    """
    samples = [[] for _ in functions]
    for function in functions:
        for _ in range(warmup):
            function()
    for _ in range(max(1, repeats // round_size)):
        for function, times in zip(functions, samples, strict=True):
            for _ in range(round_size):
                started = time.perf_counter()
                function()
                times.append((time.perf_counter() - started) * 1e3)
    return [statistics.median(times) for times in samples]


def camera_frame(encoding, rng):
    """Return a random ``encoding`` frame as an ``ImageFrame`` (conversion costs do not depend
    on content).
    """
    info = ENCODINGS[encoding]
    rows = HEIGHT * 3 // 2 if info.planar else HEIGHT
    shape = (rows, WIDTH) if info.channels == 1 else (rows, WIDTH, info.channels)
    top = np.iinfo(info.dtype).max + 1
    return array_to_image_fields(rng.integers(0, top, shape).astype(info.dtype), encoding)


def no_op_model(model_input):
    """Return a model of ``model_input``'s shape whose body does nothing (output = input x 1)."""
    image = opset.parameter([1, model_input.channels, model_input.height, model_input.width],
                            Type.f32, name=model_input.name)
    return Model([opset.multiply(image, opset.constant(np.float32(1.0)))], [image], 'no_op')


def cpu_name():
    try:
        with open('/proc/cpuinfo') as cpuinfo:
            for line in cpuinfo:
                if line.startswith('model name'):
                    return line.split(':', 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--repeats', type=int, default=200, help='timed runs of each step')
    args = parser.parse_args()

    core = create_core()
    fastdepth = load_model(core, shared_file(*FASTDEPTH))
    model_input = ModelInput.of(fastdepth)
    normalisation, _ = resolve_normalisation(read_model_info(fastdepth))
    rng = np.random.default_rng(0)

    requests = {}  # fed encoding -> infer request of its compiled preprocessing

    def preprocessing_run(fed_encoding, image):
        """Return a function running the compiled preprocessing of ``fed_encoding`` on ``image``."""
        if fed_encoding not in requests:
            compiled = compile_model(core, embed_preprocessing(
                no_op_model(model_input), fed_encoding, HEIGHT, WIDTH, normalisation), 'CPU')
            requests[fed_encoding] = compiled.create_infer_request()
        request = requests[fed_encoding]
        tensor = Tensor(np.ascontiguousarray(image).reshape(1, *image.shape[:2], -1))
        return lambda: request.infer([tensor])

    rgb8_run = preprocessing_run('rgb8', camera_frame('rgb8', rng).image)
    compiled_ms = {}  # fed encoding -> (its compiled preprocessing, rgb8's in the same rounds)
    rows = []
    for encoding in CAMERA_ENCODINGS:
        image = camera_frame(encoding, rng).image
        plan = plan_input(encoding, model_input, normalisation, in_graph=True)
        host_plan = plan_input(encoding, model_input, normalisation, in_graph=False)
        conversion_ms = copy_ms = None
        fed_image = image
        if host_plan.path == 'host':  # NV12 and I420 too, for devices without the graph
            conversion = HostConversion(host_plan, HEIGHT, WIDTH)
            conversion_ms = timed(partial(conversion, image), args.repeats)
        if plan.path == 'host':
            fed_image = conversion(image)
            copy_ms = timed(partial(Tensor, fed_image.reshape(1, *fed_image.shape[:2], -1),
                                    shared_memory=False), args.repeats)
        if plan.fed_encoding not in compiled_ms:
            rgb8_ms, fed_ms = interleaved(
                [rgb8_run, preprocessing_run(plan.fed_encoding, fed_image)], args.repeats)
            compiled_ms[plan.fed_encoding] = fed_ms, rgb8_ms
        fed_ms, rgb8_ms = compiled_ms[plan.fed_encoding]
        # The same graph as rgb8's costs nothing more: its measured difference is noise.
        extra = 0.0 if plan.fed_encoding == 'rgb8' else fed_ms - rgb8_ms
        if plan.path == 'host':
            extra += conversion_ms + copy_ms
        rows.append((encoding, plan, conversion_ms, copy_ms, fed_ms, rgb8_ms, extra))

    frame = read_depth_bag(shared_file(*DEMO_BAG))[0].rgb
    bgr = cv2.cvtColor(frame, cv2.COLOR_RGB2BGR)
    mono16 = cv2.cvtColor(frame, cv2.COLOR_RGB2GRAY).astype(np.uint16) * 257
    compressed = [
        ('rgb8; jpeg compressed bgr8', '.jpg', bgr, [cv2.IMWRITE_JPEG_QUALITY, JPEG_QUALITY]),
        ('rgb8; png compressed bgr8', '.png', bgr, [cv2.IMWRITE_PNG_COMPRESSION, PNG_LEVEL]),
        ('mono16; png compressed mono16', '.png', mono16,
         [cv2.IMWRITE_PNG_COMPRESSION, PNG_LEVEL]),
    ]
    decoded = []
    for compressed_format, extension, image, parameters in compressed:
        payload = cv2.imencode(extension, image, parameters)[1].tobytes()
        decode_ms = timed(partial(decode_compressed_image, compressed_format, payload),
                          args.repeats)
        decoded.append((compressed_format, len(payload), decode_ms))

    print(f'Measured on {datetime.date.today().isoformat()}: {cpu_name()}, {os.cpu_count()} '
          f'cores, Python {platform.python_version()}, OpenVINO {openvino_version()}, OpenCV '
          f'{cv2.__version__}, CPU device, {WIDTH}x{HEIGHT}, medians of {args.repeats} runs.')
    print()
    print('| encoding | path (graph preprocessing) | host conversion ms | copy to tensor ms | '
          'compiled preprocessing ms (rgb8 in the same rounds) | extra vs rgb8 ms |')
    print('|---|---|---|---|---|---|')
    for encoding, plan, conversion_ms, copy_ms, preprocessing_ms, rgb8_ms, extra in rows:
        if plan.path == 'host':
            path = f'host: OpenCV to {plan.fed_encoding}'
        elif plan.path == 'graph':
            path = 'graph: PrePostProcessor'
        else:
            path = 'direct'
        conversion = '—' if conversion_ms is None else f'{conversion_ms:.2f}'
        if plan.path == 'graph':
            conversion = f'— (host mode: {conversion_ms:.2f})'
        copy = '—' if copy_ms is None else f'{copy_ms:.2f}'
        print(f'| `{encoding}` | {path} | {conversion} | {copy} | {preprocessing_ms:.2f} '
              f'({rgb8_ms:.2f}) | {extra:+.2f} |')
    fed_ms, rgb8_ms = compiled_ms['rgb8']
    print()
    print(f"rgb8's compiled preprocessing timed against itself in the same rounds: "
          f'{fed_ms - rgb8_ms:+.2f} ms apart (the noise of the differences above).')
    print()
    print('| CompressedImage format | bytes | decode ms |')
    print('|---|---|---|')
    for compressed_format, size, decode_ms in decoded:
        print(f'| `{compressed_format}` | {size} | {decode_ms:.2f} |')


if __name__ == '__main__':
    main()
