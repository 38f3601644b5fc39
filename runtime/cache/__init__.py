"""Multi-level cache: in-process L1 → Redis L2 → object-store L3, with cross-instance invalidation,
stampede control, early refresh, warming and Prometheus metrics."""

from runtime.cache.errors import CacheError, InvalidationError, L2UnavailableError
from runtime.cache.lookup import Lookup, Tier
from runtime.cache.multilevel import CdnPurger, Loader, MultiLevelCache, NoopPurger
from runtime.cache.settings import CacheSettings

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
