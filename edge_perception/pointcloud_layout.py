"""Byte layout of ``sensor_msgs/PointCloud2`` for organised x/y/z(/rgb) clouds.

No rclpy here: :func:`pack_points` returns the field descriptions and the data bytes; the node
copies them into a message. Colour follows the PCL/RViz convention: one float32 field ``rgb``
whose four bytes are blue, green, red, unused (little endian).
"""

from dataclasses import dataclass

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
    """Everything a PointCloud2 needs besides its header."""

    height: int
    width: int
    fields: tuple
    point_step: int
    row_step: int
    data: bytes
    is_bigendian: bool = False
    is_dense: bool = False


def pack_points(points, rgb=None):
    """Pack an organised cloud.

    :param points: ``height x width x 3`` float32 x/y/z in metres, NaN for invalid points.
    :param rgb: optional ``height x width x 3`` uint8 colours in R, G, B order.
    """
    height, width = points.shape[:2]
    names = ('x', 'y', 'z') if rgb is None else ('x', 'y', 'z', 'rgb')
    packed = np.empty((height, width, len(names)), dtype='<f4')
    packed[:, :, :3] = points
    if rgb is not None:
        colour_bytes = packed[:, :, 3:].view(np.uint8).reshape(height, width, 4)
        colour_bytes[:, :, 0] = rgb[:, :, 2]
        colour_bytes[:, :, 1] = rgb[:, :, 1]
        colour_bytes[:, :, 2] = rgb[:, :, 0]
        colour_bytes[:, :, 3] = 0
    point_step = 4 * len(names)
    fields = tuple(FieldLayout(name, 4 * index) for index, name in enumerate(names))
    return PackedCloud(height, width, fields, point_step, point_step * width, packed.tobytes())


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
