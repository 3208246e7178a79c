"""The centred part of a camera frame the network sees (``input_crop``), in pixels.

One rounding rule for every user, so the preprocessing (graph and host) crops the same pixels
that the depth output is put back into: each side keeps ``round(fraction * side)`` pixels
(halves rounded up, at least one) and the crop starts ``(side - size) // 2`` pixels in, so an
odd leftover leaves the extra pixel on the right or bottom. No rclpy here.
"""

from dataclasses import dataclass
import math

MIN_INPUT_CROP = 0.1
FULL_FRAME = 1.0


class InputCropError(ValueError):
    """An ``input_crop`` fraction outside what can be cropped."""


def check_input_crop(fraction):
    """Return ``fraction`` as a float.

    :raises InputCropError: unless ``MIN_INPUT_CROP <= fraction <= 1``.
    """
    fraction = float(fraction)
    if not MIN_INPUT_CROP <= fraction <= FULL_FRAME:
        raise InputCropError(f'input_crop {fraction} must lie in [{MIN_INPUT_CROP}, '
                             f'{FULL_FRAME}] (the fraction of the width and height kept)')
    return fraction


@dataclass(frozen=True)
class CropBox:
    """Rows ``top:top + height`` and columns ``left:left + width`` of a frame."""

    top: int
    left: int
    height: int
    width: int

    @property
    def bottom(self):
        """First row below the box."""
        return self.top + self.height

    @property
    def right(self):
        """First column right of the box."""
        return self.left + self.width

    @property
    def slices(self):
        """``(rows, columns)`` slices selecting the box from a ``height x width[ x c]`` array."""
        return slice(self.top, self.bottom), slice(self.left, self.right)

    def is_whole(self, height, width):
        """Return True when the box is the whole ``height x width`` frame."""
        return (self.top, self.left, self.height, self.width) == (0, 0, height, width)


def centred_crop(height, width, fraction):
    """Return the :class:`CropBox` of the centred ``fraction`` of a ``height x width`` frame.

    :param fraction: share of the width and of the height kept, ``MIN_INPUT_CROP`` to 1.
    :raises InputCropError: for a fraction outside that range.
    """
    fraction = check_input_crop(fraction)
    rows, columns = (_kept(side, fraction) for side in (height, width))
    return CropBox((height - rows) // 2, (width - columns) // 2, rows, columns)


def _kept(side, fraction):
    # floor(x + 0.5), not round(): Python rounds halves to even, which would make a box's
    # size jump between neighbouring frame sizes.
    return min(side, max(1, math.floor(fraction * side + 0.5)))
