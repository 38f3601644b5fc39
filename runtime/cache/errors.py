"""Errors of the cache package; callers catch `CacheError` for all of them."""

from __future__ import annotations


class CacheError(Exception):
    """Base class for cache failures."""


class L2UnavailableError(CacheError):
    """Redis failed or the circuit breaker is open. Reads treat it as a miss; it never fails a request."""


class InvalidationError(CacheError):
    """An invalidation could not be recorded in Redis or broadcast to other instances.

    Local tiers and the CDN hook were still applied for the keys known here; retry once Redis is back.
    """
