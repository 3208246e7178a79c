"""Output frame rate as an exponential moving average."""

import time


class RateMeter:
    """Frames per second over roughly the last ``window_s`` seconds.

    :param window_s: time constant of the moving average, seconds.
    :param clock: monotonic clock returning seconds (injectable for tests).
    """

    def __init__(self, window_s=1.0, clock=time.monotonic):
        self._window_s = window_s
        self._clock = clock
        self._last = None
        self._interval = None

    def tick(self):
        """Record one frame now and return the current rate (0.0 until two frames are seen)."""
        now = self._clock()
        if self._last is not None:
            interval = max(now - self._last, 1e-6)
            if self._interval is None:
                self._interval = interval
            else:
                weight = min(1.0, interval / self._window_s)
                self._interval += weight * (interval - self._interval)
        self._last = now
        return 1.0 / self._interval if self._interval else 0.0
