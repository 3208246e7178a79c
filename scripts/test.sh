#!/usr/bin/env bash
# The whole test suite: set-up (scripts/setup.sh, plus the training requirements), linters,
# every test against the installed package, the regression of the bundled models against
# their golden outputs, then the core tests again on OpenVINO 2023.0,
# the oldest release with the openvino.runtime API of the NCS2's 2022.3 LTS, and last on Python 3.10
# with OpenVINO 2022.3 LTS itself (docs/ncs2.md).
set -euo pipefail
cd "$(dirname "$0")/.."
repo=$PWD
EDGE_PERCEPTION_EXTRA_REQUIREMENTS="-r requirements/training.txt" scripts/setup.sh

# --- ros2 launch (issue 23) ---
echo "== ROS 2 launch, launch_ros and the ros2 command line into .venv (../shared/ros2)"
# On no package registry; test/launch/ runs the launch files with them, and skips (fails under
# CI=true) where ../shared/ros2 is absent.
shared_ros2=$repo/../shared/ros2
if [ -x "$shared_ros2/install.sh" ]; then
  "$shared_ros2/install.sh" .venv
else
  echo "no $shared_ros2: the launch tests (test/launch/) cannot run"
fi
# --- end ros2 launch ---

echo "== ruff"
.venv/bin/ruff check .

echo "== headless browser for the monitor's page test (test/monitor/test_browser_monitor.py)"
# The package lists must be fresh: on a new machine they are empty or stale, and the install
# fails. Under CI=true the test must run: a browser that cannot be installed fails the run.
if command -v chromium-headless-shell > /dev/null; then
  echo "chromium-headless-shell is installed"
elif [ "$(id -u)" = 0 ] && command -v apt-get > /dev/null \
    && apt-get update -qq > /dev/null 2>&1 \
    && apt-get install -y -qq chromium-headless-shell > /dev/null 2>&1; then
  echo "installed chromium-headless-shell"
elif [ "${CI:-}" = true ]; then
  echo "chromium-headless-shell is not installed and cannot be installed here" \
    "(apt-get update && apt-get install -y chromium-headless-shell); CI=true needs it" >&2
  exit 1
else
  echo "chromium-headless-shell is not installed and cannot be installed here" \
    "(apt-get update && apt-get install -y chromium-headless-shell):" \
    "the browser test will be skipped"
fi

echo "== pytest (OpenVINO $(.venv/bin/python -c 'import openvino; print(openvino.__version__)'))"
# Run from test/ against the installed package; the source tree lacks the generated messages.
(cd test && "$repo/.venv/bin/python" -m pytest -p no:cacheprovider -q --durations=15 "$@")

echo "== regression: the bundled models on the bundled recordings (docs/regression.md)"
# Lockstep replay through the installed nodes, computing in f32; fails (exit 3) when accuracy
# drops below the shipped figures or an output moves from the golden outputs in data/golden/.
.venv/bin/edge-perception regress data/demo_depth_bag --config config/regression/depth.yaml \
  --golden data/golden/depth_outputs --tolerance 1e-3 \
  --min-delta1 0.45 --max-abs-rel 0.23 --max-rmse 1.45
.venv/bin/edge-perception regress data/demo_digits_bag --config config/regression/classifier.yaml \
  --golden data/golden/digits_outputs --tolerance 1e-3 --min-top1 1.0

# --- Humble's launch and Jazzy's rclpy (issue 23) ---
echo "== the launch files under Humble's launch and launch_ros (test/launch/)"
if [ -x "$shared_ros2/install.sh" ]; then
  "$shared_ros2/install.sh" .venv humble
  humble_status=0
  (cd test && "$repo/.venv/bin/python" -m pytest -p no:cacheprovider -q launch) || humble_status=$?
  "$shared_ros2/install.sh" .venv  # back to the Kilted-era launch
  [ "$humble_status" = 0 ] || exit "$humble_status"
else
  echo "no $shared_ros2: skipped"
fi

