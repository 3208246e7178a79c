"""The ROS 2 nodes: thin plumbing from camera messages to the core and back to messages.

``inference_node`` holds what every node shares (parameters, image subscription, pipeline,
timing, ``/diagnostics``); ``depth_node`` and ``classifier_node`` are its heads.
``launch_settings`` holds what the launch files decide (no rclpy, no launch).
"""
