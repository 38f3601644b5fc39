"""Local leases for hot rate-limit keys, against the real limiter on the real redis-server."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest
import redis.asyncio as aioredis

from runtime.connections import redis_client
from runtime.security.ratelimit import RateLimitDecision, RateLimiter, RateLimitKey
from runtime.security.settings import Limit, RateLimitSettings
from runtime.service.leases import EXPIRED_TOKENS, LeasedLimiter
from tests.servers import RedisServer


@pytest.fixture
async def client(redis: RedisServer) -> AsyncIterator[aioredis.Redis]:
    c = redis_client(redis.url)
    yield c
    await c.aclose()


def _limiter(client: aioredis.Redis, requests: int, period: float) -> RateLimiter:
    return RateLimiter(
        client,
        RateLimitSettings(
            global_limit=None, service=None, user=None, ip=Limit(requests=requests, period_seconds=period)
        ),
    )


async def test_hot_key_leases_and_never_exceeds_the_limit(client: aioredis.Redis) -> None:
    limiter = _limiter(client, requests=200, period=60)
    leased = LeasedLimiter(limiter, window_seconds=1.0, max_tokens=32, hot_after=4)
    key = RateLimitKey(ip="10.0.0.1")
    batches_before = limiter._batcher.batches
    decisions = [await leased.check(key) for _ in range(300)]
    allowed = sum(d.allowed for d in decisions)
    assert allowed <= 200  # leases are charged before use: the limit holds
    assert allowed >= 150  # and unused lease tokens cost at most a window of traffic
    assert limiter._batcher.batches - batches_before < 60  # far fewer Redis round trips than requests
    assert not decisions[-1].allowed and decisions[-1].retry_after > 0


async def test_cold_keys_are_checked_one_by_one(client: aioredis.Redis) -> None:
    limiter = _limiter(client, requests=3, period=60)
    leased = LeasedLimiter(limiter, window_seconds=0.001, max_tokens=32, hot_after=4)
    results = []
    for _ in range(5):
        results.append((await leased.check(RateLimitKey(ip="10.0.0.2"))).allowed)
        await asyncio.sleep(0.005)  # slower than the window: never hot
    assert results == [True, True, True, False, False]


async def test_concurrent_requests_share_one_lease(client: aioredis.Redis) -> None:
    limiter = _limiter(client, requests=1000, period=1)
    leased = LeasedLimiter(limiter, window_seconds=0.5, max_tokens=64, hot_after=2)
    key = RateLimitKey(ip="10.0.0.3")
    await asyncio.gather(*(leased.check(key) for _ in range(8)))  # learn the rate
    before = limiter._batcher.items
    decisions = await asyncio.gather(*(leased.check(key) for _ in range(40)))
    assert all(d.allowed for d in decisions)
    assert limiter._batcher.items - before <= 3  # one lease (plus at most a refill), not 40 checks
    assert all(0 <= d.remaining <= d.limit for d in decisions)


class _BusyLoopLimiter(RateLimiter):
    """The real limiter, with each round trip taking as long as it does on a saturated event loop."""

    async def check(self, key: RateLimitKey, cost: int = 1) -> RateLimitDecision:
        await asyncio.sleep(0.03)
        return await super().check(key, cost)


async def test_refills_start_early_enough_when_round_trips_are_slow(client: aioredis.Redis) -> None:
    # ~1 request/ms against 30 ms refills: a refill started at half a ~50-token lease would land after
    # the lease ran dry, and every request in between would wait for it.
    limiter = _BusyLoopLimiter(
        client,
        RateLimitSettings(
            global_limit=None, service=None, user=None, ip=Limit(requests=1_000_000, period_seconds=1)
        ),
    )
    leased = LeasedLimiter(limiter, window_seconds=0.05, max_tokens=256, hot_after=4)
    key = RateLimitKey(ip="10.0.0.4")
    loop = asyncio.get_running_loop()
    waits: list[float] = []

    async def client_stream() -> None:  # 4 of these: about 1 request/ms in all
        for _ in range(200):
            started = loop.time()
            assert (await leased.check(key)).allowed
            waits.append(loop.time() - started)
            await asyncio.sleep(0.004)

    await asyncio.gather(*(client_stream() for _ in range(4)))
    late = [w for w in waits[300:] if w > 0.002]  # after the first refills measured the round trip
    # Refills timed without the round trip make about 100 of these wait; a busy machine, up to ~15.
    assert len(late) <= 25, f"{len(late)} of {len(waits) - 300} requests waited for a refill"
    await leased.aclose()


async def test_tokens_lapse_at_their_deadline(client: aioredis.Redis) -> None:
    # 1,000/s with burst 100: epsilon 11, so a leased token is usable for 10 ms (plus 1 ms per token
    # after the first) from its check: a lease is never spent long after it was charged.
    limiter = RateLimiter(
        client,
        RateLimitSettings(
            global_limit=None, service=None, user=None, ip=Limit(requests=1000, period_seconds=1, burst=100)
        ),
    )
    leased = LeasedLimiter(limiter, window_seconds=0.05, max_tokens=64, hot_after=2)
    key = RateLimitKey(ip="10.0.0.5")

    def held() -> int:
        lease = leased._leases.get(key)
        return 0 if lease is None else lease.left + lease.queued

    for _ in range(5):  # bursts until a lease has tokens left over (the last burst may use them all)
        await asyncio.gather(*(leased.check(key) for _ in range(16)))
        await leased.aclose()  # refills landed
        if held() > 0:
            break
    assert held() > 0
    expired = EXPIRED_TOKENS.labels().value
    await asyncio.sleep(0.1)  # past every token's deadline (at most 10 + 63 ms)
    before = limiter._batcher.items
    assert (await leased.check(key)).allowed
    assert limiter._batcher.items > before  # decided by Redis, not by a lapsed token
    assert EXPIRED_TOKENS.labels().value > expired
    await leased.aclose()
