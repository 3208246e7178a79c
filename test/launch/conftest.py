"""``ros2`` for the launch tests, or one clear reason why they cannot run.

The launch packages and the ``ros2`` command line are on no package registry: where no
``ros2`` is installed they come from ``../shared/ros2`` (``install.sh .venv``). A clone without
``../shared/ros2`` skips these tests; under ``CI=true``, or where ``../shared/ros2`` is there but
not installed, they fail.
"""

import os

import pytest

from ros2_cli import missing_launch, Ros2, SHARED_ROS2


@pytest.fixture(scope='session')
def ros2(tmp_path_factory):
    """A :class:`ros2_cli.Ros2`."""
    missing = missing_launch()
    if missing:
        reason = f'ros2 launch cannot run: {missing}'
        if not SHARED_ROS2.is_dir() and os.environ.get('CI') != 'true':
            pytest.skip(f'{reason}, and {SHARED_ROS2} (launch sources) is absent')
        pytest.fail(f'{reason}: run {SHARED_ROS2}/install.sh on this environment'
                    if SHARED_ROS2.is_dir() else f'{reason}, and {SHARED_ROS2} is absent (CI)')
    return Ros2(tmp_path_factory.mktemp('ros_log'))
