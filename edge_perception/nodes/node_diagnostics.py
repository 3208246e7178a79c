"""What an inference node reports: ``/diagnostics`` (in every lifecycle state) and one
``InferenceTiming`` message per published frame.
"""

from diagnostic_msgs.msg import DiagnosticArray, DiagnosticStatus, KeyValue

from edge_perception.core.health import LEVEL_NAMES, lifecycle_report, NodeCounters, OK
from edge_perception.messages import stamp_ns
from edge_perception.msg import InferenceTiming
from edge_perception.nodes.node_lifecycle import ACTIVE


class DiagnosticsReporting:
    """The ``/diagnostics`` and timing publication of
    :class:`~edge_perception.nodes.inference_node.InferenceNode`.
    """

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

    def _publish_timing(self, header, result, postprocess_ms, total_ms):
        """Publish one frame's ``InferenceTiming``.

        :param result: the pipeline's :class:`~edge_perception.core.pipeline.FrameResult`.
        """
        msg = InferenceTiming()
        msg.header = header
        msg.model = self.model_name
        msg.device = self.device
        msg.preprocessing = self.pipeline.preprocessing_in_use or ''
        msg.preprocess_ms = result.preprocess_ms
        msg.inference_ms = result.inference_ms
        msg.postprocess_ms = postprocess_ms
        msg.total_ms = total_ms
        msg.latency_ms = (self.get_clock().now().nanoseconds - stamp_ns(header)) / 1e6
        msg.fps = self._rate_meter.tick()
        msg.frames_received = self.frames_received
        msg.frames_processed = self.frames_processed
        msg.frames_dropped = self.pipeline.frames_dropped
        msg.frames_rejected = self.frames_rejected
        self.timing_publisher.publish(msg)
