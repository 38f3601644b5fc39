"""Read-through, promotion, write-through, TTLs, negative caching, batching and metrics of MultiLevelCache."""

from __future__ import annotations

import asyncio
import time

import redis.asyncio as aioredis
from prometheus_client import REGISTRY

from runtime.cache import MultiLevelCache, Tier
from runtime.cache.record import decode
from runtime.connections import redis_client
from runtime.storage import ObjectStore
from tests.cache.conftest import CacheFactory
from tests.servers import RedisServer


async def mget_calls(client: aioredis.Redis) -> int:
    stats = await client.info("commandstats")
    return int(stats.get("cmdstat_mget", {}).get("calls", 0))


async def test_promotion_l3_to_l2_to_l1(make_cache: CacheFactory, store: ObjectStore) -> None:
    cache = await make_cache(store=store)
    await store.put("/vod/7/seg-1.ts", b"segment-bytes")
    first = await cache.get_with_source("/vod/7/seg-1.ts")
    assert (first.value, first.tier) == (b"segment-bytes", Tier.L3)
    assert (await cache.get_with_source("/vod/7/seg-1.ts")).tier == Tier.L1
    cache.l1.clear()
    second = await cache.get_with_source("/vod/7/seg-1.ts")
    assert (second.value, second.tier) == (b"segment-bytes", Tier.L2)  # L3 promoted it into L2
    assert (await cache.get_with_source("/vod/7/seg-1.ts")).tier == Tier.L1
    assert (cache.stats.l3_hits, cache.stats.l2_hits) == (1, 1)


async def test_set_writes_through_every_tier(make_cache: CacheFactory, store: ObjectStore) -> None:
    cache = await make_cache(store=store)
    await cache.set("/vod/1/seg-9.ts", b"v1", ttl=30)
    assert (await cache.get_with_source("/vod/1/seg-9.ts")).tier == Tier.L1
    raw = await cache.l2.client.get(cache.l2.keys.value("/vod/1/seg-9.ts"))
    assert raw is not None
    record = decode(raw)
    assert record is not None and record.value == b"v1"
    assert 25 < record.expires_at - time.time() <= 30
    assert await store.get("/vod/1/seg-9.ts") == b"v1"
    # Redis keeps it for the stale window too
    pttl = await cache.l2.client.pttl(cache.l2.keys.value("/vod/1/seg-9.ts"))
    assert 30_000 < pttl <= (30 + cache.settings.l2_stale_seconds) * 1000


async def test_l3_key_prefixes_limit_what_goes_to_the_object_store(
    make_cache: CacheFactory, store: ObjectStore
) -> None:
    cache = await make_cache(store=store, l3_key_prefixes=("/seg/",))
    await cache.set("/seg/1", b"big")
    await cache.set("/manifest/1", b"small")
    assert await store.exists("/seg/1")
    assert not await store.exists("/manifest/1")


async def test_l1_ttl_expiry_falls_back_to_l2(make_cache: CacheFactory) -> None:
    cache = await make_cache(l1_ttl_seconds=0.05)
    await cache.set("k", b"v")
    assert (await cache.get_with_source("k")).tier == Tier.L1
    await asyncio.sleep(0.07)
    assert (await cache.get_with_source("k")).tier == Tier.L2


async def test_value_ttl_expires_in_every_tier(make_cache: CacheFactory) -> None:
    cache = await make_cache(l2_stale_seconds=0)
    await cache.set("k", b"v", ttl=0.1)
    assert await cache.get("k") == b"v"
    await asyncio.sleep(0.15)
    assert await cache.get_with_source("k") == (await cache.get_with_source("missing"))
    assert await cache.get("k") is None


async def test_stale_l2_record_is_not_served_by_get(make_cache: CacheFactory) -> None:
    cache = await make_cache(l2_stale_seconds=30)
    await cache.set("k", b"v", ttl=0.05)
    await asyncio.sleep(0.08)
    cache.l1.clear()
    assert await cache.get("k") is None  # kept in Redis for stale-while-revalidate, but not fresh
    assert await cache.l2.client.exists(cache.l2.keys.value("k"))


