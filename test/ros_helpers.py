"""Predicates and conversions for tests on a real rclpy graph.

The graph itself is the package's harness, :class:`edge_perception.replay.graph.ProbeGraph`
(the ``ros_graph`` fixture).
"""

import re

import numpy as np

MONITOR_ADDRESS = re.compile(r'serving the monitor page on http://([\d.]+):(\d+)/')


def counter_grows(read):
    """Return a predicate that becomes true once ``read()`` exceeds its value now."""
    start = read()
    return lambda: read() > start


def depth_array(msg):
    """Return the float32 depth image of a 32FC1 ``Image``."""
    assert msg.encoding == '32FC1'
    return np.frombuffer(msg.data, dtype='<f4').reshape(msg.height, msg.width)


def level(status):
    """A DiagnosticStatus level as an int (rclpy gives ``bytes`` for the byte field)."""
    return status.level[0] if isinstance(status.level, bytes) else status.level


def monitor_address(graph, monitor, timeout_s):
    """Wait until a monitor_node process logs its address; return ``(host, port)``."""
    assert graph.wait_for(lambda: MONITOR_ADDRESS.search(monitor.output)
                          or not monitor.running(), timeout_s), monitor.output
    match = MONITOR_ADDRESS.search(monitor.output)
    assert match, monitor.output
    return match.group(1), int(match.group(2))


def reset_peak_rss(pid):
    """Reset a process's peak resident memory (VmHWM) to what it holds now (Linux >= 4.0)."""
    with open(f'/proc/{pid}/clear_refs', 'w', encoding='ascii') as clear_refs:
        clear_refs.write('5')


def peak_rss_mib(pid):
    """Return a process's peak resident memory (VmHWM) in MiB since start or the last
    :func:`reset_peak_rss`: a buffer allocated and freed between two samples still shows.
    """
    with open(f'/proc/{pid}/status', encoding='ascii') as status:
        for line in status:
            if line.startswith('VmHWM:'):
                return int(line.split()[1]) / 1024.0
    raise AssertionError(f'no VmHWM for process {pid}')
