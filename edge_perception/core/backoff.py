"""When to try a failed thing again: the back-off of a stream's compilation and of the return
to the configured device. No rclpy here.
"""

from dataclasses import dataclass
import time


@dataclass(frozen=True)
class Retry:
    """When to try again, how long to wait after that, and what failed last (or None)."""

    error: Exception | None
    at: float
    delay_s: float

    @classmethod
    def after(cls, delay_s, error=None):
        """Return a retry ``delay_s`` seconds from now."""
        return cls(error, time.monotonic() + delay_s, delay_s)
