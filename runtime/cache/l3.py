"""L3: the object store (S3 API) for large, immutable values. Values are stored raw (no header): objects
do not expire here; they leave L3 only through invalidation."""

from __future__ import annotations

import time
from collections.abc import Sequence

from runtime.cache import metrics
from runtime.storage import ObjectNotFoundError, ObjectStore, StorageError


class ObjectTier:
    """Best-effort wrapper: store failures are counted and read as misses, never raised to a request."""

    def __init__(self, store: ObjectStore) -> None:
        self.store = store

    async def get(self, key: str) -> bytes | None:
        started = time.perf_counter()
        try:
            value = await self.store.get(key)
        except ObjectNotFoundError:
            return None
        except StorageError:
            metrics.L3_ERRORS.labels("get").inc()
            return None
        finally:
            metrics.LOOKUP_SECONDS["l3"].observe(time.perf_counter() - started)
        return value

    async def put(self, key: str, value: bytes) -> bool:
        try:
            await self.store.put(key, value)
        except StorageError:
            metrics.L3_ERRORS.labels("put").inc()
            return False
        return True

    async def delete_many(self, keys: Sequence[str]) -> bool:
        try:
            await self.store.delete_many(keys)
        except StorageError:
            metrics.L3_ERRORS.labels("delete").inc()
            return False
        return True
