"""Starting an installed edge_perception node as its own process, as ``ros2 run`` would."""

import signal
import subprocess

from .package_paths import share_directory


def installed_command(name):
    """Return the path of an installed node command (``<prefix>/lib/edge_perception/<name>``)."""
    return share_directory().parents[1] / 'lib' / 'edge_perception' / name


class NodeProcess:
    """A node command running in a child process; a context manager that stops it on exit.

    :param command: installed command name, e.g. 'depth_node'.
    :param parameters: ``{name: value}`` given as ``-p name:=value``.
    :param remappings: ``{from: to}`` given as ``-r from:=to``.
    """

    def __init__(self, command, parameters=None, remappings=None):
        arguments = [str(installed_command(command)), '--ros-args']
        for name, value in (parameters or {}).items():
            arguments += ['-p', f'{name}:={_parameter_text(value)}']
        for source, target in (remappings or {}).items():
            arguments += ['-r', f'{source}:={target}']
        self.arguments = arguments
        self.process = subprocess.Popen(arguments, stdout=subprocess.PIPE,
                                        stderr=subprocess.STDOUT, text=True)
        self.output = ''

    def running(self):
        """Return True while the process has not exited."""
        return self.process.poll() is None

    def stop(self, timeout_s=10.0):
        """Interrupt the node like Ctrl-C, wait, and return its exit code; output is kept."""
        if self.running():
            self.process.send_signal(signal.SIGINT)
        try:
            self.output, _ = self.process.communicate(timeout=timeout_s)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.output, _ = self.process.communicate()
        return self.process.returncode

    def __enter__(self):
        return self

    def __exit__(self, *exc_info):
        self.stop()


def _parameter_text(value):
    if isinstance(value, bool):
        return 'true' if value else 'false'
    if isinstance(value, (list, tuple)):
        return '[' + ','.join(_parameter_text(item) for item in value) + ']'
    return str(value)
