"""The workflow around the device, without ROS: convert a trained model to OpenVINO IR,
quantise it to INT8, profile it per layer, benchmark it against other engines.
"""
