"""Dependency-graph invalidation across instances, the CDN hook, and write broadcasts."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Sequence

import pytest
from prometheus_client import REGISTRY

from runtime.cache import InvalidationError, MultiLevelCache, Tier
from runtime.storage import ObjectStore
from tests.cache.conftest import CacheFactory


class RecordingPurger:
    def __init__(self) -> None:
        self.calls: list[list[str]] = []

    async def purge(self, paths: Sequence[str]) -> None:
        self.calls.append(sorted(paths))


async def wait_until_gone(cache: MultiLevelCache, keys: Sequence[str], within: float) -> float:
    """Seconds until none of `keys` is in the cache's L1 (fails after `within`)."""
    started = time.perf_counter()
    while any(key in cache.l1.table for key in keys):
        if time.perf_counter() - started > within:
            raise AssertionError(f"still in L1 after {within}s: {[k for k in keys if k in cache.l1.table]}")
        await asyncio.sleep(0.002)
    return time.perf_counter() - started


async def test_invalidation_reaches_other_instance_l1_within_100ms(
    make_cache: CacheFactory, store: ObjectStore
) -> None:
    purger = RecordingPurger()
    a = await make_cache(store=store, cdn=purger)
    b = await make_cache(store=store)
    # video:1 <- its manifest <- the home playlist (transitive); another video is unrelated
    await a.set("/vod/1/index.m3u8", b"manifest-1", depends_on=["video:1"])
    await a.set("/home.m3u8", b"home", depends_on=["/vod/1/index.m3u8"])
    await a.set("/vod/1/seg-1.ts", b"seg", depends_on=["video:1"])
    await a.set("/vod/2/index.m3u8", b"manifest-2", depends_on=["video:2"])
    for key in ("/vod/1/index.m3u8", "/home.m3u8", "/vod/1/seg-1.ts", "/vod/2/index.m3u8"):
        assert await b.get(key) is not None
        assert (await b.get_with_source(key)).tier == Tier.L1

    removed = await a.invalidate("video:1")
    gone = ["/vod/1/index.m3u8", "/home.m3u8", "/vod/1/seg-1.ts"]
    assert sorted(removed) == sorted(["video:1", *gone])
    elapsed = await wait_until_gone(b, gone, within=0.1)
    assert elapsed < 0.1
    assert "/vod/2/index.m3u8" in b.l1.table  # unrelated entry untouched
    for cache in (a, b):
        for key in gone:
            assert await cache.get(key) is None  # gone from L1, L2 and L3 alike
    assert not await store.exists("/vod/1/seg-1.ts")
    assert await store.exists("/vod/2/index.m3u8")
    assert purger.calls == [sorted(["video:1", *gone])]


async def test_dependency_graph_is_shared_and_handles_cycles(make_cache: CacheFactory) -> None:
    a = await make_cache()
    b = await make_cache()
    await a.add_dependency("r1", "k1", "k2")
    await b.add_dependency("k2", "r1")  # a cycle must not loop forever
    assert await b.graph.dependents("r1") == {"k1", "k2"}
    for key in ("k1", "k2", "r1"):
        await b.set(key, b"v")
    assert sorted(await b.invalidate("r1")) == ["k1", "k2", "r1"]
    assert await a.get_many(["k1", "k2", "r1"]) == {}


async def test_set_on_one_instance_drops_stale_copies_elsewhere(make_cache: CacheFactory) -> None:
    a = await make_cache()
    b = await make_cache()
    await a.set("k", b"v1")
    assert await b.get("k") == b"v1"
    await a.set("k", b"v2")
    await wait_until_gone(b, ["k"], within=0.1)
    got = await b.get_with_source("k")
    assert (got.value, got.tier) == (b"v2", Tier.L2)
    assert await a.get("k") == b"v2"  # the writer keeps its own fresh copy


async def test_remote_invalidations_are_counted(make_cache: CacheFactory) -> None:
    before = REGISTRY.get_sample_value("streamgate_cache_invalidations_total", {"origin": "remote"}) or 0
    a = await make_cache()
    b = await make_cache()
    await a.set("k", b"v")
    await b.get("k")
    await a.invalidate("k")

    def remote() -> float:
        return REGISTRY.get_sample_value("streamgate_cache_invalidations_total", {"origin": "remote"}) or 0

    for _ in range(50):
        if remote() - before >= 2:
            break
        await asyncio.sleep(0.01)
    assert remote() - before == 2  # the set's announcement and the invalidation
    assert "k" not in b.l1.table


async def test_invalidation_without_redis_still_clears_locally_and_reports(make_cache: CacheFactory) -> None:
    purger = RecordingPurger()
    cache = await make_cache(cdn=purger)
    await cache.set("k", b"v")
    cache.settings.l2_enabled = False  # as if Redis were unreachable: every L2 call is refused
    with pytest.raises(InvalidationError):
        await cache.invalidate("k")
    assert "k" not in cache.l1.table
    assert purger.calls == [["k"]]


async def test_failing_cdn_hook_is_reported_after_everything_else(make_cache: CacheFactory) -> None:
    class Broken:
        async def purge(self, paths: Sequence[str]) -> None:
            raise ConnectionError("cdn api down")

    a = await make_cache(cdn=Broken())
    await a.set("k", b"v")
    with pytest.raises(InvalidationError):
        await a.invalidate("k")
    assert await a.get("k") is None


async def test_announcement_of_a_record_already_in_l1_keeps_it(make_cache: CacheFactory) -> None:
    a = await make_cache()
    b = await make_cache()
    for i in range(20):
        await a.set(f"k{i}", b"v")
        assert await b.get(f"k{i}") == b"v"  # B may read it before A's announcement arrives
    await asyncio.sleep(0.05)  # every announcement delivered by now
    assert all(f"k{i}" in b.l1.table for i in range(20))  # same record: nothing to drop