echo "== node tests on ROS 2 Jazzy's rclpy (Python 3.12, .venv-jazzy)"
# pyenv's 3.12 (the machine image has it; a pyenv shim alone may refuse to run it).
python312=
for candidate in "$(pyenv root 2>/dev/null)"/versions/3.12*/bin/python3.12 python3.12; do
  if "$candidate" -c 'import sys; assert sys.version_info[:2] == (3, 12)' 2>/dev/null; then
    python312=$candidate
    break
  fi
done
[ -n "$python312" ] || { echo "no Python 3.12 here: Jazzy's wheels need it" >&2; exit 1; }
PYTHON=$python312 EDGE_PERCEPTION_VENV=.venv-jazzy \
  EDGE_PERCEPTION_ROS_REQUIREMENTS=requirements/ros-jazzy-venv.txt scripts/setup.sh
(cd test && "$repo/.venv-jazzy/bin/python" -m pytest -p no:cacheprovider -q \
  nodes/test_ros_depth_node.py nodes/test_ros_classifier_node.py nodes/test_ros_lifecycle.py \
  nodes/test_ros_launch_parameters.py nodes/test_launch_settings.py \
  nodes/test_ros_configuration.py nodes/test_ros_cross_process.py replay/test_graph.py)
# --- end Humble's launch and Jazzy's rclpy ---

echo "== core tests on OpenVINO 2023.0 (openvino.runtime API)"
old_venv=$repo/.venv-openvino-2023.0
if [ ! -x "$old_venv/bin/python" ]; then
  python3 -m venv "$old_venv"
fi
"$old_venv/bin/python" -m pip install --quiet --disable-pip-version-check \
  -r requirements/openvino-2023.0.txt
# test/core/ needs nothing but the core's own requirements (no ROS, no rosbags).
(cd test && PYTHONPATH=$repo "$old_venv/bin/python" -m pytest -p no:cacheprovider -q core)

echo "== Python 3.10 and OpenVINO 2022.3 LTS, the NCS2's runtime (docs/ncs2.md)"
# The NCS2 runs only on OpenVINO <= 2022.3, whose wheels exist up to CPython 3.10 (ROS 2
# Humble's): the package's code must run there and every IR it ships or writes must load there.
python310=$(ls -d "$(pyenv root 2>/dev/null)"/versions/3.10*/bin/python3.10 2>/dev/null | tail -n 1)
if [ -z "$python310" ] && python3.10 --version > /dev/null 2>&1; then
  python310=$(command -v python3.10)
fi
if [ -z "$python310" ]; then
  echo "no CPython 3.10 here (pyenv install 3.10, or python3.10 on PATH)" >&2
  exit 1
fi
lts_venv=$repo/.venv-openvino-2022.3
if [ ! -x "$lts_venv/bin/python" ]; then
  "$python310" -m venv "$lts_venv"
fi
"$lts_venv/bin/python" -m pip install --quiet --disable-pip-version-check \
  -r requirements/openvino-2022.3.txt
# Syntax is ruff's (target-version py310, above) and this interpreter's; standard-library
# calls newer than 3.10 are vermin's.
"$lts_venv/bin/python" -m compileall -q edge_perception launch scripts test
"$lts_venv/bin/vermin" --target=3.10- --violations --no-tips --eval-annotations \
  edge_perception launch scripts test
# The core tests and every ROS-free module's import on 3.10 and 2022.3; then each shipped IR
# and fresh convert outputs run on 2022.3 against the installed OpenVINO.
(cd test && PYTHONPATH=$repo "$lts_venv/bin/python" -m pytest -p no:cacheprovider -q core \
  test_lint.py::test_the_ros_free_rooms_load_no_ros_module_at_run_time)
(cd test && EDGE_PERCEPTION_OPENVINO_2022_3_PYTHON=$lts_venv/bin/python \
  "$repo/.venv/bin/python" -m pytest -p no:cacheprovider -q -rP toolchain/test_openvino_2022_3.py)