async def test_negative_caching(make_cache: CacheFactory) -> None:
    cache = await make_cache(negative_ttl_seconds=0.1)
    calls = 0

    async def loader() -> bytes | None:
        nonlocal calls
        calls += 1
        return None

    first = await cache.get_or_load_with_source("absent", loader)
    assert (first.value, first.tier) == (None, Tier.LOADER)
    again = await cache.get_or_load_with_source("absent", loader)
    assert (again.value, again.tier, calls) == (None, Tier.L1, 1)
    cache.l1.clear()
    from_l2 = await cache.get_or_load_with_source("absent", loader)
    assert (from_l2.tier, calls) == (Tier.L2, 1)  # other instances see the cached miss too
    await asyncio.sleep(0.12)
    await cache.get_or_load("absent", loader)
    assert calls == 2


async def test_get_many_is_one_round_trip(make_cache: CacheFactory) -> None:
    cache = await make_cache()
    for i in range(20):
        await cache.set(f"k{i}", f"v{i}".encode())
    cache.l1.clear()
    await cache.get("k0")  # k0 back in L1
    before = await mget_calls(cache.l2.client)
    found = await cache.lookup_many([f"k{i}" for i in range(25)])
    assert await mget_calls(cache.l2.client) - before == 1
    assert found["k0"].tier == Tier.L1
    assert {k: v.tier for k, v in found.items() if k != "k0"} == {
        **{f"k{i}": Tier.L2 for i in range(1, 20)},
        **{f"k{i}": None for i in range(20, 25)},
    }
    assert await cache.get_many(["k3", "k21", "k3"]) == {"k3": b"v3"}


async def test_concurrent_gets_share_one_mget(make_cache: CacheFactory) -> None:
    """The first get finds nothing in flight and goes at once, alone (a GET); the 49 that arrive while it is
    in flight share one MGET."""
    cache = await make_cache(l1_max_entries=0)  # L1 off: every get goes to Redis
    for i in range(50):
        await cache.set(f"k{i}", f"v{i}".encode())
    before = await mget_calls(cache.l2.client)
    batches_before = cache.l2.batcher.batches
    values = await asyncio.gather(*(cache.get(f"k{i}") for i in range(50)))
    assert values == [f"v{i}".encode() for i in range(50)]
    assert await mget_calls(cache.l2.client) - before == 1
    assert cache.l2.batcher.batches - batches_before == 2


async def test_a_scan_of_cold_keys_does_not_evict_the_hot_ones(make_cache: CacheFactory) -> None:
    """Values read once from L2 do not take a full L1's places: the hot keys stay, and a cold key read
    twice in a row gets in on its second read."""
    cache = await make_cache(l1_max_entries=20)
    refused = REGISTRY.get_sample_value("streamgate_cache_l1_refused_total") or 0.0
    hot = [f"hot{i}" for i in range(20)]
    for key in hot:
        await cache.set(key, b"h")
        assert await cache.get(key) == b"h"
    writer = await make_cache(l1_max_entries=0)
    for i in range(100):
        await writer.set(f"cold{i}", b"c")
    for i in range(100):
        assert await cache.get(f"cold{i}") == b"c"  # served from L2
    assert sorted(cache.l1.keys()) == sorted(hot)
    assert REGISTRY.get_sample_value("streamgate_cache_l1_refused_total") == refused + 100
    assert await cache.get("cold99") == b"c"  # refused lately: its second miss is taken
    assert "cold99" in cache.l1
    assert await cache.get("cold7") == b"c"  # refused too long ago: a first miss again
    assert "cold7" not in cache.l1
    assert await cache.get("cold7") == b"c"
    assert "cold7" in cache.l1 and len(cache.l1.keys()) == 20


