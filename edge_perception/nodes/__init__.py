"""The ROS 2 nodes: thin plumbing from camera messages to the core and back to messages.

``inference_node`` holds what every node shares, with one collaborator per job:
``node_lifecycle`` (transitions), ``image_intake`` (frames in, results to the head),
``node_diagnostics`` (``/diagnostics`` and timing); ``depth_node`` and ``classifier_node`` are
its heads. ``parameter_tables`` holds every node's parameters (no rclpy, no ROS interfaces),
``parameters`` declares them with descriptors; ``launch_settings`` holds what the launch files
decide (no rclpy, no launch).
"""
