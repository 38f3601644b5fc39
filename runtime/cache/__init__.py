"""Multi-level cache: in-process L1 → Redis L2 → object-store L3, with cross-instance invalidation,
stampede control, early refresh, warming and Prometheus metrics.

`CacheSettings` is plain pydantic; the rest loads on first use (it imports Redis), so that a settings model
can nest `CacheSettings` without pulling in the cache itself."""

from __future__ import annotations

from typing import TYPE_CHECKING

from runtime.cache.settings import CacheSettings
from runtime.lazy import lazy_attributes

if TYPE_CHECKING:
    from runtime.cache.errors import CacheError, InvalidationError, L2UnavailableError
    from runtime.cache.lookup import Lookup, Tier
    from runtime.cache.multilevel import CdnPurger, Loader, MultiLevelCache, NoopPurger

__all__ = [
    "CacheError",
    "CacheSettings",
    "CdnPurger",
    "InvalidationError",
    "L2UnavailableError",
    "Loader",
    "Lookup",
    "MultiLevelCache",
    "NoopPurger",
    "Tier",
]
_HOMES = {
    "CacheError": "runtime.cache.errors",
    "InvalidationError": "runtime.cache.errors",
    "L2UnavailableError": "runtime.cache.errors",
    "Lookup": "runtime.cache.lookup",
    "Tier": "runtime.cache.lookup",
    "CdnPurger": "runtime.cache.multilevel",
    "Loader": "runtime.cache.multilevel",
    "MultiLevelCache": "runtime.cache.multilevel",
    "NoopPurger": "runtime.cache.multilevel",
}

__getattr__ = lazy_attributes(__name__, _HOMES)
