"""What the Intel NCS2 (MYRIAD) needs from the package, checked where there is no stick.

MYRIAD compiles only static shapes, so every graph the pipeline compiles for a camera stream
must be static with a batch of one, in-graph and host preprocessing alike; without the plugin
(OpenVINO's PyPI wheels, 2022.3.2 included, never had it; later releases have none) asking for
it says in one line where it comes from, and ``fallback_devices: [CPU]`` serves. These run in
every core-test environment, the Python 3.10 one with OpenVINO 2022.3.2 among them.
"""

from pathlib import Path
import queue

import numpy as np
import pytest

from edge_perception.core.engine import (
    check_device,
    create_core,
    DeviceUnavailableError,
    load_model,
)
from edge_perception.core.image_codec import array_to_image_fields
from edge_perception.core.model_info import read_model_info
from edge_perception.core.openvino_compat import openvino_version
from edge_perception.core.pipeline import ImagePipeline, PipelineConfig
from edge_perception.core.preprocessing import embed_preprocessing, resolve_normalisation

MODELS = Path(__file__).resolve().parents[2] / 'models'
SHIPPED = {'fastdepth': MODELS / 'fastdepth' / 'fastdepth.xml',
           'digits': MODELS / 'digits' / 'digit_classifier.xml'}
CAMERA_SIZES = ((480, 640), (240, 424))


@pytest.fixture(scope='module')
def core():
    core = create_core()
    if 'MYRIAD' in core.available_devices:
        pytest.skip('an NCS2 is plugged in and its plugin installed')
    return core


def dynamic_outputs(model):
    return [f'{node.get_friendly_name()}: {node.get_output_partial_shape(index)}'
            for node in model.get_ordered_ops() for index in range(node.get_output_size())
            if node.get_output_partial_shape(index).is_dynamic]


def test_myriad_without_its_plugin_says_in_one_line_where_it_comes_from(core):
    with pytest.raises(DeviceUnavailableError) as error:
        check_device(core, 'MYRIAD')
    message = str(error.value)
    assert '\n' not in message
    for words in ("'MYRIAD' is not available", 'OpenVINO 2022.3 LTS archive install',
                  'not the PyPI wheels', 'setupvars.sh', 'udev rules',
                  'install_NCS_udev_rules.sh', 'docs/ncs2.md',
                  f"this is OpenVINO {openvino_version().split('-')[0]}"):
        assert words in message, message


@pytest.mark.parametrize('name', SHIPPED)
def test_every_graph_compiled_for_a_camera_is_static_with_a_batch_of_one(core, name):
    # The shipped FastDepth IR leaves its batch dynamic; loading fixes it to one.
    model = load_model(core, SHIPPED[name])
    assert list(model.inputs[0].get_partial_shape().to_shape())[0] == 1
    assert dynamic_outputs(model) == []  # what the host-preprocessing path compiles
    normalisation, _ = resolve_normalisation(read_model_info(model))
    for height, width in CAMERA_SIZES:
        embedded = embed_preprocessing(load_model(core, SHIPPED[name]), 'bgr8', height, width,
                                       normalisation)
        assert list(embedded.inputs[0].get_partial_shape().to_shape()) == [1, height, width, 3]
        assert dynamic_outputs(embedded) == []


@pytest.mark.parametrize('preprocessing', ['auto', 'host'])
def test_myriad_with_a_cpu_fallback_serves_the_shipped_depth_model(core, preprocessing):
    results, events = queue.Queue(), queue.Queue()
    pipeline = ImagePipeline(
        PipelineConfig(str(SHIPPED['fastdepth']), 'MYRIAD', preprocessing,
                       fallback_devices=('CPU',), num_requests=1),
        lambda context, outputs, timing: results.put((context, outputs)),
        lambda context, error: results.put((context, error)), core=core,
        on_event=events.put)
    try:
        assert pipeline.device == 'CPU'
        assert "using fallback device 'CPU'" in pipeline.fallback_reason
        assert 'udev rules' in pipeline.fallback_reason
        generator = np.random.default_rng(0)
        for context, (height, width) in enumerate(CAMERA_SIZES):
            image = generator.integers(0, 256, (height, width, 3), np.uint8)
            frame = array_to_image_fields(image, 'bgr8')
            pipeline.process(frame._replace(data=bytearray(frame.data)), context)
            done, outputs = results.get(timeout=60)
            assert done == context and not isinstance(outputs, Exception), outputs
            depth = np.asarray(outputs[0])
            assert depth.shape[0] == 1 and np.isfinite(depth).all() and depth.max() > 0
            event = events.get(timeout=1)
            assert (event.device, event.height, event.width, event.error) == (
                'CPU', height, width, '')
            assert event.preprocessing == ('graph' if preprocessing == 'auto' else 'host')
    finally:
        pipeline.close()
