"""Stampede control (single-flight, cross-instance lease), early refresh (XFetch) and stale serving."""

from __future__ import annotations

import asyncio
import time

import pytest
from prometheus_client import REGISTRY

from runtime.cache import Tier
from tests.cache.conftest import CacheFactory


class SlowLoader:
    def __init__(self, value: bytes = b"payload", delay: float = 0.1) -> None:
        self.calls = 0
        self.value = value
        self.delay = delay

    async def __call__(self) -> bytes | None:
        self.calls += 1
        await asyncio.sleep(self.delay)
        return self.value


async def test_200_concurrent_cold_gets_run_the_loader_once(make_cache: CacheFactory) -> None:
    cache = await make_cache()
    loader = SlowLoader()
    waits_before = REGISTRY.get_sample_value("streamgate_cache_stampede_waits_total", {"scope": "local"}) or 0
    results = await asyncio.gather(*(cache.get_or_load_with_source("cold", loader) for _ in range(200)))
    assert loader.calls == 1
    assert all(r.value == b"payload" for r in results)
    assert {r.tier for r in results} == {Tier.LOADER}
    waits = REGISTRY.get_sample_value("streamgate_cache_stampede_waits_total", {"scope": "local"}) or 0
    assert waits - waits_before >= 150  # most callers joined the load in flight


async def test_two_instances_load_once_between_them(make_cache: CacheFactory) -> None:
    a = await make_cache()
    b = await make_cache()
    loader = SlowLoader(delay=0.2)
    results = await asyncio.gather(
        *(a.get_or_load_with_source("cold", loader) for _ in range(100)),
        *(b.get_or_load_with_source("cold", loader) for _ in range(100)),
    )
    assert loader.calls == 1
    assert all(r.value == b"payload" for r in results)
    # one instance loaded; the other waited on the lease and got the value from L2
    assert {r.tier for r in results} == {Tier.LOADER, Tier.L2}
    assert not await a.l2.client.exists(a.l2.keys.lease("cold"))  # lease released


async def test_waiter_takes_over_when_lease_holder_gives_up(make_cache: CacheFactory) -> None:
    a = await make_cache(lease_wait_seconds=2.0)
    await a.l2.client.set(a.l2.keys.lease("k"), "someone-else", px=150)  # a peer that then dies
    loader = SlowLoader(delay=0.0)
    started = asyncio.get_running_loop().time()
    assert await a.get_or_load("k", loader) == b"payload"
    assert loader.calls == 1
    assert asyncio.get_running_loop().time() - started < 1.0  # did not wait the full lease_wait


async def test_loader_errors_reach_every_waiter_and_are_not_cached(make_cache: CacheFactory) -> None:
    cache = await make_cache()
    calls = 0

    async def broken() -> bytes | None:
        nonlocal calls
        calls += 1
        await asyncio.sleep(0.02)
        raise RuntimeError("origin down")

    results = await asyncio.gather(
        *(cache.get_or_load("k", broken) for _ in range(10)), return_exceptions=True
    )
    assert calls == 1 and all(isinstance(r, RuntimeError) for r in results)
    assert await cache.get_or_load("k", SlowLoader(delay=0)) == b"payload"


async def test_stale_value_served_when_loader_fails(make_cache: CacheFactory) -> None:
    cache = await make_cache(l2_stale_seconds=30)
    await cache.set("k", b"old", ttl=0.05)
    await asyncio.sleep(0.08)
    cache.l1.clear()

    async def broken() -> bytes | None:
        raise RuntimeError("origin down")

    got = await cache.get_or_load_with_source("k", broken)
    assert (got.value, got.stale) == (b"old", True)


async def test_stale_value_served_while_another_instance_reloads(make_cache: CacheFactory) -> None:
    a = await make_cache(l2_stale_seconds=30)
    b = await make_cache(l2_stale_seconds=30)
    await a.set("k", b"old", ttl=0.05)
    await asyncio.sleep(0.08)
    a.l1.clear()
    b.l1.clear()
    slow = SlowLoader(value=b"new", delay=0.3)
    task_a = asyncio.create_task(a.get_or_load_with_source("k", slow))
    await asyncio.sleep(0.05)  # a holds the lease now
    got_b = await b.get_or_load_with_source("k", SlowLoader(value=b"other"))
    assert (got_b.value, got_b.stale) == (b"old", True)  # no waiting, no second load
    assert (await task_a).value == b"new"
    assert slow.calls == 1


async def test_xfetch_refreshes_hot_key_before_expiry(make_cache: CacheFactory) -> None:
    cache = await make_cache(xfetch_beta=1.0)
    loader = SlowLoader(value=b"v1", delay=0.05)  # compute time 50 ms
    call_times: list[float] = []

    async def timed() -> bytes | None:
        call_times.append(time.time())
        return await loader()

    assert await cache.get_or_load("hot", timed, ttl=0.3) == b"v1"
    fresh_until = cache.l1.table["hot"].fresh_until
    loader.value = b"v2"
    tiers = []
    while time.time() < fresh_until + 0.1 and len(call_times) < 2:
        tiers.append((await cache.get_or_load_with_source("hot", timed, ttl=0.3)).tier)
        await asyncio.sleep(0.008)
    assert len(call_times) == 2
    # P(no early refresh across the calls of the last ~100 ms) is about 1e-4 with a 50 ms compute time
    assert call_times[1] < fresh_until, "XFetch should refresh before expiry"
    assert set(tiers) == {Tier.L1}  # every caller was served at once, never blocked on a miss
    await asyncio.sleep(0.1)
    assert await cache.get("hot") == b"v2"


@pytest.mark.parametrize("beta", [0.0])
async def test_xfetch_disabled_means_no_early_refresh(make_cache: CacheFactory, beta: float) -> None:
    cache = await make_cache(xfetch_beta=beta)
    loader = SlowLoader(delay=0.05)
    await cache.get_or_load("hot", loader, ttl=0.3)
    for _ in range(20):
        await cache.get_or_load("hot", loader, ttl=0.3)
        await asyncio.sleep(0.01)
    assert loader.calls == 1


async def test_value_invalidated_while_loading_is_not_cached(make_cache: CacheFactory) -> None:
    cache = await make_cache()
    loader = SlowLoader(value=b"maybe-stale", delay=0.1)
    load = asyncio.create_task(cache.get_or_load_with_source("k", loader))
    await asyncio.sleep(0.03)
    await cache.invalidate("k")  # the origin changed while we were reading it
    got = await load
    assert (got.value, got.tier) == (b"maybe-stale", Tier.LOADER)  # the caller still gets an answer
    assert "k" not in cache.l1.table
    assert not await cache.l2.client.exists(cache.l2.keys.value("k"))
