"""The code's rules as checks: ruff (style, import order, quotes, docstrings, and the banned-api
rule that keeps ROS out of the core, the toolchain and training), and the same rule at run time.

Runs under ``colcon test`` on a robot too; skipped where ruff is not installed.
"""

import importlib.util
from pathlib import Path
import subprocess
import sys

import pytest

from package_imports import imported_modules, module_name, package_files

REPO = Path(__file__).resolve().parents[1]
ROS_MODULES = ('rclpy', 'sensor_msgs', 'std_msgs', 'diagnostic_msgs', 'rcl_interfaces',
               'builtin_interfaces', 'edge_perception.msg')
# What must stay free of ROS whatever else changes (docs/architecture.md): whole rooms, and the
# modules of ROS rooms that tools without ROS use.
ROS_FREE_BY_DESIGN = ('core', 'camera', 'networks', 'toolchain', 'training', 'bags.reader',
                      'bags.writer', 'bags.types', 'nodes.launch_settings',
                      'nodes.parameter_tables', 'monitor.frames',
                      'monitor.web', 'monitor.page', 'replay.scoring', 'replay.plot',
                      'replay.node_config', 'messages', 'package_paths')


@pytest.mark.skipif(importlib.util.find_spec('ruff') is None, reason='ruff is not installed')
def test_ruff_passes():
    result = subprocess.run([sys.executable, '-m', 'ruff', 'check', str(REPO)],
                            capture_output=True, text=True, cwd=REPO)
    assert result.returncode == 0, result.stdout + result.stderr


def loads_ros_statically():
    """The package's modules that load ROS when imported: those importing a ROS module, or one
    of ours that does, when they are loaded (imports inside functions are on demand).
    """
    direct = {}
    ours = {}
    for path in package_files():
        name = module_name(path)
        if name.startswith('edge_perception.msg'):
            continue
        imports = [imported for imported, _ in imported_modules(path, everywhere=False,
                                                                ours=False)]
        direct[name] = any(imported == ros or imported.startswith(ros + '.')
                           for imported in imports for ros in ROS_MODULES)
        ours[name] = {imported for imported in imports if imported.startswith('edge_perception.')}
    loading = {name for name, uses in direct.items() if uses}
    changed = True
    while changed:
        changed = False
        for name, imported in ours.items():
            if name not in loading and imported & loading:
                loading.add(name)
                changed = True
    return loading, set(direct)


def ros_free_modules():
    """Every module of the package that loads no ROS by its imports."""
    loading, every = loads_ros_statically()
    return sorted(every - loading)


def test_the_rooms_free_of_ros_by_design_import_none():
    loading, _ = loads_ros_statically()
    offenders = sorted(name for name in loading
                       if any(name == f'edge_perception.{room}' or
                              name.startswith(f'edge_perception.{room}.')
                              for room in ROS_FREE_BY_DESIGN))
    assert offenders == []


def test_the_ros_free_rooms_load_no_ros_module_at_run_time():
    modules = ros_free_modules()
    assert {'edge_perception.core.engine', 'edge_perception.training.train_fastdepth',
            'edge_perception.replay.scoring'} <= set(modules)
    # A module needing a package that is not installed here (torch on a robot) is left out.
    script = ('import importlib, sys\n'
              f'for name in {modules!r}:\n'
              '    try:\n'
              '        importlib.import_module(name)\n'
              '    except ModuleNotFoundError as error:\n'
              "        if error.name.split('.')[0] == 'edge_perception': raise\n"
              f'print(sorted(name for name in sys.modules if name.startswith({ROS_MODULES!r})))')
    result = subprocess.run([sys.executable, '-c', script], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == '[]'
