"""L1: an in-process cache bounded by entries and by bytes, with per-entry TTL (jittered).

Eviction is CLOCK (second chance), the usual approximation of LRU: a hit only sets its entry's `referenced`
bit, one attribute store where moving the key to the end of an OrderedDict cost a third of an L1 hit. The
oldest entry goes first unless it was referenced since it last came round; then it is moved to the back
with its bit cleared.

Admission: a value read from below (`admit`) takes a place in a full tier when the entry it would evict
has not been read since it was stored, or else on its key's second miss among the last `max_entries // 10`
refused keys, as a CDN caches on the second request (nginx's `proxy_cache_min_uses 2`). So a key read once
does not evict one that is read, and a tier filled with values nobody reads gives them up at once. An
entry is `proven` when CLOCK passes it with its bit set, so the hit path pays nothing for this. On a
Zipf(1.1) read-mostly load over four times the tier's size (`bench_cache`'s) it lifts the hit ratio from
0.835 to 0.855 (an eighth fewer misses; simulated: 0.856). Writes (`set`) are always taken: they
are the newest value.

Reads take no lock: `dict.get` is atomic under the GIL, and setting the bit on an entry another thread just
evicted changes nothing. Writes and evictions hold a lock so the byte count stays exact when threads share
the tier.
"""

from __future__ import annotations

import asyncio
import random
import threading
import time
from collections import OrderedDict
from collections.abc import Iterable

from runtime.cache.lookup import Lookup, Tier

# Rough per-entry overhead (dict slot, entry object, key object) so many tiny values still count.
ENTRY_OVERHEAD_BYTES = 160


def _entry_size(key: str, value: bytes | None) -> int:
    """What an entry counts against the tier's byte budget."""
    return (0 if value is None else len(value)) + len(key) + ENTRY_OVERHEAD_BYTES


class L1Entry:
    """One L1 value. `value is None` is a cached miss. `expires_at` is L1's own (shorter) expiry;
    `fresh_until` and `delta` are the value's logical expiry and compute time, for early refresh. `hit` is
    the lookup result, built once here so a hit allocates nothing (`ready`: the value as a finished future,
    made on the first hit). `confirmed`: stored while invalidation was known to be live, so it is good as
    long as that stays so (else it carries its own short expiry)."""

    __slots__ = (
        "confirmed",
        "delta",
        "expires_at",
        "fresh_until",
        "hit",
        "proven",
        "ready",
        "referenced",
        "size",
        "value",
    )

    def __init__(
        self,
        value: bytes | None,
        expires_at: float,
        fresh_until: float,
        delta: float,
        size: int,
        confirmed: bool = True,
    ):
        self.value = value
        self.expires_at = expires_at
        self.fresh_until = fresh_until
        self.delta = delta
        self.size = size
        self.confirmed = confirmed
        self.hit = Lookup(value, Tier.L1)
        self.ready: asyncio.Future[bytes | None] | None = None
        self.referenced = False  # hit since eviction last came round (module doc)
        self.proven = False  # hit at some time since stored (set when eviction passes it referenced)

    def make_ready(self) -> asyncio.Future[bytes | None]:
        """The value as a finished future (made on the first hit, in the running loop), for
        `MultiLevelCache.get` to return: awaiting a finished future reads its result, on any loop. Kept
        only for a value: a cached miss gets a new one each time, so that each of its hits is counted."""
        ready = asyncio.get_running_loop().create_future()
        ready.set_result(self.value)
        if self.value is not None:
            self.ready = ready
        return ready


