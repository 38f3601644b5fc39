"""L1 (bounded, CLOCK eviction, TTL), the L2 record format, XFetch and the circuit breaker."""

from __future__ import annotations

import threading
import time

import pytest

from runtime.cache.breaker import BreakerState, CircuitBreaker
from runtime.cache.l1 import ENTRY_OVERHEAD_BYTES, MemoryTier
from runtime.cache.record import HEADER_SIZE, Record, decode, xfetch
from tests.cache.conftest import CacheFactory


def tier(**kw: float) -> MemoryTier:
    args: dict[str, float] = {"max_entries": 100, "max_bytes": 10_000, "max_item_bytes": 5_000, "ttl": 60.0}
    args.update(kw)
    return MemoryTier(
        max_entries=int(args["max_entries"]),
        max_bytes=int(args["max_bytes"]),
        max_item_bytes=int(args["max_item_bytes"]),
        ttl=args["ttl"],
        jitter=args.get("jitter", 0.0),
    )


def put(t: MemoryTier, key: str, value: bytes, fresh: float = 60.0) -> bool:
    return t.set(key, value, fresh_until=time.time() + fresh)


def test_lru_eviction_by_bytes_keeps_recently_used() -> None:
    entry = 1000 + 2 + ENTRY_OVERHEAD_BYTES
    t = tier(max_bytes=3 * entry)
    for key in ("k1", "k2", "k3"):
        assert put(t, key, b"x" * 1000)
    assert t.get("k1") is not None  # k1 is referenced: it gets a second chance, so k2 goes
    assert put(t, "k4", b"x" * 1000)
    assert t.get("k2") is None
    assert {k for k in ("k1", "k3", "k4") if t.get(k)} == {"k1", "k3", "k4"}
    assert t.bytes_used == 3 * entry
    assert t.evicted_size == 1


def test_a_hit_buys_one_second_chance_not_more() -> None:
    """CLOCK: a referenced entry is passed over once (its bit cleared), then goes like any other."""
    t = tier(max_entries=3)
    for key in ("a", "b", "c"):
        put(t, key, b"v")
    assert t.get("a") is not None
    put(t, "d", b"v")  # a is referenced: b goes
    assert t.keys() == ["c", "a", "d"]
    put(t, "e", b"v")  # c
    put(t, "f", b"v")  # a, not hit since its second chance
    assert t.keys() == ["d", "e", "f"]
    assert t.evicted_size == 3


def test_a_new_entry_is_never_its_own_victim() -> None:
    """Every entry referenced: each gets its second chance, one of them goes, and the new one stays."""
    entry = 1000 + 2 + ENTRY_OVERHEAD_BYTES
    t = tier(max_entries=3, max_bytes=3 * entry)
    for key in ("k1", "k2", "k3"):
        put(t, key, b"x" * 1000)
        assert t.get(key) is not None
    assert put(t, "k4", b"x" * 1000)
    assert t.get("k4") is not None
    assert t.keys() == ["k2", "k3", "k4"] and t.bytes_used == 3 * entry


async def test_the_inlined_hit_path_marks_the_entry(make_cache: CacheFactory) -> None:
    """`MultiLevelCache.get` serves an L1 hit without calling the tier: it must still set the entry's bit,
    or a hot key would be evicted as if never read."""
    cache = await make_cache(l1_max_entries=2, stats_sample_every=1024)
    await cache.set("hot", b"1")
    await cache.set("cold", b"2")
    assert await cache.get("hot") == b"1"
    await cache.set("new", b"3")
    assert cache.l1.keys() == ["hot", "new"]


def test_a_full_tier_admits_a_value_from_below_on_its_second_miss() -> None:
    t = tier(max_entries=20)
    assert t.admit("k0", b"v")  # room: no one would be evicted
    for i in range(20):
        put(t, f"k{i}", b"v")
    assert t.admit("new", b"v")  # it would evict an entry never read since stored: no loss
    for i in range(20):
        assert t.get(f"k{i}") is not None
    assert t.admit("k3", b"v")  # already here: a refresh evicts no one
    assert not t.admit("new", b"v") and t.refused == 1  # it would evict a read entry: only remembered
    assert t.admit("new", b"v")  # the second miss is taken
    assert not t.admit("new", b"v")  # and forgotten once taken: a first miss again
    for i in range(8):  # the memory is bounded (8 keys for a tier of 20): the oldest is forgotten
        assert not t.admit(f"other{i}", b"v")
    assert not t.admit("new", b"v")
    assert t.refused == 11
    assert t.keys() == [f"k{i}" for i in range(20)]  # admit chose victims but evicted none
    small = tier(max_entries=100, max_bytes=2_000)
    put(small, "big", b"x" * 1_500)
    assert small.admit("another", b"x" * 400)  # full by bytes, but "big" was never read
    assert small.get("big") is not None
    assert not small.admit("another", b"x" * 400)


def test_one_big_value_evicts_several_small_ones() -> None:
    t = tier(max_bytes=2_000)
    for i in range(5):
        put(t, f"s{i}", b"x" * 100)
    put(t, "big", b"x" * 1_500)
    assert t.get("big") is not None
    assert t.bytes_used <= 2_000
    assert t.entries < 6


def test_eviction_by_entry_count() -> None:
    t = tier(max_entries=3)
    for i in range(5):
        put(t, f"k{i}", b"v")
    assert t.keys() == ["k2", "k3", "k4"]


