"""Cameras without ROS: frame sources (V4L2 devices, video files, image folders, through
OpenCV's ``VideoCapture``), ROS calibration files and their scaling, pacing and stamping.

``nodes/camera_node.py`` puts them on a graph; nothing here imports rclpy.
"""
