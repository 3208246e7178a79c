"""The inference core, plain Python and numpy without ROS (ruff's banned-api rule checks it).

OpenVINO engine and compatibility layer, Image fields in every common camera encoding and
CompressedImage decoding, camera-to-model preprocessing (in the graph or on the host), the
per-stream pipeline, model metadata carried in the IR, the depth and classifier heads,
depth-to-cloud geometry and cloud layout, depth metrics, visualisation, and the health
assessment behind ``/diagnostics``.
"""
