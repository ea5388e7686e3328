"""Small PNG covers made with the standard library (zlib + struct), colour derived from the id."""

from __future__ import annotations

import colorsys
import hashlib
import struct
import zlib
from functools import lru_cache

MAX_SIDE = 1200


def _chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def colour_for(item_id: str) -> tuple[int, int, int]:
    """A stable, fairly saturated colour for an id."""
    digest = hashlib.sha256(item_id.encode()).digest()
    hue = digest[0] / 255
    r, g, b = colorsys.hsv_to_rgb(hue, 0.55 + digest[1] / 1024, 0.60 + digest[2] / 1024)
    return round(r * 255), round(g * 255), round(b * 255)


def png(width: int, height: int, rgb: tuple[int, int, int]) -> bytes:
    """An RGB PNG: a coloured cover with a darker spine and a light title band."""
    r, g, b = rgb
    dark = bytes((r // 2, g // 2, b // 2))
    base, light = (
        bytes(rgb),
        bytes((255 - (255 - r) // 4, 255 - (255 - g) // 4, 255 - (255 - b) // 4)),
    )
    spine = max(1, width // 12)
    plain = b"\x00" + dark * spine + base * (width - spine)
    band = b"\x00" + dark * spine + light * (width - spine)
    top, bottom = height // 5, height // 5 + max(1, height // 6)
    raw = b"".join(band if top <= y < bottom else plain for y in range(height))
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + _chunk(b"IHDR", header)
        + _chunk(b"IDAT", zlib.compress(raw, 6))
        + _chunk(b"IEND", b"")
    )


@lru_cache(maxsize=256)
def cover(item_id: str, width: int, height: int) -> bytes:
    """The cover of one item at one size (sides clamped to 1..MAX_SIDE)."""
    width = min(max(1, width), MAX_SIDE)
    height = min(max(1, height), MAX_SIDE)
    return png(width, height, colour_for(item_id))
