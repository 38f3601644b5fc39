"""Prometheus metrics of the cache (`streamgate_cache_*`), defined once on the default registry.

Hit/miss counts sit on the hottest path, where `Counter.inc()` (a lock and a float add) would cost more than
the L1 lookup itself. They are plain ints on a per-cache `CacheStats` and exported by a custom collector
that sums the live caches plus those already closed.
"""

from __future__ import annotations

import threading
from bisect import bisect_left
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Protocol

from prometheus_client import REGISTRY, Counter, Gauge
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, HistogramMetricFamily
from prometheus_client.registry import Collector

TIERS = ("l1", "l2", "l3", "loader")

LOOKUP_BUCKETS = (
    1e-6,
    5e-6,
    2.5e-5,
    1e-4,
    2.5e-4,
    5e-4,
    1e-3,
    2.5e-3,
    5e-3,
    0.01,
    0.025,
    0.05,
    0.1,
    0.25,
    0.5,
    1,
    2.5,
)


class FastHistogram:
    """A histogram for the per-lookup path: a bisect and two additions, no lock (prometheus_client's
    Histogram takes a lock per bucket and per sum, which costs more than the L2 hit's own Python work).
    Increments happen on the event-loop thread; a rare lost count under free threading is acceptable."""

    def __init__(self, buckets: tuple[float, ...] = LOOKUP_BUCKETS) -> None:
        self.bounds = buckets
        self.counts = [0] * (len(buckets) + 1)  # the last slot is +Inf
        self.sum = 0.0

    def observe(self, seconds: float) -> None:
        self.counts[bisect_left(self.bounds, seconds)] += 1
        self.sum += seconds

    def cumulative(self) -> list[tuple[str, float]]:
        out, running = [], 0
        for bound, count in zip((*self.bounds, float("inf")), self.counts, strict=True):
            running += count
            out.append(("+Inf" if bound == float("inf") else repr(float(bound)), float(running)))
        return out


LOOKUP_SECONDS = {tier: FastHistogram() for tier in ("l1", "l2", "l3", "loader")}
"""Latency of a lookup in one tier (L1 sampled; loader = computing the value), exported by the collector
below as `streamgate_cache_lookup_seconds{tier}`."""


LOADER_CALLS = Counter(
    "streamgate_cache_loader_calls_total", "Loader invocations by outcome", ["outcome"]
)  # ok | negative | error
STAMPEDE_WAITS = Counter(
    "streamgate_cache_stampede_waits_total",
    "Callers that waited for a load already in flight",
    ["scope"],  # local (single-flight in this process) | lease (another instance)
)
STALE_SERVED = Counter(
    "streamgate_cache_stale_served_total", "Stale values served instead of waiting or failing", ["reason"]
)
EARLY_REFRESHES = Counter("streamgate_cache_early_refreshes_total", "Background refreshes started by XFetch")
INVALIDATIONS = Counter(
    "streamgate_cache_invalidations_total", "Invalidation events applied to this instance's L1", ["origin"]
)  # local | remote
INVALIDATED_KEYS = Counter("streamgate_cache_invalidated_keys_total", "Keys removed by invalidations")
L1_DROPS = Counter(
    "streamgate_cache_l1_drops_total", "Whole-L1 drops, e.g. after missed invalidation messages", ["reason"]
)
L2_ERRORS = Counter("streamgate_cache_l2_errors_total", "Failed Redis operations", ["op"])
L3_ERRORS = Counter("streamgate_cache_l3_errors_total", "Failed object-store operations", ["op"])
CDN_PURGE_ERRORS = Counter("streamgate_cache_cdn_purge_errors_total", "CDN purge hook failures")
BREAKER_OPEN = Gauge(
    "streamgate_cache_l2_breaker_open", "1 while the circuit breaker in front of Redis is open", ["cache"]
)
WARMED_KEYS = Counter("streamgate_cache_warmed_keys_total", "Keys loaded into L1 by the warmer")


class _L1View(Protocol):
    """What the collector reads from an L1 tier."""

    @property
    def bytes_used(self) -> int: ...

    @property
    def entries(self) -> int: ...

    evicted_size: int
    evicted_expired: int
    refused: int


@dataclass(slots=True)
class CacheStats:
    """Cheap counters of one cache. L1 hits = lookups - l1_misses (the hit path increments one int)."""

    lookups: int = 0
    l1_misses: int = 0
    l2_hits: int = 0
    l2_misses: int = 0
    l3_hits: int = 0
    l3_misses: int = 0
    loader_hits: int = 0  # values obtained by running the loader
    negative_hits: int = 0  # cached misses served

    def hits(self, tier: str) -> int:
        if tier == "l1":
            return self.lookups - self.l1_misses
        return int(getattr(self, f"{tier}_hits"))

    def misses(self, tier: str) -> int:
        if tier == "loader":
            return 0
        return int(getattr(self, f"{tier}_misses"))


