"""The QoS profiles the package's nodes share."""

from rclpy.qos import qos_profile_sensor_data, QoSProfile, QoSReliabilityPolicy


def camera_qos(depth=1):
    """Sensor-data QoS (best effort, volatile) keeping ``depth`` images: a slow node takes the
    newest frame instead of a queue of stale ones.
    """
    return QoSProfile(history=qos_profile_sensor_data.history, depth=depth,
                      reliability=qos_profile_sensor_data.reliability,
                      durability=qos_profile_sensor_data.durability)


def output_qos():
    """Reliable, depth 1: what the perception nodes publish their results with."""
    return QoSProfile(depth=1, reliability=QoSReliabilityPolicy.RELIABLE)
