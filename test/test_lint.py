"""The code's rules as checks: ruff (style, import order, quotes, docstrings, and the banned-api
rule that keeps ROS out of the core, the toolchain and training), and the same rule at run time.

Runs under ``colcon test`` on a robot too; skipped where ruff is not installed.
"""

import importlib.util
from pathlib import Path
import pkgutil
import subprocess
import sys

import pytest

import edge_perception

REPO = Path(__file__).resolve().parents[1]
# Rooms that run without ROS, and the ROS modules they must not load even indirectly.
ROS_FREE_ROOMS = ('core', 'camera', 'toolchain', 'bags.reader', 'bags.writer', 'bags.types',
                  'nodes.launch_settings', 'nodes.parameter_tables',
                  'monitor.frames', 'monitor.web', 'monitor.page')
ROS_MODULES = ('rclpy', 'sensor_msgs', 'std_msgs', 'diagnostic_msgs', 'rcl_interfaces',
               'builtin_interfaces', 'edge_perception.msg')


@pytest.mark.skipif(importlib.util.find_spec('ruff') is None, reason='ruff is not installed')
def test_ruff_passes():
    result = subprocess.run([sys.executable, '-m', 'ruff', 'check', str(REPO)],
                            capture_output=True, text=True, cwd=REPO)
    assert result.returncode == 0, result.stdout + result.stderr


def ros_free_modules():
    package = Path(edge_perception.__file__).parent
    modules = []
    for room in ROS_FREE_ROOMS:
        path = package.joinpath(*room.split('.'))
        if path.is_dir():
            modules += [f'edge_perception.{room}.{info.name}'
                        for info in pkgutil.iter_modules([str(path)])]
        else:
            modules.append(f'edge_perception.{room}')
    return modules


def test_the_ros_free_rooms_load_no_ros_module_at_run_time():
    modules = ros_free_modules()
    assert 'edge_perception.core.engine' in modules and len(modules) > 15
    script = ('import importlib, sys\n'
              f'for name in {modules!r}: importlib.import_module(name)\n'
              f'print(sorted(name for name in sys.modules if name.startswith({ROS_MODULES!r})))')
    result = subprocess.run([sys.executable, '-c', script], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == '[]'
