"""Where the installed package keeps its shared files (models, config, data)."""

import os
from pathlib import Path

PACKAGE_NAME = 'edge_perception'


def share_directory():
    """Return ``<prefix>/share/edge_perception`` of the installed package.

    Uses the ament index when the environment is sourced (a robot's ROS 2 install); otherwise
    the install prefix the module itself lives under (a Python virtual environment, where no
    ``AMENT_PREFIX_PATH`` is set).
    """
    if os.environ.get('AMENT_PREFIX_PATH'):
        from ament_index_python.packages import get_package_share_directory, PackageNotFoundError
        try:
            return Path(get_package_share_directory(PACKAGE_NAME))
        except PackageNotFoundError:
            pass
    site_packages = Path(__file__).resolve().parent.parent
    prefix = site_packages.parent.parent.parent  # <prefix>/lib/pythonX.Y/site-packages
    return prefix / 'share' / PACKAGE_NAME


def shared_file(*parts):
    """Return the path of a file installed under the package's share directory."""
    return share_directory().joinpath(*parts)
