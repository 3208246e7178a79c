"""A depth node with a bug planted on purpose, for tests: for frames 13 pixels wide it hands
the pipeline the row stride as text, a slip of the kind a refactoring makes. The real pipeline
then raises ``TypeError`` comparing it with the row size: an unexpected exception, not bad
input. Every other frame is served as by ``depth_node``.

Run as a node process: ``python buggy_depth_node.py --ros-args ...``.
"""

import sys

from edge_perception.core.image_codec import ImageFrame
from edge_perception.nodes.depth_node import DepthNode
from edge_perception.nodes.inference_node import run_node

BUGGY_WIDTH = 13


class BuggyDepthNode(DepthNode):
    """``DepthNode`` whose processing passes ``step`` as ``str`` for 13-pixel-wide frames."""

    def _process(self, frame):
        if frame.width != BUGGY_WIDTH:
            super()._process(frame)
            return
        self.pipeline.process(ImageFrame(frame.height, frame.width, frame.encoding,
                                         bool(frame.is_bigendian), str(frame.step), frame.data),
                              frame)


if __name__ == '__main__':
    sys.exit(run_node(BuggyDepthNode))
