"""Redis unreachable or hung: the limiter decides per setting within its timeout, then returns to Redis."""

from __future__ import annotations

import asyncio
import time

import redis as redis_sync

from runtime.connections import redis_client
from runtime.security.ratelimit import LocalGcra, RateLimiter, RateLimitKey, Scope
from runtime.security.ratelimit.limiter import scope_limit
from runtime.security.settings import Limit, RateLimitSettings
from tests.servers import RedisServer


def settings(mode: str, **extra: object) -> RateLimitSettings:
    return RateLimitSettings(
        global_limit=None,
        service=None,
        ip=None,
        user=Limit(requests=3, period_seconds=60),
        on_redis_error=mode,  # type: ignore[arg-type]
        redis_timeout_seconds=0.1,
        retry_redis_after_seconds=0.3,
        **extra,  # type: ignore[arg-type]
    )


async def test_redis_down_fails_open_to_the_local_limiter(own_redis: RedisServer) -> None:
    client = redis_client(own_redis.url)
    limiter = RateLimiter(client, settings("open"))
    key = RateLimitKey(user="ann")
    assert not (await limiter.check(key)).degraded
    own_redis.kill()
    started = time.perf_counter()
    first = await limiter.check(key)
    assert time.perf_counter() - started < 0.5
    assert first.allowed and first.degraded
    started = time.perf_counter()
    rest = [await limiter.check(key) for _ in range(3)]
    assert time.perf_counter() - started < 0.05  # Redis is skipped while it is known to be down
    assert [d.allowed for d in rest] == [True, True, False]  # the local limiter enforces the same limit
    assert rest[-1].scope is Scope.USER and rest[-1].headers()["Retry-After"] == "20"

    own_redis.start()
    await asyncio.sleep(0.35)
    back = await limiter.check(RateLimitKey(user="new"))
    assert back.allowed and not back.degraded
    await client.aclose()


async def test_redis_down_fails_closed(own_redis: RedisServer) -> None:
    client = redis_client(own_redis.url)
    limiter = RateLimiter(client, settings("closed"))
    own_redis.kill()
    started = time.perf_counter()
    decisions = await asyncio.gather(*(limiter.check(RateLimitKey(user=f"u{i}")) for i in range(20)))
    assert time.perf_counter() - started < 0.5
    assert not any(d.allowed for d in decisions)
    assert all(d.degraded and d.scope is None for d in decisions)
    assert decisions[0].headers()["Retry-After"] == "1"
    await client.aclose()


async def test_hung_redis_is_bounded_by_the_timeout(own_redis: RedisServer) -> None:
    client = redis_client(own_redis.url)
    limiter = RateLimiter(client, settings("open"))
    assert (await limiter.check(RateLimitKey(user="zed"))).allowed
    admin = redis_sync.Redis(port=own_redis.port)
    admin.execute_command("CLIENT", "PAUSE", "700", "ALL")  # the server accepts but answers nothing
    try:
        started = time.perf_counter()
        decision = await limiter.check(RateLimitKey(user="zed"))
        elapsed = time.perf_counter() - started
        assert decision.degraded and decision.allowed
        assert elapsed < 0.3  # redis_timeout_seconds is 0.1
    finally:
        admin.execute_command("CLIENT", "UNPAUSE")
        admin.close()
    await client.aclose()


def test_local_share_scales_each_process_budget() -> None:
    local = LocalGcra(share=0.25)
    limits = (scope_limit(Scope.USER, "u", Limit(requests=8, period_seconds=60)),)
    decisions = [local.check(limits, 1) for _ in range(4)]
    assert [d.allowed for d in decisions] == [True, True, False, False]  # 8 * 0.25
    assert decisions[0].limit == 2


def test_local_limiter_is_all_or_nothing_and_bounded() -> None:
    local = LocalGcra(max_keys=10)
    user = scope_limit(Scope.USER, "u:1", Limit(requests=1, period_seconds=60))
    ip = scope_limit(Scope.IP, "i:1", Limit(requests=5, period_seconds=60))
    assert local.check((user, ip), 1).allowed
    denied = local.check((user, ip), 1)
    assert not denied.allowed and denied.scope is Scope.USER
    assert local.check((ip,), 0).remaining == 4  # the denied request took nothing from the IP
    for n in range(50):
        local.check((scope_limit(Scope.USER, f"k{n}", Limit(requests=1, period_seconds=60)),), 1)
    assert len(local._tats) <= 11
