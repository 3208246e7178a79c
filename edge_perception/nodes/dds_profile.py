"""The Fast DDS profile that lets camera-sized messages cross process boundaries.

See ``config/fastdds_large_messages.xml`` for why it exists. Applied before ``rclpy.init`` by
the package's commands so that they work out of the box; a profile the user has configured
always wins.
"""

import importlib.metadata
import os

from edge_perception.package_paths import shared_file

PROFILE_VARIABLE = 'FASTDDS_DEFAULT_PROFILES_FILE'
# Fast DDS 2 (Humble, Jazzy) reads its profile only from this one; Fast DDS 3 (Kilted) reads
# PROFILE_VARIABLE and warns in every process that this one is deprecated.
FAST_DDS_2_PROFILE_VARIABLE = 'FASTRTPS_DEFAULT_PROFILES_FILE'
PROFILE_VARIABLES = (PROFILE_VARIABLE, FAST_DDS_2_PROFILE_VARIABLE)
FAST_DDS_2_DISTROS = ('humble', 'iron', 'jazzy')
PROFILE_FILE = ('config', 'fastdds_large_messages.xml')


def profile_variable(environ=os.environ):
    """Return the variable the Fast DDS in use reads its XML profile from.

    An apt ROS 2 names its distribution in ``ROS_DISTRO``; the PyPI wheels do not, and ship
    Fast DDS 2 as ``ros-fastrtps`` (Jazzy) or Fast DDS 3 as ``ros-fastdds`` (Kilted).
    """
    distro = environ.get('ROS_DISTRO')
    if distro:
        fast_dds_2 = distro in FAST_DDS_2_DISTROS
    else:
        fast_dds_2 = _installed('ros-fastrtps') and not _installed('ros-fastdds')
    return FAST_DDS_2_PROFILE_VARIABLE if fast_dds_2 else PROFILE_VARIABLE


def configured_profile(environ=os.environ):
    """Return the Fast DDS profile the environment names under either name, else None."""
    return next((environ[name] for name in PROFILE_VARIABLES if environ.get(name)), None)


def apply_large_message_profile(environ=os.environ):
    """Point Fast DDS at the bundled profile unless another DDS or profile is configured.

    The profile goes into the variable the Fast DDS in use reads (:func:`profile_variable`);
    one the user set under the other name is copied there.

    :param environ: the environment to update (the process environment by default).
    :return: the profile path when it was applied, else None.
    """
    rmw = environ.get('RMW_IMPLEMENTATION', 'rmw_fastrtps_cpp')
    if not rmw.startswith('rmw_fastrtps'):
        return None
    configured = configured_profile(environ)
    applied = None
    if configured is None:
        path = shared_file(*PROFILE_FILE)
        if not path.is_file():
            return None
        configured = applied = str(path)
    variable = profile_variable(environ)
    if not environ.get(variable):
        environ[variable] = configured
    return applied


def _installed(distribution):
    try:
        importlib.metadata.version(distribution)
    except importlib.metadata.PackageNotFoundError:
        return False
    return True


def localhost_discovery(environ=os.environ):
    """Return ``{variable: value}`` that keeps DDS discovery on this host, in the variable the
    ROS 2 distribution in use knows.

    Humble knows only ``ROS_LOCALHOST_ONLY=1``; Iron and later know
    ``ROS_AUTOMATIC_DISCOVERY_RANGE=LOCALHOST``, and Kilted silently ignores
    ``ROS_LOCALHOST_ONLY``. An apt ROS 2 names itself in ``ROS_DISTRO``; the PyPI wheels
    (Jazzy, Kilted) set nothing.

    :param environ: the environment whose ``ROS_DISTRO`` is read.
    """
    if environ.get('ROS_DISTRO') == 'humble':
        return {'ROS_LOCALHOST_ONLY': '1'}
    return {'ROS_AUTOMATIC_DISCOVERY_RANGE': 'LOCALHOST'}
