"""What the depth node publishes for one frame, decided without ROS.

:class:`DepthOutput` turns one frame's model outputs into the depth image to publish: metric
(:class:`~edge_perception.core.heads.DepthHead`) or relative depth made metric
(:class:`~edge_perception.core.relative_depth.RelativeDepthConverter`), as ``32FC1`` metres or
``16UC1`` millimetres (REP 118), written into buffers reused from frame to frame; and into its
colour picture and its organised cloud, coloured from the frame the pipeline decoded. The node
only publishes what it returns. No rclpy here.
"""

from dataclasses import dataclass

import numpy as np

from edge_perception.core.depth_geometry import metres_to_millimetres
from edge_perception.core.heads import DepthHead
from edge_perception.core.image_codec import ImageBuffer, ImageFrame
from edge_perception.core.relative_depth import RelativeDepthConverter
from edge_perception.core.visualisation import colorize_depth

METRES, MILLIMETRES = '32FC1', '16UC1'
DEPTH_ENCODINGS = (METRES, MILLIMETRES)


@dataclass(frozen=True)
class DepthOutputSettings:
    """How the model's output becomes the published depth.

    :param depth_scale: metres per unit of a metric model's output.
    :param min_depth: nearest valid depth, metres.
    :param max_depth: farthest valid depth, metres.
    :param encoding: '32FC1' (metres, NaN = invalid) or '16UC1' (millimetres, 0 = invalid).
    :param relative: :class:`~edge_perception.core.relative_depth.RelativeDepthSettings` of a
        relative model; None for a metric one.
    :param cloud_color: 'none' or 'rgb' (the camera's colours in the cloud).
    :param cloud_decimation: keep every n-th pixel of each row and column in the cloud.
    """

    depth_scale: float = 1.0
    min_depth: float = 0.1
    max_depth: float = 10.0
    encoding: str = METRES
    relative: object = None
    cloud_color: str = 'none'
    cloud_decimation: int = 1


@dataclass(frozen=True)
class FrameDepth:
    """One frame's depth.

    :param metres: ``height x width`` float32 metres, NaN where invalid (reused next frame).
    :param image: the :class:`~edge_perception.core.image_codec.ImageFrame` to publish, in the
        configured encoding (its memory is reused next frame: publish it before).
    """

    metres: np.ndarray
    image: ImageFrame


class DepthOutput:
    """A frame's depth outputs -> the depth image, its picture and its cloud.

    :param settings: :class:`DepthOutputSettings`.
    :raises ~edge_perception.core.relative_depth.RelativeDepthError: for relative settings
        that cannot be used.
    """

    def __init__(self, settings):
        self.settings = settings
        self._head = DepthHead(settings.depth_scale, settings.min_depth, settings.max_depth)
        self.relative = None if settings.relative is None else \
            RelativeDepthConverter(settings.relative)
        self._metres = ImageBuffer(METRES)
        self._millimetres = ImageBuffer(MILLIMETRES)

    def update(self, settings):
        """Use new settings from the next frame on (a relative converter keeps its floor
        scale; see :meth:`~edge_perception.core.relative_depth.RelativeDepthConverter.updated`).
        """
        self.settings = settings
        self._head.set_range(settings.depth_scale, settings.min_depth, settings.max_depth)
        if self.relative is not None:
            self.relative = self.relative.updated(settings.relative)

    @property
    def unscaled_reason(self):
        """Why the last frame of a relative model had no depth ('' when it had)."""
        return '' if self.relative is None else self.relative.unscaled_reason

    def depth(self, outputs, result, intrinsics):
        """Return the :class:`FrameDepth` of one frame, or None when relative depth has no
        scale yet (:attr:`unscaled_reason` says why).

        :param outputs: the model's outputs (the first is the depth map).
        :param result: the pipeline's :class:`~edge_perception.core.pipeline.FrameResult`
            (the frame's size, and the crop the network saw).
        :param intrinsics: the camera's
            :class:`~edge_perception.core.depth_geometry.PinholeIntrinsics`, or None (floor
            scaling needs them).
        """
        height, width = result.frame.height, result.frame.width
        metres = self._metres.array(height, width)
        if self.relative is None:
            metres = self._head.depth(outputs, width, height, out=metres,
                                      input_crop=result.crop)
        else:
            metres = self.relative.metres(outputs[0], width, height, intrinsics, out=metres,
                                          input_crop=result.crop)
            if metres is None:
                return None
        if self.settings.encoding == MILLIMETRES:
            metres_to_millimetres(metres, out=self._millimetres.array(height, width))
            return FrameDepth(metres, self._millimetres.frame())
        return FrameDepth(metres, self._metres.frame())

    def colorized(self, depth):
        """Return the BGR picture of a :class:`FrameDepth` (turbo colours, NaN black)."""
        return colorize_depth(depth.metres, self.settings.min_depth, self.settings.max_depth)

    def cloud(self, depth, intrinsics, result):
        """Return the organised cloud of a :class:`FrameDepth` as a
        :class:`~edge_perception.core.pointcloud_layout.PackedCloud`, coloured from the frame
        the pipeline decoded when ``cloud_color`` is 'rgb'.

        :raises ~edge_perception.core.depth_geometry.IntrinsicsError: when the intrinsics do
            not fit the image.
        """
        rgb = result.rgb8() if self.settings.cloud_color == 'rgb' else None
        return self._head.cloud(depth.metres, intrinsics, rgb, self.settings.cloud_decimation)
