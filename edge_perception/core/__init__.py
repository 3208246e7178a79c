"""The inference core, plain Python and numpy without ROS (ruff's banned-api rule checks it).

OpenVINO engine and compatibility layer, the image frame (``ImageFrame``) in every common
camera encoding and CompressedImage decoding, camera-to-model preprocessing (in the graph or on
the host), the pipeline (its per-frame path in ``pipeline``, its compiled streams in
``streams``, its device choice and fallback in ``device_policy``), model metadata carried in
the IR, the depth and classifier heads and the depth node's output (``depth_output``),
depth-to-cloud geometry and cloud layout, depth metrics, visualisation, and the health
assessment behind ``/diagnostics``.
"""
