"""The managed (lifecycle) transitions every inference node shares, as Nav2's and
``lifecycle_py``'s nodes do them.

``configure`` reads and checks the parameters and the model file (building the
:class:`~edge_perception.core.pipeline.ImagePipeline`) and creates the publishers; ``activate``
compiles on the device and subscribes; ``deactivate`` unsubscribes and releases the device
(every compiled model and infer request, so another process can use an NCS2 or an NPU);
``cleanup`` and ``shutdown`` release everything; ``on_error`` releases the device.
"""

import os

from rclpy.lifecycle import TransitionCallbackReturn
from sensor_msgs.msg import CompressedImage, Image

from edge_perception.core.health import HealthMonitor
from edge_perception.core.pipeline import ImagePipeline, PipelineConfig
from edge_perception.core.preprocessing import Normalisation
from edge_perception.msg import InferenceTiming
from edge_perception.nodes.qos import camera_qos

UNCONFIGURED, INACTIVE, ACTIVE, FINALIZED = 'unconfigured', 'inactive', 'active', 'finalized'
# What happens to pixel values (0-255) when neither the parameters nor the model give a value.
_UNSTATED_NORMALISATION = {'mean': 'no mean is subtracted', 'scale': 'they are not scaled'}


class TransitionError(RuntimeError):
    """A lifecycle transition of the node failed; the message says which and why."""


class LifecycleTransitions:
    """The transitions of :class:`~edge_perception.nodes.inference_node.InferenceNode`: what
    each one builds or releases, and :attr:`lifecycle_state` / :attr:`transition_error`.
    """

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
        self.pipeline = ImagePipeline(self._pipeline_config(model_path), self._on_result,
                                      self._on_inference_error, on_event=self._on_compiled)
        self.configure_head()
        self._log_normalisation(values)
        if self.timing_publisher is None:
            # Created once and kept through cleanup: a lifecycle publisher sends nothing unless
            # the node is active, and destroying it would leave its QoS override parameters
            # declared (rclpy refuses to declare them again on some distributions).
            self.timing_publisher = self.create_output_publisher(InferenceTiming,
                                                                 'inference_timing')
            self.create_outputs()

    def _pipeline_config(self, model_path):
        values = self.parameter_values
        return PipelineConfig(
            model_path=model_path, device=values['device'],
            preprocessing=values['preprocessing'],
            normalisation=Normalisation(tuple(values['mean']), tuple(values['scale']),
                                        values['color_order']),
            performance_hint=values['performance_hint'], num_requests=values['num_requests'],
            output_postprocessing=self.output_postprocessing(),
            inference_precision=values['inference_precision'],
            fallback_devices=tuple(values['fallback_devices']),
            max_width=values['max_width'], max_height=values['max_height'],
            input_size=self.model_input_size(), input_crop=values['input_crop'])

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
