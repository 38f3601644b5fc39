"""Redis outages: L1 keeps serving, requests never fail, the breaker stops the hammering, and an instance
that missed invalidation messages drops its L1 when it reconnects."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable

from prometheus_client import REGISTRY

from runtime.cache import InvalidationError, MultiLevelCache, Tier
from runtime.cache.breaker import BreakerState
from runtime.connections import redis_client
from tests.cache.conftest import CacheFactory, fast_settings
from tests.servers import RedisServer, free_port


async def eventually(check: Callable[[], bool], within: float = 2.0) -> None:
    deadline = time.monotonic() + within
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError("condition not reached in time")
        await asyncio.sleep(0.01)


async def test_redis_outage_and_recovery(make_cache: CacheFactory, own_redis: RedisServer) -> None:
    drops_before = REGISTRY.get_sample_value(
        "streamgate_cache_l1_drops_total", {"reason": "missed_invalidations"}
    )
    a = await make_cache(url=own_redis.url)
    # B reconnects slowly, so an invalidation made right after Redis returns is one it misses.
    b = await make_cache(
        url=own_redis.url, pubsub_reconnect_min_seconds=1.5, pubsub_reconnect_max_seconds=1.5
    )
    assert b.listener.subscribed
    await a.set("k", b"v1")
    await a.set("other", b"o")
    assert await b.get("k") == b"v1" and await b.get("other") == b"o"

    own_redis.kill()

    # L1 keeps serving; nothing raises; misses go to the loader
    served = await b.get_with_source("k")
    assert (served.value, served.tier) == (b"v1", Tier.L1)
    calls = 0

    async def loader() -> bytes | None:
        nonlocal calls
        calls += 1
        return b"fresh"

    for i in range(10):
        assert await a.get_or_load(f"new{i}", loader) == b"fresh"
        assert await a.get(f"absent{i}") is None
        await a.set(f"w{i}", b"x")  # writes are best effort too
    assert calls == 10
    assert a.l2.breaker.state is BreakerState.OPEN
    started = time.perf_counter()
    for i in range(100):
        await a.get(f"absent-fast{i}")
    assert (time.perf_counter() - started) / 100 < 0.005  # the open breaker skips Redis entirely
    await eventually(lambda: not b.listener.subscribed)

    own_redis.start()

    # A invalidates k as soon as Redis is back, while B is still disconnected and misses the message.
    deadline = time.monotonic() + 1.0
    while True:
        try:
            await a.invalidate("k")
            break
        except InvalidationError:
            assert time.monotonic() < deadline, "A could not reach Redis again"
            await asyncio.sleep(0.05)
    assert not b.listener.subscribed
    assert "k" in b.l1.table and "other" in b.l1.table  # B still has its (now stale) copy...

    await eventually(lambda: b.listener.subscriptions >= 2, within=4.0)
    assert "k" not in b.l1.table and "other" not in b.l1.table  # ...until it reconnects and drops L1
    drops_after = REGISTRY.get_sample_value(
        "streamgate_cache_l1_drops_total", {"reason": "missed_invalidations"}
    )
    assert b.listener.gaps == 1
    assert (drops_after or 0) - (drops_before or 0) >= 1  # A, reconnecting to an emptied Redis, drops too

    # fully recovered: L2 serves again and invalidations flow
    await a.set("k", b"v2")
    await eventually(lambda: a.l2.breaker.state is BreakerState.CLOSED)
    got = await b.get_with_source("k")
    assert (got.value, got.tier) == (b"v2", Tier.L2)
    await a.invalidate("k")
    await eventually(lambda: "k" not in b.l1.table, within=0.5)


async def test_starting_without_redis_does_not_fail() -> None:
    client = redis_client(f"redis://127.0.0.1:{free_port()}/0")
    cache = MultiLevelCache(client, settings=fast_settings(startup_wait_seconds=0.5))
    started = time.perf_counter()
    await cache.start()
    assert time.perf_counter() - started < 1.5  # the wait for the channel, not a hang
    assert not cache.listener.subscribed

    async def loader() -> bytes | None:
        return b"v"

    assert await cache.get_or_load("k", loader) == b"v"
    assert (await cache.get_with_source("k")).tier == Tier.L1
    await cache.close()
    await client.aclose()
