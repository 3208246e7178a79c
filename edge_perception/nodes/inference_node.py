"""What every edge_perception node shares: model parameters, the managed (lifecycle) states,
the image subscription, the inference pipeline, timing messages, ``/diagnostics`` and start-up
error handling.

A head (depth, classification) subclasses :class:`InferenceNode`, adds its own parameters,
publishers and inputs, and turns model outputs into its messages in :meth:`publish_outputs`.

The lifecycle, as Nav2's and ``lifecycle_py``'s nodes do it: ``configure`` reads and checks the
parameters and the model file and creates the publishers; ``activate`` compiles on the device
and subscribes; ``deactivate`` unsubscribes and releases the device (every compiled model and
infer request, so another process can use an NCS2 or an NPU); ``cleanup`` and ``shutdown``
release everything; ``on_error`` releases the device. With ``autostart`` (the default) the node
configures and activates itself, so it works with no lifecycle manager.
"""

import os
import time
import traceback
from typing import NamedTuple

from diagnostic_msgs.msg import DiagnosticArray, DiagnosticStatus, KeyValue
from rclpy.exceptions import ParameterException
from rclpy.lifecycle import LifecycleNode, TransitionCallbackReturn
from rclpy.qos_overriding_options import QoSOverridingOptions
from rclpy.task import Future
from sensor_msgs.msg import CompressedImage, Image

from edge_perception.core.compressed_image import decode_compressed_image
from edge_perception.core.engine import (
    DeviceUnavailableError,
    ModelLoadError,
)
from edge_perception.core.health import (
    HealthMonitor,
    LEVEL_NAMES,
    lifecycle_report,
    NodeCounters,
    OK,
)
from edge_perception.core.image_codec import ImageFormatError
from edge_perception.core.pipeline import (
    DeviceReleasedError,
    ImagePipeline,
    PipelineConfig,
    StreamCompileError,
)
from edge_perception.core.preprocessing import Normalisation, PreprocessingError
from edge_perception.core.rate_meter import RateMeter
from edge_perception.messages import stamp_ns
from edge_perception.msg import InferenceTiming
from edge_perception.nodes.lifecycle_compat import refuse_unavailable_transitions
from edge_perception.nodes.parameter_tables import model_parameters
from edge_perception.nodes.parameters import choice_validator, declare_parameters
from edge_perception.nodes.qos import camera_qos, output_qos
from edge_perception.nodes.spinning import spin_until_shutdown, start_node


class DecodedFrame(NamedTuple):
    """A decoded ``CompressedImage`` with the fields of an ``Image``, as the heads read frames
    (``data`` is the decoded array, shared with OpenVINO: the frame keeps it alive).
    """

    header: object
    height: int
    width: int
    encoding: str
    is_bigendian: bool
    step: int
    data: object


class TransitionError(RuntimeError):
    """A lifecycle transition of the node failed; the message says which and why."""


# Errors that stop a node at start (autostart) with one clear message instead of a traceback.
STARTUP_ERRORS = (DeviceUnavailableError, ModelLoadError, ParameterException, ValueError,
                  TransitionError)
WARN_PERIOD_S = 5.0
# What a frame refused as bad input raises: the package's own input errors (the message's
# fields, encoding, size or compressed data; an encoding this model cannot take). Counted in
# frames_rejected with a warning.
BAD_INPUT_ERRORS = (ImageFormatError, PreprocessingError)
# A frame that cannot be served now for a reason /diagnostics already reports: its stream's
# compilation failed (retried with back-off), or the device is released. Counted as rejected.
UNSERVED_ERRORS = (StreamCompileError, DeviceReleasedError)
# What happens to pixel values (0-255) when neither the parameters nor the model give a value.
_UNSTATED_NORMALISATION = {'mean': 'no mean is subtracted', 'scale': 'they are not scaled'}
UNCONFIGURED, INACTIVE, ACTIVE, FINALIZED = 'unconfigured', 'inactive', 'active', 'finalized'


