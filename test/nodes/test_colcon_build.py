"""The package builds with colcon, as on a robot (here against the pip-installed ROS 2)."""

from pathlib import Path
import shutil
import subprocess
import sys

REPO = Path(__file__).resolve().parents[2]
SOURCES = ('CMakeLists.txt', 'package.xml', 'cmake', 'msg', 'edge_perception', 'launch',
           'config', 'models', 'data')


def test_colcon_build_installs_nodes_messages_and_shared_files(tmp_path):
    source = tmp_path / 'src' / 'edge_perception'
    source.mkdir(parents=True)
    for name in SOURCES:
        copy = shutil.copytree if (REPO / name).is_dir() else shutil.copy2
        copy(REPO / name, source / name)
    prefix = Path(sys.prefix)
    result = subprocess.run(
        [str(prefix / 'bin' / 'colcon'), 'build', '--merge-install',
         '--cmake-args', f'-DPython3_EXECUTABLE={sys.executable}', '-DBUILD_TESTING=OFF'],
        cwd=tmp_path, capture_output=True, text=True, timeout=600,
        env={'PATH': f"{prefix / 'bin'}:/usr/bin:/bin", 'CMAKE_PREFIX_PATH': str(prefix),
             'AMENT_PREFIX_PATH': str(prefix), 'HOME': str(tmp_path)})
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    install = tmp_path / 'install'
    for command in ('depth_node', 'classifier_node', 'camera_node', 'monitor_node',
                    'edge-perception'):
        assert (install / 'lib' / 'edge_perception' / command).is_file()
    site_packages = next(install.glob('lib/python3*/site-packages/edge_perception'))
    for module in ('msg/_inference_timing.py', 'msg/_classification.py', 'nodes/depth_node.py',
                   'core/__init__.py', 'nodes/__init__.py', 'cli/main.py',
                   'camera/calibration.py', 'monitor/node.py'):
        assert (site_packages / module).is_file(), module
    for shared in ('launch/depth.launch.py', 'config/depth.yaml', 'config/classifier.yaml',
                   'config/camera.yaml', 'config/fastdds_large_messages.xml'):
        assert (install / 'share' / 'edge_perception' / shared).is_file(), shared
