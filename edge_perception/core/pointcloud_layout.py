"""Byte layout of ``sensor_msgs/PointCloud2`` for organised x/y/z(/rgb) clouds.

No rclpy here: :func:`pack_points` returns the field descriptions and the data bytes; the node
copies them into a message. Colour follows the PCL/RViz convention: one float32 field ``rgb``
whose four bytes are blue, green, red, unused (little endian).
"""

import array
from dataclasses import dataclass, replace

import numpy as np

# sensor_msgs/PointField datatype constant for FLOAT32.
FLOAT32 = 7


@dataclass(frozen=True)
class FieldLayout:
    """One PointField: name, byte offset within a point, datatype constant and count."""

    name: str
    offset: int
    datatype: int = FLOAT32
    count: int = 1


@dataclass(frozen=True)
class PackedCloud:
    """Everything a PointCloud2 needs besides its header; ``data`` is bytes-like."""

    height: int
    width: int
    fields: tuple
    point_step: int
    row_step: int
    data: object
    is_bigendian: bool = False
    is_dense: bool = False


class CloudPacker:
    """Packs organised clouds into one reused buffer: a 640x480 cloud costs no allocation and,
    because the buffer is an ``array.array('B')`` that rclpy takes into a ``uint8[]`` field
    without copying, no copy on the Python side either.

    Fill :meth:`xyz_buffer` (for example with ``PointProjector.project(..., out=...)``), then
    call :meth:`pack` and publish. The next :meth:`xyz_buffer` call reuses the memory, so
    publish (rclpy serialises synchronously) before packing the next cloud.
    """

    def __init__(self):
        self._data = array.array('B')
        self._buffer = np.empty((0, 0, 3), dtype='<f4')

    def xyz_buffer(self, height, width, with_rgb=False):
        """Return the ``height x width x 3`` float32 view to write x/y/z into."""
        channels = 4 if with_rgb else 3
        if self._buffer.shape != (height, width, channels):
            self._data = array.array('B', bytes(height * width * channels * 4))
            self._buffer = np.frombuffer(self._data, dtype='<f4').reshape(
                height, width, channels)
        return self._buffer[:, :, :3]

    def pack(self, rgb=None):
        """Return the :class:`PackedCloud` of the buffer; ``rgb`` (H x W x 3 uint8, R-G-B
        order) fills the colour field when the buffer was requested ``with_rgb``.
        """
        height, width, channels = self._buffer.shape
        names = ('x', 'y', 'z', 'rgb')[:channels]
        if channels == 4:
            if rgb is None:
                raise ValueError('this cloud has an rgb field: pass the colours')
            colour_bytes = self._buffer[:, :, 3:].view(np.uint8)
            colour_bytes[:, :, :3] = rgb[:, :, ::-1]
            colour_bytes[:, :, 3] = 0
        point_step = 4 * channels
        fields = tuple(FieldLayout(name, 4 * index) for index, name in enumerate(names))
        return PackedCloud(height, width, fields, point_step, point_step * width, self._data)


def pack_points(points, rgb=None):
    """Pack an organised cloud into new memory.

    :param points: ``height x width x 3`` float32 x/y/z in metres, NaN for invalid points.
    :param rgb: optional ``height x width x 3`` uint8 colours in R, G, B order.
    """
    packer = CloudPacker()
    packer.xyz_buffer(points.shape[0], points.shape[1], rgb is not None)[...] = points
    cloud = packer.pack(rgb)
    return replace(cloud, data=bytes(cloud.data))


def unpack_points(fields, point_step, height, width, data, is_bigendian=False):
    """Read x/y/z (and rgb when present) back from PointCloud2 fields, as numpy arrays.

    :param fields: sequence of objects with ``name``, ``offset``, ``datatype`` and ``count``.
    :return: ``(points, rgb)``; ``rgb`` is None when the cloud has no rgb field.
    """
    offsets = {field.name: field.offset for field in fields}
    for name in ('x', 'y', 'z'):
        if name not in offsets:
            raise ValueError(f"cloud has no '{name}' field")
    order = '>' if is_bigendian else '<'
    record = np.dtype({'names': list(offsets), 'formats': [order + 'f4'] * len(offsets),
                       'offsets': list(offsets.values()), 'itemsize': point_step})
    cloud = np.frombuffer(data, dtype=record).reshape(height, width)
    points = np.stack([cloud['x'], cloud['y'], cloud['z']], axis=-1)
    rgb = None
    if 'rgb' in offsets:
        colour_bytes = np.ascontiguousarray(cloud['rgb']).astype('<f4').view(np.uint8)
        colour_bytes = colour_bytes.reshape(height, width, 4)
        rgb = colour_bytes[:, :, [2, 1, 0]]
    return points, rgb
