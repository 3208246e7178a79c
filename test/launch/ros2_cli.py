"""The ``ros2`` command line and ``ros2 launch`` in other processes, as an operator runs them.

Found in the virtual environment (``../shared/ros2/install.sh .venv`` puts it there) or on
``PATH`` (a robot's apt ROS 2). ``ros2 launch`` is stopped with SIGINT, as Ctrl-C stops it:
SIGTERM would end launch at once and leave its nodes running.
"""

import importlib.util
import os
from pathlib import Path
import shutil
import signal
import subprocess
import sys
import time

from edge_perception.package_paths import share_directory
from edge_perception.replay.node_process import OutputProcess

REPO = Path(__file__).resolve().parents[2]
SHARED_ROS2 = REPO.parent / 'shared' / 'ros2'
# Upper bounds, not expectations: a CLI call imports rclpy, a launch starts a node that
# compiles its model, on a machine shared with other work.
CALL_TIMEOUT_S = 60.0
# The verbs that ask the graph do it with a node of their own, not the ROS 2 daemon: a daemon
# whose Fast DDS peers were killed can stop updating its graph, answer nothing or hang for the
# rest of the session (ros2/ros2cli#582), as it did in CI after a launch's processes were
# killed. Such a node only knows what it discovered while it spun (--spin-time, 0.5 s), so a
# node it did not find is asked for again.
GRAPH_VERBS = {('node', 'list'), ('param', 'get'), ('lifecycle', 'get'), ('lifecycle', 'set'),
               ('topic', 'info')}
NOT_DISCOVERED = 'Node not found'
POLL_TIMEOUT_S = 60.0
STOP_TIMEOUT_S = 30.0


def ros2_command():
    """Return the path of ``ros2``: the virtual environment's, else one on PATH, else None."""
    beside_python = Path(sys.prefix) / 'bin' / 'ros2'
    if beside_python.is_file():
        return str(beside_python)
    return shutil.which('ros2')


def missing_launch():
    """Say why ``ros2 launch`` cannot run here; None when it can."""
    if ros2_command() is None:
        return 'no ros2 command in this environment'
    if importlib.util.find_spec('launch_ros') is None:
        return 'no launch_ros in this environment'
    return None


class Ros2:
    """Run ``ros2`` verbs against the installed edge_perception.

    :param log_directory: ``ROS_LOG_DIR`` of the processes (launch writes its logs there).
    """

    def __init__(self, log_directory):
        self.command = ros2_command()
        prefix = str(share_directory().parents[1])
        prefixes = [path for path in os.environ.get('AMENT_PREFIX_PATH', '').split(os.pathsep)
                    if path]
        self.environment = {
            **os.environ,
            'AMENT_PREFIX_PATH': os.pathsep.join([prefix] + [p for p in prefixes if p != prefix]),
            'ROS_LOG_DIR': str(log_directory),
            'PYTHONUNBUFFERED': '1',
        }

    def run(self, *arguments, timeout_s=CALL_TIMEOUT_S):
        """Run ``ros2 ARGUMENTS``; return the ``subprocess.CompletedProcess`` (text output).

        A verb of :data:`GRAPH_VERBS` runs with ``--no-daemon``, again while it says the node
        is not found, for up to ``POLL_TIMEOUT_S``.
        """
        if tuple(arguments[:2]) not in GRAPH_VERBS:
            return self._call(arguments, timeout_s)
        result, _ = self._repeat(arguments, lambda result: NOT_DISCOVERED not in result.stderr,
                                 POLL_TIMEOUT_S, timeout_s)
        return result

    def poll(self, *arguments, until, timeout_s=POLL_TIMEOUT_S):
        """Run ``ros2 ARGUMENTS`` until ``until(result)``; return that result.

        A call before discovery has matched may list nothing or not find the node.

        :raises AssertionError: with the last output, when ``until`` is not met in time.
        """
        result, met = self._repeat(arguments, until, timeout_s, CALL_TIMEOUT_S)
        assert met, \
            f'ros2 {" ".join(arguments)} after {timeout_s:g} s:\n{result.stdout}{result.stderr}'
        return result

    def _repeat(self, arguments, until, timeout_s, call_timeout_s):
        """Call ``ros2 ARGUMENTS`` until ``until(result)`` or ``timeout_s`` has passed; return
        the last result and whether ``until`` was met.
        """
        deadline = time.monotonic() + timeout_s
        while True:
            result = self._call(arguments, call_timeout_s)
            if until(result):
                return result, True
            if time.monotonic() > deadline:
                return result, False
            time.sleep(0.5)

    def _call(self, arguments, timeout_s):
        if tuple(arguments[:2]) in GRAPH_VERBS:
            arguments = (*arguments, '--no-daemon')
        return subprocess.run([self.command, *arguments], capture_output=True, text=True,
                              env=self.environment, timeout=timeout_s, check=False)

    def launch(self, launch_file, *arguments):
        """Start ``ros2 launch edge_perception LAUNCH_FILE ARGUMENTS``; return a :class:`Launch`."""
        return Launch([self.command, 'launch', 'edge_perception', launch_file, *arguments],
                      self.environment)


class Launch(OutputProcess):
    """``ros2 launch`` in its own process group, with SIGINT's default action (a parent that
    ignores SIGINT would otherwise hand that on, and launch would never stop).
    """

    def __init__(self, arguments, environment):
        super().__init__(arguments, env=environment, start_new_session=True,
                         preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))

    def wait_for_output(self, text, timeout_s=POLL_TIMEOUT_S):
        """Wait until launch or its nodes print ``text``.

        :raises AssertionError: with the output, when it does not come in time or launch ends.
        """
        deadline = time.monotonic() + timeout_s
        while text not in self.output:
            assert self.running(), f'ros2 launch ended (exit {self.process.returncode}):\n' \
                f'{self.output}'
            assert time.monotonic() < deadline, f'no {text!r} within {timeout_s:g} s:\n' \
                f'{self.output}'
            time.sleep(0.1)

    def interrupt(self, timeout_s=STOP_TIMEOUT_S):
        """Send SIGINT to ``ros2 launch`` as Ctrl-C does; return its exit code.

        :raises AssertionError: when a process of the launch is left running.
        """
        code = self.stop(timeout_s)
        left = self.processes_left()
        self.kill_group()
        assert not left, f'left running after ros2 launch exited: {left}\n{self.output}'
        return code

    def wait(self, timeout_s=STOP_TIMEOUT_S):
        """Wait for ``ros2 launch`` to end by itself; return its exit code."""
        try:
            self.process.wait(timeout=timeout_s)
        finally:
            self.kill_group()
        self._reader.join(timeout=timeout_s)
        return self.process.returncode

    def processes_left(self):
        """Return the command lines of the processes of the launch's group still running."""
        group = self.process.pid
        left = []
        for status in Path('/proc').glob('[0-9]*/stat'):
            try:
                fields = status.read_text().rsplit(')', 1)[1].split()
                cmdline = (status.parent / 'cmdline').read_text().replace('\0', ' ').strip()
            except OSError:
                continue
            # Fields after the command: state, ppid, pgrp; zombies have ended.
            if int(fields[2]) == group and fields[0] != 'Z':
                left.append(cmdline)
        return left

    def kill_group(self):
        """End whatever of the launch's process group is still running."""
        try:
            os.killpg(self.process.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass

    def __exit__(self, *exc_info):
        self.stop(STOP_TIMEOUT_S)
        self.kill_group()
