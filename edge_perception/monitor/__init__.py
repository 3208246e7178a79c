"""The monitor: a web page of a running perception node.

``frames`` (the newest camera, depth and classification frames, the timing history and their
pictures, encoded only when asked) and ``web`` (the aiohttp application and the server thread
that serves it) import no ROS; ``node`` is the thin rclpy node that feeds the frame store.
"""
