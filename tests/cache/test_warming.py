"""Shared access statistics (decaying top-K in Redis) and warming of new instances."""

from __future__ import annotations

from runtime.cache import Tier
from runtime.storage import ObjectStore
from tests.cache.conftest import CacheFactory


async def test_top_k_ranks_by_decayed_counts(make_cache: CacheFactory) -> None:
    cache = await make_cache(stats_half_life_seconds=10.0)
    stats = cache.access
    now = 1_000_000.0
    stats.record("old-hot", 100)  # 100 accesses, 60 s (six half-lives) ago: worth ~1.6 now
    await stats.flush(now=now - 60)
    stats.record("recent", 10)
    stats.record("recent-hotter", 20)
    await stats.flush(now=now)
    assert await stats.top(3) == ["recent-hotter", "recent", "old-hot"]


async def test_top_k_rescales_and_trims(make_cache: CacheFactory) -> None:
    cache = await make_cache(stats_half_life_seconds=1.0, stats_max_keys=5)
    stats = cache.access
    t0 = 2_000_000.0
    for i in range(8):
        stats.record(f"k{i}", i + 1)
    await stats.flush(now=t0)
    client = cache.l2.client
    assert await client.zcard(cache.l2.keys.hot) == 5  # trimmed to the top 5
    # 100 half-lives later the multiplier would be 2^100: the script rescales and moves the base instead
    stats.record("k0", 1)
    await stats.flush(now=t0 + 100)
    assert float(await client.get(cache.l2.keys.hot_base)) == t0 + 100
    top = await stats.top(5)
    assert top[0] == "k0"  # one fresh access outweighs everything from 100 half-lives ago
    scores = [s for _, s in await client.zrevrange(cache.l2.keys.hot, 0, -1, withscores=True)]
    assert max(scores) < 10  # scores stay small after the rescale


async def test_sampled_lookups_feed_the_statistics(make_cache: CacheFactory) -> None:
    cache = await make_cache(stats_sample_every=4)
    await cache.set("popular", b"p")
    await cache.set("rare", b"r")
    for _ in range(400):
        await cache.get("popular")
    for _ in range(8):
        await cache.get("rare")
    await cache.access.flush()
    assert (await cache.access.top(2))[0] == "popular"


async def test_new_instance_warms_hot_keys_into_l1(make_cache: CacheFactory, store: ObjectStore) -> None:
    a = await make_cache(store=store, stats_sample_every=1)
    for i in range(5):
        await a.set(f"hot{i}", f"v{i}".encode())
    await a.set("cold", b"c")
    for i in range(5):
        for _ in range(10):
            await a.get(f"hot{i}")
    await store.put("hot-l3-only", b"from-l3")
    for _ in range(20):
        await a.get("hot-l3-only")
    await a.l2.delete(["hot-l3-only"])  # only the object store has it now
    await a.access.flush()

    b = await make_cache(store=store, warm_top_n=6)  # warms during start()
    for key, value in [*((f"hot{i}", f"v{i}".encode()) for i in range(5)), ("hot-l3-only", b"from-l3")]:
        assert b.peek(key) is not None, key
        got = await b.get_with_source(key)
        assert (got.value, got.tier) == (value, Tier.L1)
    assert b.peek("cold") is None
    assert await b.warm() == 0  # everything hot is already in L1

    full = await make_cache(store=store, l1_max_entries=6)
    for i in range(6):
        await full.set(f"filler{i}", b"f")
        assert await full.get(f"filler{i}") == b"f"  # read: a miss from below would not evict it
    assert await full.warm(6) == 6  # known hot: they skip the admission that refuses one-off reads
    assert sorted(full.l1.keys()) == sorted([*(f"hot{i}" for i in range(5)), "hot-l3-only"])


async def test_background_loop_flushes_and_rewarms(make_cache: CacheFactory) -> None:
    import asyncio

    a = await make_cache(stats_sample_every=1, stats_flush_seconds=0.05)
    b = await make_cache(warm_top_n=10, warm_interval_seconds=0.1, stats_flush_seconds=0.05)
    await a.set("trending", b"t")
    b.l1.clear()
    for _ in range(5):
        await a.get("trending")  # A's loop flushes these counts; B's loop then warms the key
    for _ in range(100):
        if b.peek("trending") is not None:
            break
        await asyncio.sleep(0.02)
    hit = b.peek("trending")
    assert hit is not None and hit.value == b"t"
