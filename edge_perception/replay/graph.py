"""Waiting on a ROS graph without sleeping: spin an executor until something is true."""

import time


def spin_until(executor, predicate, timeout_s, step_s=0.005):
    """Spin ``executor`` until ``predicate()`` is true or ``timeout_s`` has passed.

    :return: whether ``predicate()`` became true in time.
    """
    deadline = time.perf_counter() + timeout_s
    while not predicate():
        remaining = deadline - time.perf_counter()
        if remaining <= 0:
            return False
        executor.spin_once(timeout_sec=min(remaining, step_s))
    return True
