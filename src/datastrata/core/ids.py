"""Identifiers: time-ordered UUIDs (version 7), so new ids land at the right edge of an index."""

from __future__ import annotations

import os
import time

_RAND_B = (1 << 62) - 1


def new_id() -> str:
    """Return a new UUIDv7 (RFC 9562): 48 bits of Unix milliseconds, then 74 random bits, as canonical text."""
    millis = time.time_ns() // 1_000_000
    rand = int.from_bytes(os.urandom(10), "big")
    value = (millis << 80) | (0x7 << 76) | ((rand >> 68) << 64) | (0b10 << 62) | (rand & _RAND_B)
    h = f"{value:032x}"
    return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"