class MemoryTier:
    def __init__(
        self,
        *,
        max_entries: int,
        max_bytes: int,
        max_item_bytes: int,
        ttl: float,
        jitter: float = 0.0,
    ) -> None:
        self.max_entries = max_entries
        self.max_bytes = max_bytes
        self.max_item_bytes = max_item_bytes
        self.ttl = ttl
        self.jitter = jitter
        # Read-only outside this class: MultiLevelCache inlines the hit path (`table.get`, then the entry's
        # `referenced` bit) because one Python call more is a third of an L1 hit's cost.
        self._data: OrderedDict[str, L1Entry] = OrderedDict()
        self.table = self._data
        self._lock = threading.Lock()
        self._bytes = 0
        self._refused: OrderedDict[str, None] = OrderedDict()  # keys refused lately, oldest first
        self._refused_max = max(8, max_entries // 10)
        self.evicted_size = 0
        self.evicted_expired = 0
        self.refused = 0  # values `admit` turned away

    @property
    def enabled(self) -> bool:
        return self.max_entries > 0 and self.max_bytes > 0

    @property
    def bytes_used(self) -> int:
        return self._bytes

    @property
    def entries(self) -> int:
        return len(self._data)

    def __contains__(self, key: str) -> bool:
        return self.get(key) is not None

    def get(self, key: str) -> L1Entry | None:
        """The live entry for `key` (marked referenced), or None."""
        entry = self._data.get(key)
        if entry is None:
            return None
        if entry.expires_at <= time.time():
            self._remove(key, entry, expired=True)
            return None
        entry.referenced = True
        return entry

    def admit(self, key: str, value: bytes | None) -> bool:
        """May a value read from below be stored? Yes if the key is here, if it fits without evicting, if
        the next victim was never read, or on the key's second miss lately (module doc); else the key is
        remembered and False returned."""
        size = _entry_size(key, value)
        with self._lock:
            if key in self._data or (
                len(self._data) < self.max_entries and self._bytes + size <= self.max_bytes
            ):
                return True
            if key in self._refused:  # its second miss lately
                del self._refused[key]
                return True
            if not self._data or not self._next_victim()[1].proven:
                return True
            self._refused[key] = None
            if len(self._refused) > self._refused_max:
                self._refused.popitem(last=False)
            self.refused += 1
            return False

    def _next_victim(self) -> tuple[str, L1Entry]:
        """The entry CLOCK evicts next, left in place (the lock held, the tier not empty). Referenced ones
        on the way get their second chance: moved to the back, their bit cleared, marked proven. Each bit
        clears once, so this ends."""
        data = self._data
        while True:
            key = next(iter(data))
            entry = data[key]
            if not entry.referenced:
                return key, entry
            entry.referenced = False
            entry.proven = True
            data.move_to_end(key)

    def expiry(self, now: float, fresh_until: float, ttl: float | None = None) -> float:
        """L1 expiry for a value fresh until `fresh_until`: L1's TTL shortened by a random jitter (so entries
        filled together do not all expire together), never past the value's own freshness."""
        span = self.ttl if ttl is None else min(ttl, self.ttl)
        if self.jitter:
            span *= 1.0 - self.jitter * random.random()
        return min(now + span, fresh_until)

    def set(
        self,
        key: str,
        value: bytes | None,
        *,
        fresh_until: float,
        delta: float = 0.0,
        now: float | None = None,
        ttl: float | None = None,
        confirmed: bool = True,
    ) -> bool:
        """Store `value` (None = cached miss) until min(L1 TTL, `ttl`, `fresh_until`). False if it does not
        fit. `confirmed`: see L1Entry."""
        size = _entry_size(key, value)
        if (
            not self.enabled
            or (value is not None and len(value) > self.max_item_bytes)
            or size > self.max_bytes
        ):
            self.delete(key)  # an older copy must not outlive this write
            return False
        now = time.time() if now is None else now
        expires_at = self.expiry(now, fresh_until, ttl)
        if expires_at <= now:
            self.delete(key)
            return False
        entry = L1Entry(value, expires_at, fresh_until, delta, size, confirmed)
        with self._lock:
            old = self._data.pop(key, None)
            if old is not None:
                self._bytes -= old.size
            # Room is made before the new entry goes in, so it is never its own victim.
            while self._data and (self._bytes + size > self.max_bytes or len(self._data) >= self.max_entries):
                victim_key, victim = self._next_victim()
                del self._data[victim_key]
                self._bytes -= victim.size
                self.evicted_size += 1
            self._data[key] = entry
            self._bytes += size
        return True

    def _remove(self, key: str, entry: L1Entry, *, expired: bool) -> None:
        with self._lock:
            if self._data.get(key) is entry:
                del self._data[key]
                self._bytes -= entry.size
                if expired:
                    self.evicted_expired += 1

    def delete(self, key: str) -> bool:
        with self._lock:
            entry = self._data.pop(key, None)
            if entry is None:
                return False
            self._bytes -= entry.size
            return True

    def delete_many(self, keys: Iterable[str]) -> int:
        removed = 0
        with self._lock:
            for key in keys:
                entry = self._data.pop(key, None)
                if entry is not None:
                    self._bytes -= entry.size
                    removed += 1
        return removed

    def clear(self) -> int:
        with self._lock:
            count = len(self._data)
            self._data.clear()
            self._refused.clear()
            self._bytes = 0
        return count

    def keys(self) -> list[str]:
        """A snapshot of the keys, in eviction order (oldest first; a referenced one gets a second round)."""
        with self._lock:
            return list(self._data)
