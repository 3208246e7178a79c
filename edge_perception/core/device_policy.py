"""Which device an :class:`~edge_perception.core.pipeline.ImagePipeline` runs on: the choice at
start, the move to a fallback device at run time, and the return to the configured device.

:class:`DevicePolicy` decides; the pipeline acts (it compiles the streams the policy asks for).
The policy holds no lock of its own: its owner's lock guards it. No rclpy here.
"""

import time

from edge_perception.core.backoff import Retry
from edge_perception.core.engine import check_device, DeviceUnavailableError

# After this many failed inferences in a row, recovery compiles the model again besides
# replacing the infer requests, at most once per RECOMPILE_INTERVAL_S.
RECOMPILE_AFTER_FAILURES = 3
RECOMPILE_INTERVAL_S = 2.0
# After this many failed inferences in a row, the stream moves to the next fallback device.
FALLBACK_AFTER_FAILURES = 6
# Back-off of returning to the configured device from a fallback one.
RETURN_TO_DEVICE_S = (5.0, 60.0)


def choose_device(core, devices):
    """Return the first of ``devices`` OpenVINO has, and why earlier ones were passed over.

    :return: ``(device, reason)``; ``reason`` is '' when the first device is available.
    :raises DeviceUnavailableError: naming every device, when none is available.
    """
    unavailable = []
    for device in devices:
        try:
            check_device(core, device)
        except DeviceUnavailableError as error:
            unavailable.append(str(error))
            continue
        reason = f"using fallback device '{device}': {' '.join(unavailable)}" \
            if unavailable else ''
        return device, reason
    if len(unavailable) == 1:
        raise DeviceUnavailableError(unavailable[0])
    raise DeviceUnavailableError('no configured device can run the model: '
                                 + ' '.join(unavailable))


class DevicePolicy:
    """The device in use among the configured one and its fallbacks.

    :attr:`device` is the device in use, :attr:`fallback_reason` says why it is not the
    configured one ('' when it is).

    :param core: ``ov.Core``.
    :param devices: the configured device, then its fallbacks in order.
    :raises DeviceUnavailableError: when none of them is available.
    """

    def __init__(self, core, devices):
        self._core = core
        self.devices = tuple(devices)
        self.device, self.fallback_reason = choose_device(core, self.devices)
        self._return_retry = Retry.after(RETURN_TO_DEVICE_S[0])
        self._last_recompile = float('-inf')

    @property
    def configured(self):
        """The device the configuration asks for."""
        return self.devices[0]

    def choose(self):
        """Return ``(device, reason)``: the first available configured device, as at start
        (:func:`choose_device`); :meth:`use` takes it into use.
        """
        return choose_device(self._core, self.devices)

    def use(self, device, reason):
        """Make ``device`` the one in use, ``reason`` why it is not the configured one."""
        self.device, self.fallback_reason = device, reason

    def available(self, device):
        """Return whether OpenVINO has ``device`` now."""
        try:
            check_device(self._core, device)
        except DeviceUnavailableError:
            return False
        return True

    def next_device(self):
        """Return the first fallback device after the one in use that OpenVINO has, or None."""
        devices = self.devices
        start = devices.index(self.device) + 1 if self.device in devices else 0
        return next((device for device in devices[start:]
                     if device != self.device and self.available(device)), None)

    def switch_to(self, device, last_error):
        """Make ``device`` the one in use (a stream compiled on it).

        :param last_error: why the previous device was left, for :attr:`fallback_reason`.
        """
        previous, self.device = self.device, device
        if device == self.configured:
            self.fallback_reason = ''
        else:
            self.fallback_reason = (f"using fallback device '{device}': '{previous}' failed "
                                    f'at run time ({last_error})')
            self._return_retry = Retry.after(RETURN_TO_DEVICE_S[0])

    def after_failures(self, failures):
        """Return the compilation recovery asks for after ``failures`` failed inferences in
        a row: ``(device, reason)`` for the next fallback device or a recompilation, or None
        (fresh infer requests only).
        """
        device_gone = not self.available(self.device)
        if failures >= FALLBACK_AFTER_FAILURES or device_gone:
            fallback = self.fallback_after(f'{self.device} is no longer available' if device_gone
                                           else f'{failures} failed inferences in a row')
            if fallback is not None:
                return fallback
        if failures >= RECOMPILE_AFTER_FAILURES and \
                time.monotonic() - self._last_recompile >= RECOMPILE_INTERVAL_S:
            self._last_recompile = time.monotonic()
            return self.device, f'recompiled after {failures} failed inferences in a row'
        return None

    def fallback_after(self, why):
        """Return ``(device, reason)`` to compile for after ``why``, or None without one."""
        device = self.next_device()
        return None if device is None else (device, f'falling back from {self.device}: {why}')

    def return_due(self, compiling):
        """On a fallback device, return the configured device when its back-off has passed
        and OpenVINO has it (the back-off doubles each time), else None.

        :param compiling: whether the configured device is being compiled for already.
        """
        configured = self.configured
        if self.device == configured or time.monotonic() < self._return_retry.at or compiling:
            return None
        delay_s = self._return_retry.delay_s
        self._return_retry = Retry(None, time.monotonic() + delay_s,
                                   min(delay_s * 2, RETURN_TO_DEVICE_S[1]))
        return configured if self.available(configured) else None

    def return_failed(self, error):
        """Keep why the configured device failed to compile; its back-off runs on."""
        self._return_retry = Retry(error, self._return_retry.at, self._return_retry.delay_s)
