"""What every edge_perception node shares: model parameters, the image subscription, the
inference pipeline, timing messages, ``/diagnostics`` and start-up error handling.

A head (depth, classification) subclasses :class:`InferenceNode`, adds its own parameters
and publishers, and turns model outputs into its messages in :meth:`publish_outputs`.
"""

import os
import time

from diagnostic_msgs.msg import DiagnosticArray, DiagnosticStatus, KeyValue
import rclpy
from rclpy.exceptions import ParameterException
from rclpy.executors import ExternalShutdownException
from rclpy.node import Node
from rclpy.qos import qos_profile_sensor_data, QoSProfile, QoSReliabilityPolicy
from rclpy.qos_overriding_options import QoSOverridingOptions
from sensor_msgs.msg import Image

from edge_perception.core.engine import (
    DeviceUnavailableError,
    INFERENCE_PRECISIONS,
    ModelLoadError,
    PERFORMANCE_HINTS,
)
from edge_perception.core.health import HealthMonitor, LEVEL_NAMES, NodeCounters, OK
from edge_perception.core.image_codec import ImageFormatError
from edge_perception.core.pipeline import (
    DEFAULT_MAX_SIDE,
    ImagePipeline,
    PipelineConfig,
    PREPROCESSING_MODES,
)
from edge_perception.core.preprocessing import Normalisation, PreprocessingError
from edge_perception.core.rate_meter import RateMeter
from edge_perception.messages import stamp_ns
from edge_perception.msg import InferenceTiming
from edge_perception.nodes.dds_profile import apply_large_message_profile
from edge_perception.nodes.parameters import choice_validator, declare_parameters, ParameterSpec

# Errors that stop a node at start with one clear message instead of a traceback.
STARTUP_ERRORS = (DeviceUnavailableError, ModelLoadError, ParameterException, ValueError)
WARN_PERIOD_S = 5.0
# What happens to pixel values (0-255) when neither the parameters nor the model give a value.
_UNSTATED_NORMALISATION = {'mean': 'no mean is subtracted', 'scale': 'they are not scaled'}


def model_parameters(default_model):
    """Return the parameters every inference node declares, with the head's bundled model."""
    return (
        ParameterSpec('model', '',
                      'Path to an OpenVINO IR (.xml with .bin beside it) or ONNX model; empty '
                      f'for the model bundled with the package ({default_model}).',
                      read_only=True),
        ParameterSpec('device', 'CPU',
                      'OpenVINO device: CPU, GPU, GPU.<n>, NPU, MYRIAD (Intel NCS2, needs '
                      'OpenVINO 2022.3 LTS), AUTO, AUTO:<list>, HETERO:<list>, MULTI:<list>.',
                      read_only=True),
        ParameterSpec('preprocessing', 'auto',
                      'Where resize, colour conversion and normalisation run: graph (inside the '
                      'compiled model), host (OpenCV), auto (graph, host if the device rejects '
                      'it).', choices=PREPROCESSING_MODES, read_only=True),
        ParameterSpec('mean', [],
                      "Per-channel mean subtracted from 0-255 pixel values, in the model's "
                      'channel order (one value applies to all channels), e.g. [123.675, '
                      "116.28, 103.53]. Unset: the model's own (model_info mean_values in the "
                      'IR), else 0.', read_only=True, element_type='double'),
        ParameterSpec('scale', [],
                      'Per-channel divisor applied after the mean, in 0-255 pixel units, e.g. '
                      "[58.395, 57.12, 57.375]. Unset: the model's own (model_info "
                      'scale_values), else 1.', read_only=True, element_type='double'),
        ParameterSpec('color_order', '',
                      "Channel order a colour model expects; empty: the model's own (model_info "
                      'reverse_input_channels), else RGB.', choices=('', 'RGB', 'BGR'),
                      read_only=True),
        ParameterSpec('performance_hint', 'LATENCY',
                      'OpenVINO performance hint: LATENCY for one stream, THROUGHPUT for many '
                      'requests in parallel.', choices=PERFORMANCE_HINTS, read_only=True),
        ParameterSpec('num_requests', 0,
                      'Parallel inference requests; 0 lets the device choose.',
                      value_range=(0, 16), read_only=True),
        ParameterSpec('inference_precision', 'default',
                      "Arithmetic precision on the device: default (the device's choice, bf16 "
                      'on CPUs that have it), f32 (the same outputs on every CPU, for '
                      'regression), bf16, f16.', choices=INFERENCE_PRECISIONS, read_only=True),
        ParameterSpec('fallback_devices', [],
                      "Devices tried in order when 'device' is absent at start or keeps "
                      "failing at run time, e.g. ['CPU']; the node warns, reports it on "
                      '/diagnostics and tries the configured device again with back-off. Unset: '
                      'an absent device stops the node at start.', read_only=True),
        ParameterSpec('max_width', DEFAULT_MAX_SIDE,
                      'Widest camera frame accepted, pixels; wider frames are refused (counted, '
                      'warned about) before any buffer is allocated for them.',
                      value_range=(1, 65535), read_only=True),
        ParameterSpec('max_height', DEFAULT_MAX_SIDE,
                      'Tallest camera frame accepted, pixels.', value_range=(1, 65535),
                      read_only=True),
        ParameterSpec('diagnostic_period', 1.0,
                      'Seconds between status reports on /diagnostics.',
                      value_range=(0.1, 60.0), read_only=True),
    )


