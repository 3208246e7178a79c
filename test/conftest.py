"""Test-session set-up: DDS stays on this host, on a domain of its own."""

import os
import random

import pytest

# Set before any test imports rclpy, so every participant (in-process and child processes)
# sees the same settings.
from edge_perception.nodes.dds_profile import (  # noqa: E402
    apply_large_message_profile,
    localhost_discovery,
)

os.environ.update(localhost_discovery())
os.environ.setdefault('ROS_DOMAIN_ID', str(random.Random().randint(1, 100)))

apply_large_message_profile()


@pytest.fixture
def ros_graph():
    """A :class:`~edge_perception.replay.graph.ProbeGraph` of its own, closed after the test."""
    # Imported here: the core tests also run where rclpy is not installed.
    from edge_perception.replay.graph import ProbeGraph
    with ProbeGraph() as graph:
        yield graph
