"""MultiLevelCache: L1 (process memory) → L2 (Redis) → L3 (object store) → loader.

Read-through with promotion into faster tiers, write-through on `set`, single-flight per process plus a
Redis lease across instances, XFetch early refresh, negative caching, dependency-graph invalidation
broadcast to every instance, and warming from shared access statistics. Redis trouble never fails a read:
L2 errors read as misses and a circuit breaker stops calling a dead Redis.

Bounded staleness: an L1 entry is served only while the invalidation channel is confirmed live (within
`staleness_bound_seconds` of the last confirmation, see invalidation.py), or, if it was stored while the
channel was not, for at most that bound after it was stored. Past it, lookups go to L2/L3 (an entry whose
channel comes back without an epoch change is good again). So under any fault of the connection (closed,
dropped, half-open, delayed) no instance serves a value for longer than the bound after it was changed
elsewhere. A write whose announcement could not reach Redis is announced again, as an invalidation, once
the listener has resubscribed: until then other instances cannot know of it.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import secrets
import time
from collections.abc import Awaitable, Callable, Iterable, Sequence
from types import TracebackType
from typing import Any, Protocol

import redis.asyncio as aioredis

from runtime.cache import metrics
from runtime.cache.changes import ChangeLog
from runtime.cache.errors import InvalidationError, L2UnavailableError
from runtime.cache.invalidation import DependencyGraph, InvalidationListener
from runtime.cache.l1 import L1Entry, MemoryTier
from runtime.cache.l2 import RedisTier
from runtime.cache.l3 import ObjectTier
from runtime.cache.lookup import MISS, Lookup, Tier
from runtime.cache.record import Record, xfetch
from runtime.cache.settings import CacheSettings
from runtime.cache.warming import AccessStats, Warmer
from runtime.observability.timing import TIMING
from runtime.storage import ObjectStore
from runtime.tasks import stop

log = logging.getLogger(__name__)
_now = time.time
_MAX_UNANNOUNCED = 10_000

Loader = Callable[[], Awaitable[bytes | None]]
"""Computes a value on a miss; returning None caches the miss (negative caching)."""


class CdnPurger(Protocol):
    """Called with the keys (paths) an invalidation removed, to purge them from the CDN/edge cache."""

    async def purge(self, paths: Sequence[str]) -> None: ...


class NoopPurger:
    async def purge(self, paths: Sequence[str]) -> None:
        return None


class MultiLevelCache:
    """The cache. Use `async with MultiLevelCache(...)` or call `start()` / `close()`."""

    def __init__(
        self,
        redis: aioredis.Redis,
        *,
        settings: CacheSettings | None = None,
        store: ObjectStore | None = None,
        cdn: CdnPurger | None = None,
    ) -> None:
        self.settings = s = settings or CacheSettings()
        self.instance_id = secrets.token_hex(8)
        self.l1 = MemoryTier(
            max_entries=s.l1_max_entries,
            max_bytes=s.l1_max_bytes,
            max_item_bytes=s.l1_max_item_bytes,
            ttl=s.l1_ttl_seconds,
            jitter=s.l1_ttl_jitter,
        )
        self.l2 = RedisTier(redis, s)
        self.l3 = ObjectTier(store) if store is not None else None
        self.cdn: CdnPurger = cdn or NoopPurger()
        self.graph = DependencyGraph(self.l2, self.instance_id)
        # L1 entries stored while invalidation was live are good until this (wall) time; without L2 there
        # is nothing to be told, so forever.
        self._bound = s.staleness_bound_seconds
        self._l1_valid_until = -math.inf if s.l2_enabled else math.inf
        self.listener = InvalidationListener(
            redis,
            s,
            origin=self.instance_id,
            on_keys=self._drop_remote,
            on_missed=self._drop_all,
            on_confirmed=self._confirmed,
        )
        self._unannounced: dict[str, None] = {}  # keys written while Redis could not be told (ordered)
        self.access = AccessStats(self.l2, s)
        self.stats = metrics.CacheStats()
        metrics.COLLECTOR.register(self.stats, self.l1)
        self._changes = ChangeLog()
        self._inflight: dict[str, asyncio.Task[Lookup]] = {}
        self._background: set[asyncio.Task[Any]] = set()
        self._warmer: asyncio.Task[None] | None = None
        self._l1_enabled = self.l1.enabled
        self._l1_table = self.l1.table
        self._l1_find = self.l1.table.get  # bound once: the hit paths below save a method lookup each
        self._sample_mask = s.stats_sample_every - 1
        self._sample_weight = float(s.stats_sample_every)
        self._closed = False

    # -- lifecycle -----------------------------------------------------------------------------------------

    async def start(self) -> None:
        """Subscribe to invalidations (waiting up to `startup_wait_seconds` for Redis to confirm), warm L1
        from the shared top-K, start the warmer loop."""
        if self.settings.l2_enabled:
            await self.listener.start(self.settings.startup_wait_seconds)
            try:  # an optimisation: whatever fails here must not keep the process from serving
                await self.warm()
            except Exception as exc:
                self._warm_failed(exc)
            self._warmer = asyncio.create_task(
                Warmer(
                    self.settings, flush=self.access.flush, warm=self.warm, on_error=self._warm_failed
                ).run(),
                name=f"cache-warmer-{self.instance_id}",
            )

    async def close(self) -> None:
        """Stop background work; pending access statistics are flushed on a best-effort basis."""
        if self._closed:
            return
        self._closed = True
        await stop(t for t in (self._warmer, *self._inflight.values(), *self._background) if t is not None)
        await self.listener.close()
        if self.settings.l2_enabled and self.settings.stats_enabled and self.l2.available:
            with contextlib.suppress(L2UnavailableError, TimeoutError):
                await asyncio.wait_for(self.access.flush(), 0.5)
        await self.l2.aclose()
        metrics.COLLECTOR.retire(self.stats)

    async def __aenter__(self) -> MultiLevelCache:
        await self.start()
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.close()

    # -- reads ---------------------------------------------------------------------------------------------

    def get(self, key: str) -> Awaitable[bytes | None]:
        """The value, or None (absent or a cached miss), to await. Never raises because Redis is down.

        Not a coroutine function: an L1 hit returns the entry's own finished future, whose await is a third
        cheaper than a coroutine's round trip (a third of the hit). Other lookups return a coroutine."""
        stats = self.stats
        n = stats.lookups = stats.lookups + 1
        if n & self._sample_mask:
            # The hot path, inlined: one dict lookup, one clock read, one reference bit.
            entry = self._l1_find(key)
            if (
                entry is not None
                and (now := _now()) < entry.expires_at
                and (now < self._l1_valid_until or not entry.confirmed)
            ):
                entry.referenced = True  # for eviction (l1.py): cheaper than an LRU move
                ready = entry.ready  # only ever set for a value: a cached miss is counted below
                if ready is None:
                    if entry.value is None:
                        stats.negative_hits += 1
                    ready = entry.make_ready()
                return ready
        return self._value_below_hot_path(key)

    async def _value_below_hot_path(self, key: str) -> bytes | None:
        return (await self._sampled_or_slow(key)).value

    async def get_with_source(self, key: str) -> Lookup:
        """Like `get`, and says which tier answered."""
        stats = self.stats
        n = stats.lookups = stats.lookups + 1
        if n & self._sample_mask:
            entry = self._l1_find(key)
            if (
                entry is not None
                and (now := _now()) < entry.expires_at
                and (now < self._l1_valid_until or not entry.confirmed)
            ):
                entry.referenced = True
                return entry.hit
        return await self._sampled_or_slow(key)

    def peek(self, key: str) -> Lookup | None:
        """L1 only, synchronously: the hit, or None (then `await get_with_source`). Saves the coroutine
        round trip on the hottest path; counts only hits, so the miss is counted once by the await."""
        entry = self._l1_find(key)
        if (
            entry is not None
            and (now := _now()) < entry.expires_at
            and (now < self._l1_valid_until or not entry.confirmed)
        ):
            entry.referenced = True
            self.stats.lookups += 1
            return entry.hit
        return None

    async def get_many(self, keys: Iterable[str]) -> dict[str, bytes]:
        """Values of the keys found (cached misses left out); L2 is asked in one MGET round trip."""
        found = await self.lookup_many(keys)
        return {key: hit.value for key, hit in found.items() if hit.value is not None}

    async def lookup_many(self, keys: Iterable[str]) -> dict[str, Lookup]:
        """A `Lookup` per distinct key."""
        stats = self.stats
        out: dict[str, Lookup] = {}
        todo: list[str] = []
        for key in dict.fromkeys(keys):
            stats.lookups += 1
            entry = self._l1_lookup(key)
            if entry is None:
                stats.l1_misses += 1
                todo.append(key)
            else:
                out[key] = entry.hit
        gen = self._changes.generation
        if todo and self.settings.l2_enabled:
            try:
                records = await self.l2.get_many(todo)
            except L2UnavailableError:
                records = [None] * len(todo)
            now = time.time()
            rest = []
            for key, record in zip(todo, records, strict=True):
                if record is not None and record.fresh(now):
                    stats.l2_hits += 1
                    self._promote(key, record, gen, now)
                    out[key] = Lookup(record.value, Tier.L2)
                else:
                    stats.l2_misses += 1
                    rest.append(key)
            todo = rest
        l3_keys = [key for key in todo if self._uses_l3(key)]
        if l3_keys:
            values = await asyncio.gather(*(self._from_l3(key, gen) for key in l3_keys))
            out.update({key: hit for key, hit in zip(l3_keys, values, strict=True) if hit.tier is not None})
        for key in todo:
            out.setdefault(key, MISS)
        return out

    async def get_or_load(
        self, key: str, loader: Loader, *, ttl: float | None = None, depends_on: Sequence[str] = ()
    ) -> bytes | None:
        """The cached value, or the loader's (run once per key across callers and instances)."""
        return (await self.get_or_load_with_source(key, loader, ttl=ttl, depends_on=depends_on)).value

    async def get_or_load_with_source(
        self, key: str, loader: Loader, *, ttl: float | None = None, depends_on: Sequence[str] = ()
    ) -> Lookup:
        """`get_or_load` that says which tier answered. `ttl` is the value's freshness (default L2's);
        `depends_on` lists resources whose invalidation must also remove this key."""
        stats = self.stats
        stats.lookups += 1
        if not stats.lookups & self._sample_mask and self.settings.stats_enabled:
            self.access.record(key, self._sample_weight)
        entry = self._l1_table.get(key)
        beta = self.settings.xfetch_beta
        if (
            entry is not None
            and (now := _now()) < entry.expires_at
            and (now < self._l1_valid_until or not entry.confirmed)
        ):
            entry.referenced = True
            if entry.value is not None and xfetch(time.time(), entry.fresh_until, entry.delta, beta):
                self._refresh(
                    key, loader, ttl, depends_on, Record(entry.value, entry.fresh_until, entry.delta)
                )
            return entry.hit
        found, record = await self._below_l1(key)
        if found.tier is not None:
            if (
                record is not None
                and record.value is not None
                and record.should_refresh_early(time.time(), beta)
            ):
                self._refresh(key, loader, ttl, depends_on, record)
            return found
        return await self._load_once(key, loader, ttl, depends_on, record)

    async def _sampled_or_slow(self, key: str) -> Lookup:
        """Every Nth lookup is timed for the L1 histogram and counted for warming statistics; the other
        callers come here after the inlined L1 check missed (or found an expired entry)."""
        sampled = not self.stats.lookups & self._sample_mask
        if sampled and self.settings.stats_enabled:
            self.access.record(key, self._sample_weight)
        started = time.perf_counter()
        entry = self._l1_lookup(key)
        if entry is not None:
            if sampled:
                metrics.LOOKUP_SECONDS["l1"].observe(time.perf_counter() - started)
            if entry.value is None:
                self.stats.negative_hits += 1
            return entry.hit
        return (await self._below_l1(key))[0]

    def _l1_lookup(self, key: str) -> L1Entry | None:
        """The L1 entry that may be served (see the module doc), or None. Removes an expired entry; keeps,
        without serving it, one whose channel is not live now (it is good again if the channel comes back
        without an epoch change)."""
        entry = self.l1.get(key)
        if entry is not None and entry.confirmed and time.time() >= self._l1_valid_until:
            return None
        return entry

    def _confirmed(self, at: float) -> None:
        """The listener proved every invalidation published before `at` applied."""
        self._l1_valid_until = max(self._l1_valid_until, at + self._bound)
        if self._unannounced and not self._closed:
            keys, self._unannounced = list(self._unannounced), {}
            task = asyncio.get_running_loop().create_task(self._announce(keys))
            self._background.add(task)
            task.add_done_callback(self._background.discard)

    @property
    def invalidation_live(self) -> bool:
        """Is the invalidation channel confirmed live right now (so L1 serves without a short bound)?"""
        return self._l1_live(time.time())

    def _l1_live(self, now: float) -> bool:
        """Is invalidation known to be live (so a new L1 entry needs no short expiry of its own)?"""
        return now < self._l1_valid_until

    async def _announce(self, keys: list[str]) -> None:
        """Tell the other instances about writes they could not hear of: as an invalidation, which only
        removes (the L2 copy may predate the write); on failure they wait for the next subscription."""
        try:
            await self.graph.invalidate(keys)
        except L2UnavailableError:
            self._remember_unannounced(keys)

    def _remember_unannounced(self, keys: Iterable[str]) -> None:
        for key in keys:
            self._unannounced[key] = None
        while len(self._unannounced) > _MAX_UNANNOUNCED:  # bounded: the oldest go (their L1 TTLs run)
            del self._unannounced[next(iter(self._unannounced))]

    async def _below_l1(self, key: str) -> tuple[Lookup, Record | None]:
        """L2 then L3. Also returns the L2 record seen, fresh or stale (stale ones serve during reloads)."""
        stats = self.stats
        stats.l1_misses += 1
        gen = self._changes.generation
        stale: Record | None = None
        if self.settings.l2_enabled:
            timing = TIMING.get()  # a debug request's Server-Timing (None otherwise)
            started = time.perf_counter() if timing is not None else 0.0
            try:
                record = await self.l2.get(key)
            except L2UnavailableError:
                record = None
            if timing is not None:
                timing.add("l2", time.perf_counter() - started)
            if record is not None:
                now = time.time()
                if record.fresh(now):
                    stats.l2_hits += 1
                    if record.value is None:
                        stats.negative_hits += 1
                    self._promote(key, record, gen, now)
                    return Lookup(record.value, Tier.L2), record
                stale = record
            stats.l2_misses += 1
        if self._uses_l3(key):
            return await self._from_l3(key, gen), stale
        return MISS, stale

    def _uses_l3(self, key: str) -> bool:
        prefixes = self.settings.l3_key_prefixes
        return self.l3 is not None and (not prefixes or key.startswith(prefixes))

    async def _from_l3(self, key: str, gen: int, *, hot: bool = False) -> Lookup:
        assert self.l3 is not None
        timing = TIMING.get()
        started = time.perf_counter() if timing is not None else 0.0
        value = await self.l3.get(key)
        if timing is not None:
            timing.add("l3", time.perf_counter() - started)
        if value is None:
            self.stats.l3_misses += 1
            return MISS
        self.stats.l3_hits += 1
        now = time.time()
        record = Record(value, now + self.settings.l2_ttl_seconds)
        if self._fits_l2(value):
            with contextlib.suppress(L2UnavailableError):
                await self.l2.set(key, record)
        self._promote(key, record, gen, now, hot=hot)
        return Lookup(value, Tier.L3)

    def _promote(self, key: str, record: Record, gen: int, now: float, *, hot: bool = False) -> None:
        """Copy a record read from below into L1. `hot`: known to be read often (the warmer's top keys),
        so it skips the admission that keeps one-off reads from evicting hot keys (l1.py)."""
        if (
            self._l1_enabled
            and self._changes.allows(key, gen, record.expires_at)  # no change raced with this lookup
            and (hot or self.l1.admit(key, record.value))
        ):
            live = self._l1_live(now)
            self.l1.set(
                key,
                record.value,
                fresh_until=record.expires_at,
                delta=record.delta,
                now=now,
                ttl=None if live else self._bound,
                confirmed=live,
            )

    def _fits_l2(self, value: bytes | None) -> bool:
        return self.settings.l2_enabled and (value is None or len(value) <= self.settings.l2_max_item_bytes)

    # -- loading -------------------------------------------------------------------------------------------

    async def _load_once(
        self, key: str, loader: Loader, ttl: float | None, depends_on: Sequence[str], stale: Record | None
    ) -> Lookup:
        """Single-flight: concurrent misses of one key in this process share one load."""
        task = self._inflight.get(key)
        if task is None:
            task = self._spawn_load(key, loader, ttl, depends_on, stale)
        else:
            metrics.STAMPEDE_WAITS.labels("local").inc()
        return await asyncio.shield(task)

    def _spawn_load(
        self, key: str, loader: Loader, ttl: float | None, depends_on: Sequence[str], stale: Record | None
    ) -> asyncio.Task[Lookup]:
        task = asyncio.create_task(self._load(key, loader, ttl, depends_on, stale), name=f"cache-load:{key}")
        self._inflight[key] = task

        def done(t: asyncio.Task[Lookup]) -> None:
            if self._inflight.get(key) is t:
                del self._inflight[key]
            if not t.cancelled() and t.exception() is not None:
                pass  # retrieved here so an unawaited failure (e.g. a background refresh) is not reported

        task.add_done_callback(done)
        return task

    def _refresh(
        self, key: str, loader: Loader, ttl: float | None, depends_on: Sequence[str], current: Record
    ) -> None:
        """Early refresh in the background (XFetch); the caller gets the current value at once."""
        if key in self._inflight or self._closed:
            return
        metrics.EARLY_REFRESHES.inc()
        task = self._spawn_load(key, loader, ttl, depends_on, current)
        self._background.add(task)
        task.add_done_callback(self._background.discard)

    async def _load(
        self, key: str, loader: Loader, ttl: float | None, depends_on: Sequence[str], stale: Record | None
    ) -> Lookup:
        gen = self._changes.generation
        token = secrets.token_hex(8)
        leased = False
        if self.settings.l2_enabled:
            try:
                leased = await self.l2.acquire_lease(key, token)
                if not leased:
                    # Another instance is loading: serve what we have, or wait briefly for its result.
                    metrics.STAMPEDE_WAITS.labels("lease").inc()
                    if stale is not None and stale.value is not None:
                        metrics.STALE_SERVED.labels("lease").inc()
                        return Lookup(stale.value, Tier.L2, stale=True)
                    found = await self._wait_for_peer(key, gen)
                    if found is not None:
                        return found
                    leased = await self.l2.acquire_lease(key, token)
            except L2UnavailableError:
                pass  # Redis down: load here (single-flight still holds per process)
        try:
            started = time.perf_counter()
            try:
                value = await loader()
            except Exception:
                metrics.LOADER_CALLS.labels("error").inc()
                if stale is not None and stale.value is not None:
                    metrics.STALE_SERVED.labels("error").inc()
                    log.warning("cache loader for %r failed; serving the stale value", key, exc_info=True)
                    return Lookup(stale.value, Tier.L2, stale=True)
                raise
            delta = time.perf_counter() - started
            metrics.LOOKUP_SECONDS["loader"].observe(delta)
            metrics.LOADER_CALLS.labels("ok" if value is not None else "negative").inc()
            self.stats.loader_hits += 1
            await self._store(key, value, ttl=ttl, depends_on=depends_on, delta=delta, gen=gen)
            return Lookup(value, Tier.LOADER)
        finally:
            if leased:
                with contextlib.suppress(L2UnavailableError):
                    await self.l2.release_lease(key, token)

    async def _wait_for_peer(self, key: str, gen: int) -> Lookup | None:
        """Poll L2 while another instance holds the lease; None if it gave up or took too long."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.settings.lease_wait_seconds
        delay = self.settings.lease_poll_seconds
        try:
            while (remaining := deadline - loop.time()) > 0:
                await asyncio.sleep(min(delay, remaining))
                record = await self.l2.get(key)
                now = time.time()
                if record is not None and record.fresh(now):
                    self._promote(key, record, gen, now)
                    return Lookup(record.value, Tier.L2)
                if not await self.l2.lease_held(key):
                    return None  # the other loader finished without storing (or died): load ourselves
                delay = min(delay * 1.5, 0.1)
        except L2UnavailableError:
            return None
        return None

    # -- writes --------------------------------------------------------------------------------------------

    async def set(
        self, key: str, value: bytes, *, ttl: float | None = None, depends_on: Sequence[str] = ()
    ) -> None:
        """Write through every tier and tell other instances to drop their L1 copy (one Redis round trip).
        Best effort below L1: Redis or object-store failures are counted, not raised."""
        await self._store(key, value, ttl=ttl, depends_on=depends_on, delta=0.0, gen=None)

    async def _store(
        self,
        key: str,
        value: bytes | None,
        *,
        ttl: float | None,
        depends_on: Sequence[str],
        delta: float,
        gen: int | None,
    ) -> None:
        """Write a value to the tiers. `gen`: the generation at which a load started (its result is cached
        only if nothing changed the key meanwhile), or None for `set`, which is itself the change: it is
        recorded and announced to the other instances."""
        now = time.time()
        if value is None:
            if self.settings.negative_ttl_seconds <= 0:
                return
            fresh_until = now + self.settings.negative_ttl_seconds
        else:
            fresh_until = now + (self.settings.l2_ttl_seconds if ttl is None else ttl)
        record = Record(value, fresh_until, delta)
        if gen is None:
            self._changes.changed([key], fresh_until)  # older in-flight reads must not promote over this
        elif not self._changes.allows(key, gen, fresh_until):
            return  # invalidated while loading: the value may predate the change, so cache it nowhere
        live = self._l1_live(now)
        self.l1.set(
            key,
            value,
            fresh_until=fresh_until,
            delta=delta,
            now=now,
            ttl=None if live else self._bound,
            confirmed=live,
        )
        if self.settings.l2_enabled:
            # Too big for Redis: delete an older copy there; the graph still records the edges.
            stored = record if self._fits_l2(value) else None
            try:
                if gen is None:
                    await self.graph.write_and_announce(key, stored, depends_on)
                else:
                    await self.l2.set(key, stored, depends_on=depends_on)
            except L2UnavailableError:
                if gen is None:
                    self._remember_unannounced([key])
        if value is not None and self.settings.l3_write_through and self._uses_l3(key):
            assert self.l3 is not None
            await self.l3.put(key, value)

    async def add_dependency(self, resource: str, *dependents: str) -> None:
        """Record that invalidating `resource` must also invalidate `dependents` (transitively)."""
        await self.graph.add(resource, list(dependents))

    # -- invalidation --------------------------------------------------------------------------------------

    async def invalidate(self, *resources: str) -> list[str]:
        """Remove `resources` and everything depending on them, transitively, from every tier of every
        instance, and purge those paths from the CDN. Returns the keys removed.

        Raises InvalidationError if Redis could not be updated (the local L1, L3 and the CDN hook were still
        handled for the keys known here) or if the CDN hook failed."""
        if not resources:
            return []
        failure: BaseException | None = None
        try:
            keys = (await self.graph.invalidate(resources)).keys
        except L2UnavailableError as exc:
            keys, failure = list(resources), exc
            self._remember_unannounced(keys)  # the others are told once Redis is reachable again
        self._changes.changed(keys)
        removed = self.l1.delete_many(keys)
        metrics.INVALIDATIONS.labels("local").inc()
        metrics.INVALIDATED_KEYS.inc(len(keys))
        log.debug("invalidated %d keys (%d were in L1)", len(keys), removed)
        if self.l3 is not None:
            l3_keys = [key for key in keys if self._uses_l3(key)]
            if l3_keys:
                await self.l3.delete_many(l3_keys)
        try:
            await self.cdn.purge(keys)
        except Exception as exc:
            metrics.CDN_PURGE_ERRORS.inc()
            failure = failure or exc
        if failure is not None:
            raise InvalidationError(f"invalidation of {len(keys)} keys incomplete: {failure}") from failure
        return keys

    def _drop_remote(self, keys: list[str], stamp: float | None) -> None:
        """Another instance invalidated `keys`, or wrote the record stamped `stamp` (its expiry) for one key:
        an L1 entry that already is that record is current and stays."""
        self._changes.changed(keys, stamp)
        if stamp is not None:
            keys = [k for k in keys if (e := self.l1.table.get(k)) is None or e.fresh_until != stamp]
        self.l1.delete_many(keys)
        metrics.INVALIDATIONS.labels("remote").inc()
        metrics.INVALIDATED_KEYS.inc(len(keys))

    def _drop_all(self) -> int:
        self._changes.changed_all()
        dropped = self.l1.clear()
        if dropped:
            log.warning("cache: invalidation messages may have been missed; dropped %d L1 entries", dropped)
        return dropped

    # -- warming -------------------------------------------------------------------------------------------

    async def warm(self, n: int | None = None) -> int:
        """Load the `n` hottest keys (shared statistics) into L1, from L2 or else L3. Returns how many."""
        n = self.settings.warm_top_n if n is None else n
        if n <= 0:
            return 0
        with contextlib.suppress(L2UnavailableError):
            await self.access.flush()
        keys = [key for key in await self.access.top(n) if self.l1.get(key) is None]
        if not keys:
            return 0
        gen = self._changes.generation
        records = await self.l2.get_many(keys)
        now = time.time()
        warmed = 0
        missing = []
        for key, record in zip(keys, records, strict=True):
            if record is not None and record.value is not None and record.fresh(now):
                self._promote(key, record, gen, now, hot=True)
                warmed += 1
            elif self._uses_l3(key):
                missing.append(key)
        if missing:
            limit = asyncio.Semaphore(8)

            async def one(key: str) -> bool:
                async with limit:
                    return (await self._from_l3(key, gen, hot=True)).tier is not None

            warmed += sum(await asyncio.gather(*(one(key) for key in missing)))
        metrics.WARMED_KEYS.inc(warmed)
        return warmed

    def _warm_failed(self, exc: BaseException) -> None:
        if not isinstance(exc, L2UnavailableError):
            log.warning("cache warming round failed: %s", exc)
