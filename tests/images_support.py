"""Hand-written PNGs for image tests: Pillow cannot write 16-bit colour, nor declare sizes it has not got."""

from __future__ import annotations

import struct
import zlib

import numpy as np


def _chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)


def png_bytes(samples: np.ndarray, colour_type: int, bit_depth: int = 16) -> bytes:
    """A PNG of HxW or HxWxC samples (colour type 0 grey, 2 RGB, 4 grey+alpha, 6 RGBA), rows unfiltered."""
    h, w = samples.shape[:2]
    if bit_depth == 16:
        rows = samples.astype(">u2").reshape(h, -1).view(np.uint8)
    elif bit_depth == 1:
        rows = np.packbits(samples.reshape(h, -1).astype(np.uint8), axis=1)
    else:
        rows = samples.astype(np.uint8).reshape(h, -1)
    raw = b"".join(b"\x00" + row.tobytes() for row in rows)
    header = struct.pack(">IIBBBBB", w, h, bit_depth, colour_type, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + _chunk(b"IHDR", header) + _chunk(b"IDAT", zlib.compress(raw)) + _chunk(b"IEND", b"")


def png_bomb(width: int, height: int, *, complete: bool = False) -> bytes:
    """A PNG declaring width x height 8-bit RGB pixels in a few kB of zlib: 64 rows of zeros, or all of them."""
    compressor = zlib.compressobj(9)
    row = b"\x00" * (1 + 3 * width)
    body = b"".join(compressor.compress(row) for _ in range(height if complete else min(height, 64))) + compressor.flush()
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + _chunk(b"IHDR", header) + _chunk(b"IDAT", body) + _chunk(b"IEND", b"")