async def test_peek_is_l1_only(make_cache: CacheFactory) -> None:
    cache = await make_cache()
    await cache.set("k", b"v")
    hit = cache.peek("k")
    assert hit is not None and (hit.value, hit.tier) == (b"v", Tier.L1)
    cache.l1.clear()
    assert cache.peek("k") is None
    assert (await cache.get_with_source("k")).tier == Tier.L2


async def test_hit_and_miss_metrics(make_cache: CacheFactory) -> None:
    def sample(name: str, tier: str) -> float:
        return REGISTRY.get_sample_value(name, {"tier": tier}) or 0.0

    before = {
        (n, t): sample(n, t)
        for n in ("streamgate_cache_hits_total", "streamgate_cache_misses_total")
        for t in ("l1", "l2")
    }
    cache = await make_cache()
    await cache.set("k", b"v")
    for _ in range(100):
        assert await cache.get("k") == b"v"
    cache.l1.clear()
    await cache.get("k")
    await cache.get("nope")
    assert sample("streamgate_cache_hits_total", "l1") - before[("streamgate_cache_hits_total", "l1")] == 100
    assert sample("streamgate_cache_hits_total", "l2") - before[("streamgate_cache_hits_total", "l2")] == 1
    assert (
        sample("streamgate_cache_misses_total", "l1") - before[("streamgate_cache_misses_total", "l1")] == 2
    )
    assert (
        sample("streamgate_cache_misses_total", "l2") - before[("streamgate_cache_misses_total", "l2")] == 1
    )
    assert REGISTRY.get_sample_value("streamgate_cache_lookup_seconds_count", {"tier": "l2"})
    assert REGISTRY.get_sample_value("streamgate_cache_lookup_seconds_count", {"tier": "l1"})  # sampled
    assert (REGISTRY.get_sample_value("streamgate_cache_bytes", {"tier": "l1"}) or 0) >= cache.l1.bytes_used


async def test_counts_survive_close(redis: RedisServer) -> None:
    def hits() -> float:
        return REGISTRY.get_sample_value("streamgate_cache_hits_total", {"tier": "l1"}) or 0.0

    client = redis_client(redis.url)
    cache = MultiLevelCache(client)
    await cache.set("k", b"v")
    start = hits()
    for _ in range(10):
        await cache.get("k")
    await cache.close()
    assert hits() - start == 10  # folded into the totals, counters never go backwards
    await client.aclose()


async def test_an_l1_hit_is_a_finished_future_and_anything_else_a_coroutine(make_cache: CacheFactory) -> None:
    """`get` hands an L1 hit back as the entry's own finished future (cheaper to await than a coroutine),
    made once per entry; a value replaced since and a lookup below L1 read correctly."""
    cache = await make_cache()
    await cache.set("/vod/3/seg-1.ts", b"one")
    first, second = cache.get("/vod/3/seg-1.ts"), cache.get("/vod/3/seg-1.ts")
    assert isinstance(first, asyncio.Future) and first.done() and first is second
    assert await first == b"one" and await second == b"one"
    await cache.set("/vod/3/seg-1.ts", b"two")  # a new entry: its own future
    assert await cache.get("/vod/3/seg-1.ts") == b"two"
    cache.l1.clear()
    below = cache.get("/vod/3/seg-1.ts")
    assert asyncio.iscoroutine(below) and await below == b"two"  # from L2, promoted
    missing = cache.get("/vod/3/absent.ts")
    assert asyncio.iscoroutine(missing) and await missing is None


async def test_every_l1_hit_of_a_cached_miss_is_counted(make_cache: CacheFactory) -> None:
    cache = await make_cache(negative_ttl_seconds=30)

    async def nothing() -> bytes | None:
        return None

    assert await cache.get_or_load("/vod/4/absent.ts", nothing) is None
    before = cache.stats.negative_hits
    for _ in range(3):
        assert await cache.get("/vod/4/absent.ts") is None
    assert cache.stats.negative_hits == before + 3