class _CacheCollector(Collector):
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._live: dict[int, tuple[CacheStats, _L1View]] = {}
        self._retired_hits = dict.fromkeys(TIERS, 0)
        self._retired_misses = dict.fromkeys(TIERS, 0)
        self._retired_evictions = {"size": 0, "expired": 0}
        self._retired_refused = 0

    def register(self, stats: CacheStats, l1: _L1View) -> None:
        with self._lock:
            self._live[id(stats)] = (stats, l1)

    def retire(self, stats: CacheStats) -> None:
        """Fold a closed cache's counts into the totals so counters never go backwards."""
        with self._lock:
            pair = self._live.pop(id(stats), None)
            if pair is None:
                return
            for tier in TIERS:
                self._retired_hits[tier] += stats.hits(tier)
                self._retired_misses[tier] += stats.misses(tier)
            self._retired_evictions["size"] += pair[1].evicted_size
            self._retired_evictions["expired"] += pair[1].evicted_expired
            self._retired_refused += pair[1].refused

    def collect(self) -> Iterator[CounterMetricFamily | GaugeMetricFamily | HistogramMetricFamily]:
        with self._lock:
            live = list(self._live.values())
            hits, misses = dict(self._retired_hits), dict(self._retired_misses)
            evictions = dict(self._retired_evictions)
            refused = self._retired_refused
        held = entries = negative = 0
        for stats, l1 in live:
            for tier in TIERS:
                hits[tier] += stats.hits(tier)
                misses[tier] += stats.misses(tier)
            evictions["size"] += l1.evicted_size
            evictions["expired"] += l1.evicted_expired
            refused += l1.refused
            held += l1.bytes_used
            entries += l1.entries
            negative += stats.negative_hits
        hit_family = CounterMetricFamily(
            "streamgate_cache_hits", "Lookups answered by a tier", labels=["tier"]
        )
        miss_family = CounterMetricFamily(
            "streamgate_cache_misses", "Lookups a tier could not answer", labels=["tier"]
        )
        for tier in TIERS:
            hit_family.add_metric([tier], hits[tier])
            if tier != "loader":
                miss_family.add_metric([tier], misses[tier])
        yield hit_family
        yield miss_family
        evict_family = CounterMetricFamily(
            "streamgate_cache_evictions",
            "Entries removed from L1 by its size bounds or expiry",
            labels=["reason"],
        )
        for reason, count in evictions.items():
            evict_family.add_metric([reason], count)
        yield evict_family
        yield CounterMetricFamily(
            "streamgate_cache_l1_refused",
            "Values read from L2 or L3 that a full L1 did not take: each would have evicted an entry"
            " that is read, on its key's first miss lately",
            value=refused,
        )
        yield CounterMetricFamily(
            "streamgate_cache_negative_hits", "Cached misses served (negative caching)", value=negative
        )
        bytes_family = GaugeMetricFamily("streamgate_cache_bytes", "Bytes held by a tier", labels=["tier"])
        bytes_family.add_metric(["l1"], held)
        yield bytes_family
        entries_family = GaugeMetricFamily(
            "streamgate_cache_entries", "Entries held by a tier", labels=["tier"]
        )
        entries_family.add_metric(["l1"], entries)
        yield entries_family
        latency = HistogramMetricFamily(
            "streamgate_cache_lookup_seconds",
            "Latency of a lookup in one tier (L1 is sampled; loader = computing the value)",
            labels=["tier"],
        )
        for tier, histogram in LOOKUP_SECONDS.items():
            latency.add_metric([tier], histogram.cumulative(), histogram.sum)
        yield latency


COLLECTOR = _CacheCollector()
REGISTRY.register(COLLECTOR)

__all__ = [
    "BREAKER_OPEN",
    "CDN_PURGE_ERRORS",
    "COLLECTOR",
    "EARLY_REFRESHES",
    "INVALIDATED_KEYS",
    "INVALIDATIONS",
    "L1_DROPS",
    "L2_ERRORS",
    "L3_ERRORS",
    "LOADER_CALLS",
    "LOOKUP_SECONDS",
    "STALE_SERVED",
    "STAMPEDE_WAITS",
    "WARMED_KEYS",
    "CacheStats",
    "FastHistogram",
]
