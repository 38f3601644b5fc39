"""A cached value with its freshness data, and its versioned byte encoding in Redis.

Layout (big-endian): version u8 · flags u8 · expires_at f64 (Unix seconds) · delta f32 (seconds the value
took to compute) · payload. Unknown versions decode as a miss, so a format change never serves garbage.
"""

from __future__ import annotations

import math
import random
import struct
from dataclasses import dataclass

VERSION = 1
_HEADER = struct.Struct(">BBdf")
HEADER_SIZE = _HEADER.size
_NEGATIVE = 0x01


def xfetch(now: float, expires_at: float, delta: float, beta: float) -> bool:
    """XFetch (Vattani et al., VLDB 2015): refresh before expiry with a probability that grows as expiry
    nears and with the compute time `delta`, so one caller refreshes a hot key before the herd sees it
    expire. -log(U) exceeds 30 with probability e^-30, so far-from-expiry entries skip the random draw."""
    if beta <= 0 or delta <= 0 or expires_at - now > delta * beta * 30:
        return False
    return now - delta * beta * math.log(1.0 - random.random()) >= expires_at


@dataclass(frozen=True, slots=True)
class Record:
    """`value is None` marks a cached miss (negative caching)."""

    value: bytes | None
    expires_at: float
    delta: float = 0.0

    @property
    def negative(self) -> bool:
        return self.value is None

    def fresh(self, now: float) -> bool:
        return now < self.expires_at

    def should_refresh_early(self, now: float, beta: float) -> bool:
        return xfetch(now, self.expires_at, self.delta, beta)

    def encode(self) -> bytes:
        flags = _NEGATIVE if self.value is None else 0
        return _HEADER.pack(VERSION, flags, self.expires_at, self.delta) + (self.value or b"")


def decode(raw: bytes) -> Record | None:
    """The record in `raw`, or None when the bytes are not a record of a version we know."""
    if len(raw) < HEADER_SIZE or raw[0] != VERSION:
        return None
    _, flags, expires_at, delta = _HEADER.unpack_from(raw)
    value = None if flags & _NEGATIVE else raw[HEADER_SIZE:]
    return Record(value, expires_at, delta)