def test_oversized_value_is_not_stored_and_drops_older_copy() -> None:
    t = tier(max_item_bytes=10)
    put(t, "k", b"small")
    assert not put(t, "k", b"x" * 11)
    assert t.get("k") is None
    assert t.bytes_used == 0


def test_ttl_expiry_and_value_freshness_bound() -> None:
    t = tier(ttl=0.05)
    put(t, "short-l1", b"v")
    put(t, "short-value", b"v", fresh=0.02)
    assert t.get("short-l1") is not None
    time.sleep(0.06)
    assert t.get("short-l1") is None
    assert t.get("short-value") is None
    assert t.evicted_expired == 2
    assert t.bytes_used == 0


def test_jitter_shortens_ttl_within_bounds() -> None:
    t = tier(ttl=100.0, jitter=0.2)
    now = 1000.0
    spans = [t.expiry(now, fresh_until=now + 1e9) - now for _ in range(500)]
    assert all(80.0 <= s <= 100.0 for s in spans)
    assert max(spans) - min(spans) > 10  # actually spread, not constant
    assert t.expiry(now, fresh_until=now + 5) == now + 5


def test_negative_entries_are_cached() -> None:
    t = tier()
    assert t.set("missing", None, fresh_until=time.time() + 5)
    entry = t.get("missing")
    assert entry is not None and entry.value is None and entry.hit.value is None


def test_thread_safety_keeps_accounting_exact() -> None:
    t = tier(max_entries=50, max_bytes=20_000)
    errors: list[BaseException] = []

    def worker(seed: int) -> None:
        try:
            for i in range(3000):
                key = f"k{(i * seed) % 200}"
                if i % 3:
                    t.get(key)
                elif i % 7 == 0:
                    t.delete(key)
                else:
                    put(t, key, b"x" * (i % 300))
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=worker, args=(s,)) for s in (1, 3, 7, 11)]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    assert not errors
    assert t.entries <= 50 and t.bytes_used <= 20_000
    assert t.bytes_used == sum(e.size for e in t.table.values())


def test_record_round_trip_and_versioning() -> None:
    rec = Record(b"payload", 1234.5, 0.25)
    raw = rec.encode()
    assert len(raw) == HEADER_SIZE + 7
    assert decode(raw) == rec
    neg = Record(None, 99.0)
    assert decode(neg.encode()) == neg and neg.negative
    assert decode(b"\x02" + raw[1:]) is None  # unknown version reads as a miss
    assert decode(b"short") is None


def test_xfetch_refreshes_near_expiry_only() -> None:
    now = 1000.0
    assert not any(xfetch(now, now + 100, 0.1, 1.0) for _ in range(1000))  # far from expiry
    near = sum(xfetch(now, now + 0.05, 0.1, 1.0) for _ in range(2000)) / 2000
    assert 0.4 < near < 0.8  # P = exp(-0.5) ≈ 0.61
    assert all(xfetch(now, now - 1, 0.1, 1.0) for _ in range(100))  # expired: always
    assert not xfetch(now, now + 0.01, 0.0, 1.0)  # no compute time known
    assert not xfetch(now, now + 0.01, 1.0, 0.0)  # disabled


def test_breaker_opens_half_opens_and_closes() -> None:
    clock = [0.0]
    changes: list[BreakerState] = []
    b = CircuitBreaker(
        failure_threshold=3, reset_seconds=1.0, on_change=changes.append, clock=lambda: clock[0]
    )
    for _ in range(2):
        b.failure()
    assert b.allow() and b.state is BreakerState.CLOSED
    b.failure()
    assert b.state is BreakerState.OPEN and not b.allow()
    clock[0] = 1.5
    assert b.allow() and b.state is BreakerState.HALF_OPEN
    assert not b.allow()  # one trial at a time
    b.failure()  # the trial failed: open again
    assert b.state is BreakerState.OPEN and not b.allow()
    clock[0] = 3.0
    assert b.allow()
    b.success()
    assert b.state is BreakerState.CLOSED and b.allow()
    assert changes == ["open", "half_open", "open", "half_open", "closed"]


@pytest.mark.parametrize("bad", [{"stats_sample_every": 3}, {"pubsub_reconnect_max_seconds": 0.01}])
def test_settings_validation(bad: dict[str, float]) -> None:
    from pydantic import ValidationError

    from runtime.cache import CacheSettings

    with pytest.raises(ValidationError):
        CacheSettings.model_validate(bad)


def test_change_log_guards_promotion_races() -> None:
    from runtime.cache.changes import ChangeLog

    log = ChangeLog(capacity=2)
    start = log.generation
    assert log.allows("k", start, 1.0)
    log.changed(["other"])
    assert log.allows("k", start, 1.0)  # a different key changed
    log.changed(["k"])  # k invalidated after the lookup started
    assert not log.allows("k", start, 1.0)
    assert log.allows("k", log.generation, 1.0)  # a lookup started after the change is fine
    later = log.generation
    log.changed(["k"], stamp=5.0)  # a write of the record that expires at 5.0
    assert log.allows("k", later, 5.0) and not log.allows("k", later, 4.0)
    log.changed(["a"])
    log.changed(["b"])  # capacity 2: k's change is forgotten, so old lookups are refused
    assert not log.allows("k", later, 5.0)
    now = log.generation
    log.changed_all()
    assert not log.allows("zzz", now, 1.0)