class InferenceNode(Node):
    """Base node: camera image in, model outputs to :meth:`publish_outputs`, timing out.

    :param node_name: default node name.
    :param head_parameters: the head's own :class:`ParameterSpec` tuple.
    :param default_model: path of the bundled model.
    :param kwargs: passed to ``rclpy.node.Node`` (context, parameter_overrides, ...).
    """

    def __init__(self, node_name, head_parameters, default_model, **kwargs):
        super().__init__(node_name, **kwargs)
        self.pipeline = None
        try:
            self._start(head_parameters, default_model)
        except BaseException:
            super().destroy_node()
            raise

    def _start(self, head_parameters, default_model):
        specs = model_parameters(default_model) + head_parameters
        self.parameter_values = declare_parameters(self, specs)
        self._validate_choices = choice_validator(specs)
        self.add_on_set_parameters_callback(self._on_set_parameters)
        values = self.parameter_values
        model_path = values['model'] or str(default_model)
        self.model_name = os.path.basename(model_path)
        self.pipeline = ImagePipeline(
            PipelineConfig(
                model_path=model_path, device=values['device'],
                preprocessing=values['preprocessing'],
                normalisation=Normalisation(tuple(values['mean']), tuple(values['scale']),
                                            values['color_order']),
                performance_hint=values['performance_hint'],
                num_requests=values['num_requests'],
                output_postprocessing=self.output_postprocessing(),
                inference_precision=values['inference_precision'],
                fallback_devices=tuple(values['fallback_devices']),
                max_width=values['max_width'], max_height=values['max_height']),
            self._on_result, self._on_inference_error, on_event=self._on_compiled)
        if self.pipeline.fallback_reason:
            self.get_logger().warning(self.pipeline.fallback_reason)
        self._log_normalisation(values)
        self.frames_received = 0
        self.frames_rejected = 0
        self.frames_processed = 0
        self.output_failures = 0
        self._rate_meter = RateMeter()
        self._health = HealthMonitor()
        self._reported_level = OK
        self.timing_publisher = self.create_output_publisher(InferenceTiming, 'inference_timing')
        self.diagnostics_publisher = self.create_publisher(DiagnosticArray, '/diagnostics', 10)
        self.create_outputs()
        self.image_subscription = self.create_subscription(
            Image, 'image', self._on_image, _sensor_data_qos(depth=1))
        self.create_timer(values['diagnostic_period'], self._publish_diagnostics)
        self.get_logger().info(
            f"'{model_path}' on {self.pipeline.device} (OpenVINO), preprocessing "
            f"'{values['preprocessing']}'; waiting for images on "
            f"'{self.image_subscription.topic_name}'")

    def _log_normalisation(self, values):
        normalisation = self.pipeline.normalisation
        given = [name for name in ('mean', 'scale', 'color_order') if values[name]]
        self.get_logger().info(
            f'normalisation (x - {list(normalisation.mean)}) / {list(normalisation.scale)}, '
            f'{normalisation.color_order}: ' + (f"{', '.join(given)} from parameters, the rest "
                                                if given else '') + 'as the model states')
        unstated = [name for name in self.pipeline.unstated_normalisation
                    if name in _UNSTATED_NORMALISATION]
        if unstated:
            self.get_logger().warning(
                f"'{self.model_name}' states no {' or '.join(unstated)} (model_info in the IR) "
                f"and none was given, so {' and '.join(map(_UNSTATED_NORMALISATION.get, unstated))}"
                ". Set the 'mean' and 'scale' parameters, or convert the model with --mean and "
                '--scale.')

    @property
    def device(self):
        """The OpenVINO device in use (a fallback when the configured one failed)."""
        return self.pipeline.device

    def output_postprocessing(self):
        """Return an ``ov.Model -> ov.Model`` function adding output steps, or None."""
        return None

    def create_outputs(self):
        """Create the head's publishers and subscriptions (called before images arrive)."""

    def validate_parameter_change(self, changes):
        """Return an error string when ``changes`` ({name: value}) must be refused, else ''."""
        return ''

    def apply_parameter_change(self, changes):
        """Take accepted runtime parameter ``changes`` ({name: value}) into use."""

    def publish_outputs(self, image_msg, outputs):
        """Publish the head's messages for one frame; called from an OpenVINO thread.

        :param image_msg: the input ``sensor_msgs/Image``.
        :param outputs: list of the model's output arrays.
        """
        raise NotImplementedError

    def create_output_publisher(self, msg_type, topic):
        """Reliable, depth-1 publisher whose QoS users can override with parameters."""
        return self.create_publisher(
            msg_type, topic, QoSProfile(depth=1, reliability=QoSReliabilityPolicy.RELIABLE),
            qos_overriding_options=QoSOverridingOptions.with_default_policies())

    def _on_set_parameters(self, parameters):
        result = self._validate_choices(parameters)
        if not result.successful:
            return result
        changes = {parameter.name: parameter.value for parameter in parameters
                   if parameter.name in self.parameter_values}
        reason = self.validate_parameter_change(changes)
        if reason:
            result.successful, result.reason = False, reason
            return result
        if changes:  # QoS override declarations come through here with none of ours
            self.parameter_values.update(changes)
            self.apply_parameter_change(changes)
        return result

    def _on_image(self, msg):
        self.frames_received += 1
        self._health.image_received()
        try:
            self.pipeline.process(msg.height, msg.width, msg.encoding, bool(msg.is_bigendian),
                                  msg.step, msg.data, msg)
        except (ImageFormatError, PreprocessingError) as error:
            self.frames_rejected += 1
            self.get_logger().warning(f'dropping image: {error}',
                                      throttle_duration_sec=WARN_PERIOD_S)
            return
        except Exception as error:  # the stream cannot be compiled now: keep serving, say why
            self.frames_rejected += 1
            self.get_logger().error(f'cannot run the model on this image: {error}',
                                    throttle_duration_sec=WARN_PERIOD_S)

    def _on_compiled(self, event):
        """Log what a compilation did (called from the pipeline's compilation thread)."""
        stream = f'{event.width}x{event.height} {event.encoding} on {event.device}'
        if event.error:
            self.get_logger().error(f'cannot compile for {stream} (will retry): {event.error}')
            return
        reason = f' ({event.reason})' if event.reason else ''
        self.get_logger().info(f'compiled for {stream} with {event.preprocessing} '
                               f'preprocessing{reason}')

    def _on_result(self, image_msg, outputs, timing):
        postprocess_started = time.perf_counter()
        try:
            self.publish_outputs(image_msg, outputs)
        except Exception as error:  # one bad frame must not stop the stream
            self.output_failures += 1
            self.get_logger().error(f'cannot publish results: {error}',
                                    throttle_duration_sec=WARN_PERIOD_S)
            return
        published = time.perf_counter()
        self.frames_processed += 1
        self._publish_timing(image_msg.header, timing, (published - postprocess_started) * 1e3,
                             (published - timing.received) * 1e3)

    def _on_inference_error(self, image_msg, error):
        self.get_logger().error(
            f'inference failed ({self.pipeline.consecutive_failures} in a row): {error}; '
            'recreating the infer requests for the next frame',
            throttle_duration_sec=WARN_PERIOD_S)

    def _publish_diagnostics(self):
        report = self._health.report(self.pipeline, NodeCounters(
            self.frames_received, self.frames_processed, self.frames_rejected,
            self.output_failures))
        status = DiagnosticStatus()
        status.level = bytes([report.level])
        status.name = f'{self.get_name()}: inference'
        status.message = report.message
        status.hardware_id = self.pipeline.device
        status.values = [KeyValue(key=key, value=value) for key, value in report.values.items()]
        msg = DiagnosticArray()
        msg.header.stamp = self.get_clock().now().to_msg()
        msg.status = [status]
        self.diagnostics_publisher.publish(msg)
        if report.level != self._reported_level:
            # rclpy fixes a log call site's severity on first use: one call per severity.
            if report.level == OK:
                self.get_logger().info(f'status OK: {report.message}')
            else:
                self.get_logger().warning(f'status {LEVEL_NAMES[report.level]}: '
                                          f'{report.message}')
            self._reported_level = report.level

    def _publish_timing(self, header, timing, postprocess_ms, total_ms):
        msg = InferenceTiming()
        msg.header = header
        msg.model = self.model_name
        msg.device = self.device
        msg.preprocessing = self.pipeline.preprocessing_in_use or ''
        msg.preprocess_ms = timing.preprocess_ms
        msg.inference_ms = timing.inference_ms
        msg.postprocess_ms = postprocess_ms
        msg.total_ms = total_ms
        msg.latency_ms = (self.get_clock().now().nanoseconds - stamp_ns(header)) / 1e6
        msg.fps = self._rate_meter.tick()
        msg.frames_received = self.frames_received
        msg.frames_processed = self.frames_processed
        msg.frames_dropped = self.pipeline.frames_dropped
        msg.frames_rejected = self.frames_rejected
        self.timing_publisher.publish(msg)

    def destroy_node(self):
        if self.pipeline is not None:
            self.pipeline.close()
        return super().destroy_node()


def _sensor_data_qos(depth):
    return QoSProfile(history=qos_profile_sensor_data.history, depth=depth,
                      reliability=qos_profile_sensor_data.reliability,
                      durability=qos_profile_sensor_data.durability)


def run_node(node_class, args=None):
    """Run ``node_class`` until shutdown; the body of every node command.

    :return: process exit code: 0 after a normal shutdown, 1 when the node could not start.
    """
    apply_large_message_profile()
    rclpy.init(args=args)
    try:
        node = node_class()
    except STARTUP_ERRORS as error:
        rclpy.logging.get_logger('edge_perception').fatal(f'cannot start: {error}')
        rclpy.try_shutdown()
        return 1
    try:
        rclpy.spin(node)
    except (KeyboardInterrupt, ExternalShutdownException):
        pass
    finally:
        node.destroy_node()
        rclpy.try_shutdown()
    return 0
