"""Depth and recognition from a plain camera, on an edge accelerator through OpenVINO.

The rooms, each a subpackage (docs/architecture.md draws them):

* ``core`` -- the inference core without ROS: OpenVINO engine, in-graph and host
  preprocessing, the frame pipeline, model metadata, heads, geometry, metrics, health.
* ``nodes`` -- the ROS 2 nodes (thin plumbing on the core) and their parameters.
* ``bags`` -- rosbag2 recordings: message types, reading, writing, playing, recording.
* ``toolchain`` -- model conversion, INT8 quantisation, per-layer profiling, benchmarks.
* ``replay`` -- driving a node from a probe: the harness, replay, scoring, soak, demo.
* ``cli`` -- the ``edge-perception`` command, one module per subcommand.
* ``training`` -- training and exporting the bundled models, and their data.

Beside them: ``messages`` (building and reading standard messages) and ``package_paths``
(where the installed package keeps its models, configuration and data). ``msg`` is generated
by rosidl at build time.
"""

from pkgutil import extend_path

# Run from a source checkout (the repository root on sys.path first), this source package
# shadows the installed one, which alone holds the generated ``msg`` module and its type
# support libraries: extending the package path to the installed copy keeps
# ``edge_perception.msg`` importable from there too.
__path__ = extend_path(__path__, __name__)
