"""The Fast DDS profile that lets camera-sized messages cross process boundaries.

See ``config/fastdds_large_messages.xml`` for why it exists. Applied before ``rclpy.init`` by
the package's commands so that they work out of the box; a profile the user has configured
always wins.
"""

import os

from edge_perception.package_paths import shared_file

PROFILE_VARIABLE = 'FASTDDS_DEFAULT_PROFILES_FILE'
# Fast DDS 3 (Kilted) reads PROFILE_VARIABLE; Fast DDS 2 (Humble, Jazzy) reads only this one.
PROFILE_VARIABLES = (PROFILE_VARIABLE, 'FASTRTPS_DEFAULT_PROFILES_FILE')
PROFILE_FILE = ('config', 'fastdds_large_messages.xml')


def configured_profile(environ=os.environ):
    """Return the Fast DDS profile the environment names in either variable, else None."""
    return next((environ[name] for name in PROFILE_VARIABLES if environ.get(name)), None)


def apply_large_message_profile(environ=os.environ):
    """Point Fast DDS at the bundled profile unless another DDS or profile is configured.

    The profile is set in both variables (:data:`PROFILE_VARIABLES`), so every Fast DDS reads
    it; one the user set in either is copied into the other.

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
    for name in PROFILE_VARIABLES:
        if not environ.get(name):
            environ[name] = configured
    return applied


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
