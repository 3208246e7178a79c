"""How an inference node is doing, as a diagnostic level, a message and key values.

No rclpy here: the node turns a :class:`HealthReport` into ``diagnostic_msgs/DiagnosticStatus``
on ``/diagnostics``. Levels follow ``diagnostic_msgs``: OK, WARN, ERROR, STALE.
"""

from dataclasses import dataclass
import time

OK, WARN, ERROR, STALE = 0, 1, 2, 3
LEVEL_NAMES = {OK: 'OK', WARN: 'WARN', ERROR: 'ERROR', STALE: 'STALE'}

# Failed inferences in a row after which recovery is not working: the node reports ERROR.
ERROR_AFTER_FAILURES = 3


@dataclass(frozen=True)
class HealthReport:
    """One diagnostic status: ``level`` (OK..STALE), ``message``, ``values`` (str -> str)."""

    level: int
    message: str
    values: dict


@dataclass(frozen=True)
class NodeCounters:
    """The node's own frame counters, beside what the pipeline counts.

    :param internal_errors: frames that raised an unexpected exception (a bug, not bad input).
    :param last_internal_error: the latest of them, ``'<type>: <message>'``.
    """

    frames_received: int
    frames_processed: int
    frames_rejected: int
    output_failures: int = 0
    internal_errors: int = 0
    last_internal_error: str = ''


class HealthMonitor:
    """Turns counters sampled once per report into a :class:`HealthReport`.

    Warnings describe what happened since the previous report (frames rejected, inferences
    that failed and were recovered), so a node that has healed goes back to OK; OK means
    results flow. Whatever stops them (a hung device, a dead thread, a stream that cannot be
    compiled), frames received with none processed for ``stall_after_s`` is a warning.

    :param stale_after_s: seconds without images, once images have come, before warning.
    :param stall_after_s: seconds of images received but none processed before warning.
    :param clock: monotonic time source in seconds.
    """

    def __init__(self, stale_after_s=5.0, stall_after_s=3.0, clock=time.monotonic):
        self.stale_after_s = stale_after_s
        self.stall_after_s = stall_after_s
        self._clock = clock
        self._last_image = None
        self._previous = None
        # (frames processed, frames received, time) when processing last moved on.
        self._progress = None

    def image_received(self):
        """Record that an image arrived now."""
        self._last_image = self._clock()

    def report(self, pipeline, counters):
        """Return the report for now and remember the counters for the next one.

        :param pipeline: :class:`~edge_perception.core.pipeline.ImagePipeline`.
        :param counters: :class:`NodeCounters`.
        """
        sample = {
            'frames_received': counters.frames_received,
            'frames_processed': counters.frames_processed,
            'frames_rejected': counters.frames_rejected,
            'output_failures': counters.output_failures,
            'internal_errors': counters.internal_errors,
            'frames_dropped': pipeline.frames_dropped,
            'inference_failures': pipeline.inference_failures,
            'consecutive_failures': pipeline.consecutive_failures,
            'recoveries': pipeline.recoveries,
            'compilations': pipeline.compilations,
        }
        previous = self._previous or dict.fromkeys(sample, 0)
        self._previous = sample
        level, message = self._assess(pipeline, sample, previous)
        bugs = sample['internal_errors'] - previous['internal_errors']
        if bugs:  # whatever else is going on, a bug is the first thing to say
            message = (f'{bugs} frame(s) hit an internal error (a bug, not bad input) since the '
                       f'last report: {counters.last_internal_error}; traceback in the log'
                       + (f'; {message}' if level != OK else ''))
            level = ERROR
        values = {'device': pipeline.device, 'configured_device': pipeline.config.device,
                  'device_held': str(pipeline.device_held).lower(),
                  'preprocessing': pipeline.preprocessing_in_use or 'not compiled yet',
                  **{name: str(value) for name, value in sample.items()},
                  'last_error': pipeline.last_error,
                  'last_internal_error': counters.last_internal_error}
        return HealthReport(level, message, values)

    def _assess(self, pipeline, sample, previous):
        stalled = self._stalled(sample)
        failures = sample['consecutive_failures']
        if failures >= ERROR_AFTER_FAILURES:
            return ERROR, (f'inference failing: {failures} failed in a row despite recovery '
                           f'({pipeline.last_error})')
        if pipeline.compile_error:
            return ERROR, f'cannot compile the model for the camera stream: ' \
                          f'{pipeline.compile_error}'
        warnings = []
        if pipeline.fallback_reason:
            warnings.append(pipeline.fallback_reason)
        if stalled:
            warnings.append(stalled)
        failed = sample['inference_failures'] - previous['inference_failures']
        if failed:
            warnings.append(f'{failed} inference(s) failed since the last report; '
                            'infer requests recreated')
        unpublished = sample['output_failures'] - previous['output_failures']
        if unpublished:
            warnings.append(f'{unpublished} result(s) could not be published since the last '
                            'report')
        rejected = sample['frames_rejected'] - previous['frames_rejected']
        if rejected:
            warnings.append(f'{rejected} image(s) rejected since the last report')
        if self._last_image is not None:
            silent_s = self._clock() - self._last_image
            if silent_s > self.stale_after_s:
                warnings.append(f'no image for {silent_s:.0f} s')
        if warnings:
            return WARN, '; '.join(warnings)
        if self._last_image is None:
            return OK, 'waiting for images'
        return OK, 'running'

    def _stalled(self, sample):
        """Describe frames received but not processed for ``stall_after_s``, else ''."""
        now = self._clock()
        processed, received = sample['frames_processed'], sample['frames_received']
        if self._progress is None or processed != self._progress[0]:
            self._progress = (processed, received, now)
            return ''
        waiting = received - self._progress[1]
        stalled_s = now - self._progress[2]
        if waiting > 0 and stalled_s > self.stall_after_s:
            return f'{waiting} image(s) received in {stalled_s:.0f} s but none processed'
        return ''


_IDLE_MESSAGES = {
    'unconfigured': 'unconfigured: waiting for the configure transition',
    'inactive': 'inactive: device released; waiting for the activate transition',
    'finalized': 'shut down',
}


def lifecycle_report(state, transition_error='', device_held=False):
    """Return the report of a managed node that is not active.

    A state reached on purpose is OK; a failed transition (the node fell back to the state
    before it) is an ERROR that names the transition and why, until a transition succeeds.

    :param state: lifecycle state label: 'unconfigured', 'inactive' or 'finalized'.
    :param transition_error: why the latest transition failed, '' when it did not.
    :param device_held: whether a compiled model still holds the device.
    """
    values = {'device_held': str(device_held).lower(), 'last_error': transition_error}
    if transition_error:
        return HealthReport(ERROR, f'{state}: {transition_error}', values)
    return HealthReport(OK, _IDLE_MESSAGES.get(state, state), values)
