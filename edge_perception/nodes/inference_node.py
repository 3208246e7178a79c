"""What every edge_perception node shares: model parameters, the managed (lifecycle) states,
the image subscription, the inference pipeline, timing messages, ``/diagnostics`` and start-up
error handling.

A head (depth, classification) subclasses :class:`InferenceNode`, adds its own parameters,
publishers and inputs, and turns model outputs into its messages in :meth:`publish_outputs`.
:class:`InferenceNode` declares the parameters and holds the head's hooks; its collaborators,
one job each, are mixed in: :mod:`~edge_perception.nodes.node_lifecycle` (the transitions),
:mod:`~edge_perception.nodes.image_intake` (frames in, results to the head) and
:mod:`~edge_perception.nodes.node_diagnostics` (``/diagnostics`` and timing). With
``autostart`` (the default) the node configures and activates itself, so it works with no
lifecycle manager.
"""

from diagnostic_msgs.msg import DiagnosticArray
from rclpy.exceptions import ParameterException
from rclpy.lifecycle import LifecycleNode, TransitionCallbackReturn
from rclpy.qos_overriding_options import QoSOverridingOptions
from rclpy.task import Future

from edge_perception.core.engine import DeviceUnavailableError, ModelLoadError
from edge_perception.core.health import HealthMonitor, OK
from edge_perception.core.rate_meter import RateMeter
from edge_perception.nodes.image_intake import ImageIntake
from edge_perception.nodes.lifecycle_compat import refuse_unavailable_transitions
from edge_perception.nodes.node_diagnostics import DiagnosticsReporting
from edge_perception.nodes.node_lifecycle import (
    LifecycleTransitions,
    TransitionError,
    UNCONFIGURED,
)
from edge_perception.nodes.parameter_tables import model_parameters
from edge_perception.nodes.parameters import choice_validator, declare_parameters
from edge_perception.nodes.qos import output_qos
from edge_perception.nodes.spinning import spin_until_shutdown, start_node

# Errors that stop a node at start (autostart) with one clear message instead of a traceback.
STARTUP_ERRORS = (DeviceUnavailableError, ModelLoadError, ParameterException, ValueError,
                  TransitionError)


class InferenceNode(ImageIntake, DiagnosticsReporting, LifecycleTransitions, LifecycleNode):
    """Base node: camera image in, model outputs to :meth:`publish_outputs`, timing out.

    :param node_name: default node name.
    :param head_parameters: the head's own
        :class:`~edge_perception.nodes.parameter_tables.ParameterSpec` tuple.
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
        self._reset_counters()
        self._rate_meter = RateMeter()
        self._health = HealthMonitor()
        self._reported_level = OK
        self.timing_publisher = None
        self.image_subscription = None
        self.finalized = Future()  # done after the shutdown transition: the process may end
        self.diagnostics_publisher = self.create_publisher(DiagnosticArray, '/diagnostics', 10)
        self.create_timer(self.parameter_values['diagnostic_period'], self._publish_diagnostics)
        if self.parameter_values['autostart']:
            self._autostart()

    def _autostart(self):
        for trigger in (self.trigger_configure, self.trigger_activate):
            if trigger() != TransitionCallbackReturn.SUCCESS:
                error = self._transition_exception
                if isinstance(error, STARTUP_ERRORS):
                    raise error
                raise TransitionError(self.transition_error) from error

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

    def publish_outputs(self, header, outputs, result):
        """Publish the head's messages for one frame; called from an OpenVINO thread.

        :param header: the input image's header, for every output.
        :param outputs: list of the model's output arrays.
        :param result: the pipeline's :class:`~edge_perception.core.pipeline.FrameResult`:
            the frame, its decoded view, the crop the network saw.
        """
        raise NotImplementedError

    def create_output_publisher(self, msg_type, topic):
        """Reliable, depth-1 lifecycle publisher (silent unless the node is active) whose QoS
        users can override with parameters.
        """
        return self.create_lifecycle_publisher(
            msg_type, topic, output_qos(),
            qos_overriding_options=QoSOverridingOptions.with_default_policies())

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
