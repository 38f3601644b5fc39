"""The result of a lookup: the value and the tier that answered (the gateway reports it per request)."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class Tier(StrEnum):
    """Where a value came from."""

    L1 = "l1"
    L2 = "l2"
    L3 = "l3"
    LOADER = "loader"


@dataclass(frozen=True, slots=True)
class Lookup:
    """A lookup's result. `tier is None`: found nowhere. `value is None` with a tier: a cached miss.
    `stale`: served past its freshness (while another caller reloads, or because the loader failed)."""

    value: bytes | None
    tier: Tier | None
    stale: bool = False


MISS = Lookup(None, None)
