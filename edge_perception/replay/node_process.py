"""Starting an installed edge_perception node as its own process, as ``ros2 run`` would, or
another command whose output is collected.
"""

import os
from pathlib import Path
import signal
import subprocess
import threading

from edge_perception.package_paths import share_directory


def installed_command(name):
    """Return the path of an installed node command (``<prefix>/lib/edge_perception/<name>``)."""
    return share_directory().parents[1] / 'lib' / 'edge_perception' / name


class OutputProcess:
    """A command running in a child process, its output collected; a context manager that
    stops it like Ctrl-C on exit.

    :param arguments: the command line.
    :param popen: further ``subprocess.Popen`` keyword arguments (``env``, ...).
    """

    def __init__(self, arguments, **popen):
        self.arguments = arguments
        self.process = subprocess.Popen(arguments, stdout=subprocess.PIPE,
                                        stderr=subprocess.STDOUT, text=True, **popen)
        # Drained continuously: a node that logs more than the pipe holds (64 KiB) would
        # otherwise block in its logger.
        self._lines = []
        self._reader = threading.Thread(target=self._read_output, daemon=True)
        self._reader.start()

    def _read_output(self):
        for line in self.process.stdout:
            self._lines.append(line)

    @property
    def output(self):
        """Everything the process printed so far (stdout and stderr)."""
        return ''.join(self._lines)

    def running(self):
        """Return True while the process has not exited."""
        return self.process.poll() is None

    def stop(self, timeout_s=10.0):
        """Interrupt the process like Ctrl-C, wait, and return its exit code; output is kept."""
        if self.running():
            self.process.send_signal(signal.SIGINT)
        try:
            self.process.wait(timeout=timeout_s)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        self._reader.join(timeout=timeout_s)
        return self.process.returncode

    def __enter__(self):
        return self

    def __exit__(self, *exc_info):
        self.stop()


class NodeProcess(OutputProcess):
    """A node command running in a child process (:class:`OutputProcess`).

    :param command: installed command name, e.g. 'depth_node', or the absolute path of another
        node executable (a test's own node).
    :param parameters: ``{name: value}`` given as ``-p name:=value``.
    :param remappings: ``{from: to}`` given as ``-r from:=to``.
    :param params_file: ROS 2 parameter file given as ``--params-file``; ``parameters``
        override its values.
    :param namespace: namespace of the node (``-r __ns:=``); None: none.
    :param name: name of the node (``-r __node:=``); None: its own.
    :param ros_arguments: further ROS arguments, e.g. ``('--log-level', 'debug')``.
    """

    def __init__(self, command, parameters=None, remappings=None, params_file=None,
                 namespace=None, name=None, ros_arguments=()):
        executable = Path(command) if os.path.isabs(command) else installed_command(command)
        arguments = [str(executable), '--ros-args', *ros_arguments]
        if namespace is not None:
            arguments += ['-r', f'__ns:={namespace}']
        if name is not None:
            arguments += ['-r', f'__node:={name}']
        if params_file is not None:
            arguments += ['--params-file', str(params_file)]
        for name, value in (parameters or {}).items():
            arguments += ['-p', f'{name}:={_parameter_text(value)}']
        for source, target in (remappings or {}).items():
            arguments += ['-r', f'{source}:={target}']
        super().__init__(arguments)


def _parameter_text(value):
    if isinstance(value, bool):
        return 'true' if value else 'false'
    if isinstance(value, (list, tuple)):
        return '[' + ','.join(_parameter_text(item) for item in value) + ']'
    return str(value)
