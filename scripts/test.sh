#!/usr/bin/env bash
# The whole test suite: set-up (scripts/setup.sh, plus the training requirements), linters,
# every test against the installed package, the regression of the bundled models against
# their golden outputs, then the core tests again on OpenVINO 2023.0,
# the oldest release with the openvino.runtime API of the NCS2's 2022.3 LTS.
set -euo pipefail
cd "$(dirname "$0")/.."
repo=$PWD
EDGE_PERCEPTION_EXTRA_REQUIREMENTS="-r requirements/training.txt" scripts/setup.sh

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
(cd test && "$repo/.venv/bin/python" -m pytest -p no:cacheprovider -q "$@")

echo "== regression: the bundled models on the bundled recordings (docs/regression.md)"
# Lockstep replay through the installed nodes, computing in f32; fails (exit 3) when accuracy
# drops below the shipped figures or an output moves from the golden outputs in data/golden/.
.venv/bin/edge-perception regress data/demo_depth_bag --config config/regression/depth.yaml \
  --golden data/golden/depth_outputs --tolerance 1e-3 \
  --min-delta1 0.91 --max-abs-rel 0.14 --max-rmse 0.85
.venv/bin/edge-perception regress data/demo_digits_bag --config config/regression/classifier.yaml \
  --golden data/golden/digits_outputs --tolerance 1e-3 --min-top1 1.0

echo "== core tests on OpenVINO 2023.0 (openvino.runtime API)"
old_venv=$repo/.venv-openvino-2023.0
if [ ! -x "$old_venv/bin/python" ]; then
  python3 -m venv "$old_venv"
fi
"$old_venv/bin/python" -m pip install --quiet --disable-pip-version-check \
  -r requirements/openvino-2023.0.txt
# test/core/ needs nothing but the core's own requirements (no ROS, no rosbags).
(cd test && PYTHONPATH=$repo "$old_venv/bin/python" -m pytest -p no:cacheprovider -q core)
