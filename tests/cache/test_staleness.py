"""Bounded staleness of L1 under faults of the invalidation channel, through a fault-injecting TCP proxy:
instance B reaches Redis through the proxy, instance A (the writer) directly; both share an L3 bucket.
After A changes a key, B must stop serving the old value within `staleness_bound_seconds` whatever the
proxy does to B's connections (reset, refused, blackholed without FIN, delayed)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Iterator

import pytest

from runtime.cache import MultiLevelCache, Tier
from runtime.storage import ObjectStore
from tests.cache.conftest import CacheFactory
from tests.cache.test_faults import eventually
from tests.faultproxy import FaultProxy, fault_proxy
from tests.servers import RedisServer

PING = 0.3  # P
BOUND = 2 * PING  # the documented bound, CacheSettings.staleness_bound_seconds
SLACK = 0.15  # event-loop scheduling on a loaded machine


@pytest.fixture
def proxy(redis: RedisServer) -> Iterator[FaultProxy]:
    with fault_proxy(redis.port) as p:
        yield p


async def _pair(
    make_cache: CacheFactory, proxy: FaultProxy, store: ObjectStore
) -> tuple[MultiLevelCache, ...]:
    a = await make_cache(store=store, pubsub_ping_seconds=PING)
    b = await make_cache(url=proxy.url("redis", "/0"), store=store, pubsub_ping_seconds=PING)
    assert b.listener.subscribed
    assert b.settings.staleness_bound_seconds == BOUND
    return a, b


async def _last_stale_read(b: MultiLevelCache, old: bytes, written: float, within: float) -> float:
    """Read the key from B until it stops answering `old`; seconds from the write to the last `old`."""
    last = 0.0
    deadline = written + within
    while time.monotonic() < deadline:
        value = await b.get("k")
        if value == old:
            last = time.monotonic() - written
        elif value is not None:
            return last
        await asyncio.sleep(0.01)
    raise AssertionError(f"B still had no new value {within}s after the write (last stale at {last:.2f}s)")


FAULTS: dict[str, Callable[[FaultProxy], None]] = {
    "blackhole": lambda p: p.blackhole(),  # half-open: silent, never closed
    "drop": lambda p: p.drop(),  # every connection reset; reconnecting works at once
    "refuse": lambda p: p.refuse(),  # Redis unreachable; open connections reset
    "delay beyond P": lambda p: p.delay(4 * PING),  # replies come, but too late to prove anything
}


@pytest.mark.parametrize("fault", list(FAULTS))
async def test_old_value_is_served_at_most_the_bound_after_a_change(
    make_cache: CacheFactory, proxy: FaultProxy, store: ObjectStore, fault: str
) -> None:
    a, b = await _pair(make_cache, proxy, store)
    await a.set("k", b"v1")
    assert await b.get("k") == b"v1"
    assert (await b.get_with_source("k")).tier is Tier.L1
    FAULTS[fault](proxy)
    await a.set("k", b"v2")  # B cannot hear of it
    written = time.monotonic()
    stale_for = await _last_stale_read(b, b"v1", written, within=10 * PING + 2.0)
    assert stale_for <= BOUND + SLACK
    assert await b.get("k") == b"v2"  # from L3 while Redis is unreachable

    proxy.heal()
    await eventually(lambda: b.listener.subscribed, within=3.0)
    await a.set("k", b"v3")
    await eventually(lambda: "k" not in b.l1.table or b.l1.table["k"].value == b"v3", within=1.0)


async def test_a_half_open_channel_is_detected(
    make_cache: CacheFactory, proxy: FaultProxy, store: ObjectStore
) -> None:
    _, b = await _pair(make_cache, proxy, store)
    subscriptions = b.listener.subscriptions
    proxy.blackhole()
    await eventually(lambda: not b.listener.subscribed, within=BOUND + SLACK + 0.2)
    proxy.heal()
    await eventually(lambda: b.listener.subscriptions > subscriptions, within=3.0)


async def test_a_slow_but_live_channel_keeps_l1_and_delivers(
    make_cache: CacheFactory, proxy: FaultProxy, store: ObjectStore
) -> None:
    a, b = await _pair(make_cache, proxy, store)
    await a.set("k", b"v1")
    assert await b.get("k") == b"v1"
    proxy.delay(0.04)  # replies within P: nothing to distrust
    loop = asyncio.get_running_loop()
    until = loop.time() + 4 * PING
    while loop.time() < until:
        assert (await b.get_with_source("k")).tier is Tier.L1
        await asyncio.sleep(0.02)
    assert b.listener.subscriptions == 1
    await a.set("k", b"v2")
    await eventually(lambda: "k" not in b.l1.table, within=0.5)


async def test_first_subscription_reconciles_what_l1_took_without_redis(
    make_cache: CacheFactory, proxy: FaultProxy, store: ObjectStore
) -> None:
    a = await make_cache(store=store)
    await a.set("k", b"v1")
    proxy.refuse()
    # B starts while Redis is unreachable and fills L1 from L3. Long pings: the bound alone (10 s) would
    # not hide the old value in this test, only reconciling does.
    b = await make_cache(url=proxy.url("redis", "/0"), store=store, pubsub_ping_seconds=5.0, live=False)
    assert not b.listener.subscribed
    assert await b.get("k") == b"v1"
    assert (await b.get_with_source("k")).tier is Tier.L1
    await a.set("k", b"v2")  # before B ever subscribed: no message will tell it
    proxy.heal()
    await eventually(lambda: b.listener.subscriptions == 1, within=3.0)
    assert await b.get("k") == b"v2"
    assert b.listener.gaps == 1


async def test_entries_stored_without_a_live_channel_expire_within_the_bound(
    make_cache: CacheFactory, proxy: FaultProxy, store: ObjectStore
) -> None:
    proxy.refuse()
    b = await make_cache(url=proxy.url("redis", "/0"), store=store, pubsub_ping_seconds=PING, live=False)
    await store.put("k", b"v1")
    assert await b.get("k") == b"v1"
    stored = time.monotonic()
    await store.put("k", b"v2")  # changed behind everyone's back: only the bound protects B
    while (value := await b.get("k")) == b"v1":
        assert time.monotonic() - stored <= BOUND + SLACK
        await asyncio.sleep(0.01)
    assert value == b"v2"


async def test_writes_redis_did_not_hear_of_are_announced_once_it_is_back(
    make_cache: CacheFactory, proxy: FaultProxy, store: ObjectStore, redis: RedisServer
) -> None:
    # The writer is the one behind the proxy now: its announcement cannot get out.
    reader = await make_cache(store=store, pubsub_ping_seconds=PING)
    writer = await make_cache(url=proxy.url("redis", "/0"), store=store, pubsub_ping_seconds=PING)
    await writer.set("k", b"v1")
    assert await reader.get("k") == b"v1"
    proxy.refuse()
    await writer.set("k", b"v2")  # L1 and L3 only; Redis (L2 and the channel) missed it
    assert await reader.get("k") == b"v1"  # the reader's channel is fine: nothing to distrust
    proxy.heal()
    await eventually(lambda: "k" not in reader.l1.table, within=3.0)
    assert await reader.get("k") == b"v2"  # the stale L2 copy went too
