"""rosbag2 recordings: message types, reading and writing (no ROS needed), and playing into
or recording from a live graph (rclpy).
"""
