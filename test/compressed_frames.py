"""Compressed frames built byte by byte, as an attacker or a broken driver would send them."""

import functools
import struct
import zlib

PNG_SIGNATURE = b'\x89PNG\r\n\x1a\n'
# Rows of zeros compressed per call: bounds the memory building a bomb takes.
_ROWS_PER_CHUNK = 256


def png_chunk(kind, payload):
    """Return one PNG chunk: length, type, payload, CRC of type and payload."""
    return struct.pack('>I', len(payload)) + kind + payload + \
        struct.pack('>I', zlib.crc32(kind + payload))


@functools.lru_cache(maxsize=4)
def png_of_zeros(width, height):
    """Return a valid 8-bit gray PNG of ``width`` x ``height`` black pixels: IHDR, one IDAT of
    zlib-compressed zero rows, IEND. 30000 x 30000 (900 MB decoded) is under 1 MB.
    """
    compressor = zlib.compressobj(9)
    rows = bytes(_ROWS_PER_CHUNK * (width + 1))  # each row: filter type 0, then the pixels
    parts = []
    for first in range(0, height, _ROWS_PER_CHUNK):
        count = min(_ROWS_PER_CHUNK, height - first)
        parts.append(compressor.compress(rows[:count * (width + 1)]))
    parts.append(compressor.flush())
    header = struct.pack('>IIBBBBB', width, height, 8, 0, 0, 0, 0)
    return (PNG_SIGNATURE + png_chunk(b'IHDR', header) + png_chunk(b'IDAT', b''.join(parts))
            + png_chunk(b'IEND', b''))