class InferenceNode(LifecycleNode):
    """Base node: camera image in, model outputs to :meth:`publish_outputs`, timing out.

    :param node_name: default node name.
    :param head_parameters: the head's own :class:`ParameterSpec` tuple.
    :param default_model: path of the bundled model.
    :param kwargs: passed to ``rclpy.lifecycle.LifecycleNode`` (context, parameter_overrides,
        ...).
    :raises: with ``autostart``, why configure or activate failed (one of
        :data:`STARTUP_ERRORS`).
    """

    def __init__(self, node_name, head_parameters, default_model, **kwargs):
        super().__init__(node_name, **kwargs)
        refuse_unavailable_transitions(self)
        self.pipeline = None
        try:
            self._start(head_parameters, default_model)
        except BaseException:
            self.destroy_node()
            raise

    def _start(self, head_parameters, default_model):
        self.lifecycle_state = UNCONFIGURED
        specs = model_parameters(default_model) + head_parameters
        self._default_model = default_model
        self._configure_time_names = {spec.name for spec in specs if spec.at_configure}
        self.parameter_values = declare_parameters(self, specs)
        self._validate_choices = choice_validator(specs)
        self.add_on_set_parameters_callback(self._on_set_parameters)
        self.transition_error = ''
        self._transition_exception = None
        self.model_name = ''
        self.frames_received = 0
        self.frames_rejected = 0
        self.frames_processed = 0
        self.output_failures = 0
        self.internal_errors = 0
        self.last_internal_error = ''
        self._rate_meter = RateMeter()
        self._health = HealthMonitor()
        self._reported_level = OK
        self.timing_publisher = None
        self.image_subscription = None
        self.finalized = Future()  # done after the shutdown transition: the process may end
        self.diagnostics_publisher = self.create_publisher(DiagnosticArray, '/diagnostics', 10)
        self.create_timer(self.parameter_values['diagnostic_period'], self._publish_diagnostics)
        if self.parameter_values['autostart']:
            for trigger in (self.trigger_configure, self.trigger_activate):
                if trigger() != TransitionCallbackReturn.SUCCESS:
                    error = self._transition_exception
                    if isinstance(error, STARTUP_ERRORS):
                        raise error
                    raise TransitionError(self.transition_error) from error

    # Lifecycle transitions.

    def on_configure(self, state):
        try:
            self._configure()
        except Exception as error:  # any failure leaves the node unconfigured, saying why
            self._close_pipeline()
            return self._transition_failed('configure', error)
        return self._transition_done(INACTIVE, state, super().on_configure)

    def on_activate(self, state):
        try:
            self.pipeline.claim_device()
        except Exception as error:  # the device is absent or rejects the model: stay inactive
            return self._transition_failed('activate', error)
        if self.pipeline.fallback_reason:
            self.get_logger().warning(self.pipeline.fallback_reason)
        self._health = HealthMonitor()
        self._subscribe()
        self.get_logger().info(
            f"active: '{self.model_name}' on {self.pipeline.device} (OpenVINO), preprocessing "
            f"'{self.parameter_values['preprocessing']}'; waiting for images on "
            f"'{self.image_subscription.topic_name}'")
        return self._transition_done(ACTIVE, state, super().on_activate)

    def on_deactivate(self, state):
        self._unsubscribe()
        self.pipeline.release_device()
        self.get_logger().info(f'inactive: released {self.pipeline.device}')
        return self._transition_done(INACTIVE, state, super().on_deactivate)

    def on_cleanup(self, state):
        self._close_pipeline()
        return self._transition_done(UNCONFIGURED, state, super().on_cleanup)

    def on_shutdown(self, state):
        self._unsubscribe()
        self._close_pipeline()
        result = self._transition_done(FINALIZED, state, super().on_shutdown)
        self.finalized.set_result(True)
        return result

    def on_error(self, state):
        self._unsubscribe()
        self._close_pipeline()
        self.transition_error = self.transition_error or f'error while {state.label}'
        self.get_logger().error(f'lifecycle error while {state.label}: device released, '
                                'node unconfigured')
        return self._transition_done(UNCONFIGURED, state, super().on_error)

    def _transition_done(self, new_state, state, entities_transition):
        result = entities_transition(state)  # the lifecycle publishers follow the node
        if result == TransitionCallbackReturn.SUCCESS:
            self.lifecycle_state = new_state
            self.transition_error = ''
            self._transition_exception = None
        return result

    def _transition_failed(self, transition, error):
        self.transition_error = f'{transition} failed: {error}'
        self._transition_exception = error
        self.get_logger().error(self.transition_error)
        return TransitionCallbackReturn.FAILURE

    def _configure(self):
        values = self.parameter_values
        inconsistent = self.validate_parameter_change({})
        if inconsistent:
            raise ValueError(inconsistent)
        model_path = values['model'] or str(self._default_model)
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
                max_width=values['max_width'], max_height=values['max_height'],
                input_size=self.model_input_size(), input_crop=values['input_crop']),
            self._on_result, self._on_inference_error, on_event=self._on_compiled)
        self.configure_head()
        self._log_normalisation(values)
        if self.timing_publisher is None:
            # Created once and kept through cleanup: a lifecycle publisher sends nothing unless
            # the node is active, and destroying it would leave its QoS override parameters
            # declared (rclpy refuses to declare them again on some distributions).
            self.timing_publisher = self.create_output_publisher(InferenceTiming,
                                                                 'inference_timing')
            self.create_outputs()

    def _subscribe(self):
        if self.parameter_values['image_transport'] == 'compressed':
            # The base topic's resolved name + '/compressed', as image_transport names it, so
            # remapping 'image' moves both transports.
            self.image_subscription = self.create_subscription(
                CompressedImage, self.resolve_topic_name('image') + '/compressed',
                self._on_compressed_image, camera_qos())
        else:
            self.image_subscription = self.create_subscription(
                Image, 'image', self._on_image, camera_qos())
        self.create_inputs()

    def _unsubscribe(self):
        if self.image_subscription is not None:
            self.destroy_subscription(self.image_subscription)
            self.image_subscription = None
        self.destroy_inputs()

    def _close_pipeline(self):
        if self.pipeline is not None:
            self.pipeline.close()
            self.pipeline = None

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
        return self.pipeline.device if self.pipeline is not None else \
            self.parameter_values['device']

    # What a head provides.

    def output_postprocessing(self):
        """Return an ``ov.Model -> ov.Model`` function adding output steps, or None."""
        return None

    def model_input_size(self):
        """Return the input size for a model with dynamic input height and width; 0 refuses
        such models.
        """
        return 0

    def head_reports(self):
        """Return the head's own ``/diagnostics`` statuses, ``{name: HealthReport}``."""
        return {}

    def configure_head(self):
        """Check the model fits the head and build the head (on every configure).

        :raises ValueError: when it does not fit.
        """

    def create_outputs(self):
        """Create the head's publishers (on the first configure; they are kept)."""

    def create_inputs(self):
        """Subscribe to the head's own inputs besides the image (on activate)."""

    def destroy_inputs(self):
        """Unsubscribe what :meth:`create_inputs` subscribed (on deactivate and shutdown)."""

    def validate_parameter_change(self, changes):
        """Return an error string when ``changes`` ({name: value}) must be refused, else ''."""
        return ''

    def apply_parameter_change(self, changes):
        """Take accepted runtime parameter ``changes`` ({name: value}) into use."""

    def publish_outputs(self, image_msg, outputs):
        """Publish the head's messages for one frame; called from an OpenVINO thread.

        :param image_msg: the input ``sensor_msgs/Image``, or the :class:`DecodedFrame` of a
            compressed one: header, height, width, encoding, is_bigendian, step, data.
        :param outputs: list of the model's output arrays.
        """
        raise NotImplementedError

    def create_output_publisher(self, msg_type, topic):
        """Reliable, depth-1 lifecycle publisher (silent unless the node is active) whose QoS
        users can override with parameters.
        """
        return self.create_lifecycle_publisher(
            msg_type, topic, output_qos(),
            qos_overriding_options=QoSOverridingOptions.with_default_policies())

    # Callbacks.

    def _on_set_parameters(self, parameters):
        result = self._validate_choices(parameters)
        if not result.successful:
            return result
        changes = {parameter.name: parameter.value for parameter in parameters
                   if parameter.name in self.parameter_values}
        at_configure = sorted(name for name in changes if name in self._configure_time_names)
        if at_configure and self.lifecycle_state != UNCONFIGURED:
            result.successful = False
            result.reason = (f"{', '.join(at_configure)}: read when the node is configured; "
                             'deactivate and clean it up (lifecycle) to change it')
            return result
        reason = self.validate_parameter_change(changes)
        if reason:
            result.successful, result.reason = False, reason
            return result
        if changes:  # QoS override declarations come through here with none of ours
            self.parameter_values.update(changes)
            if self.lifecycle_state != UNCONFIGURED:
                self.apply_parameter_change(changes)
        return result

    def _on_image(self, msg):
        self._take(self._process, msg, 'image')

    def _on_compressed_image(self, msg):
        self._take(self._process_compressed, msg, 'compressed image')

    def _take(self, process, msg, kind):
        """Count a frame in and process it; no exception leaves the callback.

        Anything raised but :data:`BAD_INPUT_ERRORS` and :data:`UNSERVED_ERRORS` is a bug, not
        bad input: counted in ``internal_errors``, logged with its traceback, ERROR on
        /diagnostics.
        """
        self.frames_received += 1
        self._health.image_received()
        try:
            process(msg)
        except BAD_INPUT_ERRORS as error:
            self.frames_rejected += 1
            self.get_logger().warning(f'dropping {kind}: {error}',
                                      throttle_duration_sec=WARN_PERIOD_S)
        except UNSERVED_ERRORS as error:
            self.frames_rejected += 1
            self.get_logger().error(f'cannot run the model on this {kind}: {error}',
                                    throttle_duration_sec=WARN_PERIOD_S)
        except Exception as error:  # a bug, not bad input: the node keeps serving, loudly
            self.internal_errors += 1
            self.last_internal_error = f'{type(error).__name__}: {error}'
            self.get_logger().error(
                f'internal error on this {kind} (a bug in edge_perception, not bad input): '
                f'{self.last_internal_error}\n{traceback.format_exc().rstrip()}',
                throttle_duration_sec=WARN_PERIOD_S)

    def _process_compressed(self, msg):
        # Measured (its header) before it is decoded: the limits apply before any allocation.
        config = self.pipeline.config
        decoded = decode_compressed_image(msg.format, msg.data, config.max_width,
                                          config.max_height)
        self._process(DecodedFrame(msg.header, *decoded.image_fields()))

    def _process(self, frame):
        self.pipeline.process(frame.height, frame.width, frame.encoding,
                              bool(frame.is_bigendian), frame.step, frame.data, frame)

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
        pipeline = self.pipeline
        if self.lifecycle_state == ACTIVE and pipeline is not None:
            report = self._health.report(pipeline, NodeCounters(
                self.frames_received, self.frames_processed, self.frames_rejected,
                self.output_failures, self.internal_errors, self.last_internal_error))
        else:
            report = lifecycle_report(self.lifecycle_state, self.transition_error,
                                      pipeline is not None and pipeline.device_held)
        msg = DiagnosticArray()
        msg.header.stamp = self.get_clock().now().to_msg()
        msg.status = [self._diagnostic_status('inference', report)] + [
            self._diagnostic_status(name, head_report)
            for name, head_report in self.head_reports().items()]
        self.diagnostics_publisher.publish(msg)
        if report.level != self._reported_level:
            # rclpy fixes a log call site's severity on first use: one call per severity.
            if report.level == OK:
                self.get_logger().info(f'status OK: {report.message}')
            else:
                self.get_logger().warning(f'status {LEVEL_NAMES[report.level]}: '
                                          f'{report.message}')
            self._reported_level = report.level

    def _diagnostic_status(self, name, report):
        status = DiagnosticStatus()
        status.level = bytes([report.level])
        status.name = f'{self.get_name()}: {name}'
        status.message = report.message
        status.hardware_id = self.device
        status.values = [KeyValue(key='lifecycle_state', value=self.lifecycle_state)] + [
            KeyValue(key=key, value=value) for key, value in report.values.items()]
        return status

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
        self._close_pipeline()
        return super().destroy_node()


def run_node(node_class, args=None):
    """Run ``node_class`` until shutdown; the body of every node command.

    :return: process exit code: 0 after a normal shutdown (Ctrl-C, or the node's lifecycle
        ``shutdown`` transition), 1 when the node could not start.
    """
    node = start_node(node_class, STARTUP_ERRORS, 'edge_perception', args)
    if node is None:
        return 1
    spin_until_shutdown(node, node.finalized)
    return 0
