"""The distributed limiter on a real redis-server: exactness under concurrency, all-or-nothing scopes,
batching into one EVALSHA, NOSCRIPT recovery, decisions and headers."""

from __future__ import annotations

import asyncio
import threading
import time

import pytest
import redis as redis_sync
import redis.asyncio as aioredis

from runtime.connections import redis_client
from runtime.security.errors import RateLimitError
from runtime.security.metrics import RATELIMIT_CHECKS
from runtime.security.ratelimit import RateLimiter, RateLimitKey, Scope
from runtime.security.ratelimit.limiter import GCRA_SCRIPT
from runtime.security.settings import Limit, RateLimitSettings
from tests.servers import RedisServer


def only(**scopes: Limit | None) -> RateLimitSettings:
    """Settings with exactly the given scopes."""
    base: dict[str, Limit | None] = {"global_limit": None, "service": None, "user": None, "ip": None}
    base.update(scopes)
    return RateLimitSettings(**base)  # type: ignore[arg-type]


def evalsha_calls(url_port: int) -> int:
    r = redis_sync.Redis(port=url_port)
    try:
        stats = r.info("commandstats")
        return int(stats.get("cmdstat_evalsha", {}).get("calls", 0))
    finally:
        r.close()


async def test_concurrent_clients_admit_exactly_the_limit(redis: RedisServer) -> None:
    settings = only(user=Limit(requests=50, period_seconds=3600))
    clients = [redis_client(redis.url) for _ in range(4)]
    limiters = [RateLimiter(c, settings) for c in clients]
    key = RateLimitKey(user="alice")
    decisions = await asyncio.gather(*(limiters[i % 4].check(key) for i in range(400)))
    assert sum(d.allowed for d in decisions) == 50
    assert all(d.scope is Scope.USER for d in decisions)
    for c in clients:
        await c.aclose()


def test_parallel_processes_share_one_budget(redis: RedisServer) -> None:
    """Four threads, each with its own event loop, limiter and connections, race for one budget."""
    settings = only(
        global_limit=Limit(requests=120, period_seconds=3600), user=Limit(requests=1000, period_seconds=3600)
    )
    admitted: list[int] = []
    lock = threading.Lock()

    def worker(n: int) -> None:
        async def run() -> int:
            client = redis_client(redis.url)
            limiter = RateLimiter(client, settings)
            got = 0
            for _ in range(10):  # ten rounds of 10 concurrent requests
                ds = await asyncio.gather(*(limiter.check(RateLimitKey(user=f"u{n}")) for _ in range(10)))
                got += sum(d.allowed for d in ds)
            await client.aclose()
            return got

        result = asyncio.run(run())
        with lock:
            admitted.append(result)

    threads = [threading.Thread(target=worker, args=(n,)) for n in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert len(admitted) == 4
    assert sum(admitted) == 120  # 400 asked, exactly the global limit admitted


async def test_budget_refills_at_the_emission_interval(client: aioredis.Redis) -> None:
    limiter = RateLimiter(client, only(user=Limit(requests=5, period_seconds=2.5)))
    key = RateLimitKey(user="bob")
    first = [await limiter.check(key) for _ in range(6)]
    assert [d.allowed for d in first] == [True] * 5 + [False]
    assert 0 < first[-1].retry_after <= 0.5  # one emission interval (500 ms), minus elapsed time
    await asyncio.sleep(first[-1].retry_after + 0.02)
    again = [await limiter.check(key) for _ in range(2)]
    assert [d.allowed for d in again] == [True, False]  # exactly one slot came back


async def test_a_denied_scope_consumes_nothing_elsewhere(client: aioredis.Redis) -> None:
    settings = only(
        global_limit=Limit(requests=1000, period_seconds=3600),
        service=Limit(requests=1000, period_seconds=3600),
        user=Limit(requests=3, period_seconds=3600),
        ip=Limit(requests=100, period_seconds=3600),
    )
    limiter = RateLimiter(client, settings)
    for _ in range(3):
        assert (await limiter.check(RateLimitKey(service="vod", user="carol", ip="10.0.0.1"))).allowed
    denied = [
        await limiter.check(RateLimitKey(service="vod", user="carol", ip="10.0.0.2")) for _ in range(20)
    ]
    assert not any(d.allowed for d in denied)
    assert {d.scope for d in denied} == {Scope.USER}
    assert await client.exists("{sg:rl}:i:10.0.0.2") == 0  # the IP scope was never written
    # Global and service saw only the 3 admitted requests: their remaining is capacity - 4 after one more.
    probe = await limiter.check(RateLimitKey(service="vod", user="dave", ip="10.0.0.2"))
    assert probe.allowed
    ip_only = RateLimiter(client, only(ip=Limit(requests=100, period_seconds=3600)))
    assert (await ip_only.check(RateLimitKey(ip="10.0.0.2"))).remaining == 98  # probe + this one
    global_only = RateLimiter(client, only(global_limit=Limit(requests=1000, period_seconds=3600)))
    assert (await global_only.check(RateLimitKey())).remaining == 1000 - 5


async def test_one_batch_applies_requests_in_order(client: aioredis.Redis, redis: RedisServer) -> None:
    limiter = RateLimiter(client, only(user=Limit(requests=3, period_seconds=3600)))
    await limiter.check(RateLimitKey(user="warmup"))  # loads the script
    before = evalsha_calls(redis.port)
    decisions = await asyncio.gather(*(limiter.check(RateLimitKey(user="erin")) for _ in range(10)))
    assert evalsha_calls(redis.port) - before == 1  # ten requests, one round trip
    assert [d.allowed for d in decisions] == [True] * 3 + [False] * 7  # submission order, exactly
    assert [d.remaining for d in decisions[:3]] == [2, 1, 0]


async def test_a_lone_request_is_not_delayed(client: aioredis.Redis) -> None:
    limiter = RateLimiter(client, only(user=Limit(requests=100, period_seconds=1)))
    await limiter.check(RateLimitKey(user="x"))
    started = time.perf_counter()
    for _ in range(50):
        await limiter.check(RateLimitKey(user="x"))
    per_check = (time.perf_counter() - started) / 50
    assert per_check < 0.005  # a round trip on loopback, no fixed batching delay


async def test_noscript_reloads_the_script(client: aioredis.Redis) -> None:
    limiter = RateLimiter(client, only(user=Limit(requests=2, period_seconds=3600)))
    assert (await limiter.check(RateLimitKey(user="f"))).allowed
    await client.script_flush()
    assert (await client.script_exists(GCRA_SCRIPT.sha)) == [False]
    decision = await limiter.check(RateLimitKey(user="f"))
    assert decision.allowed and decision.remaining == 0 and not decision.degraded
    assert (await client.script_exists(GCRA_SCRIPT.sha)) == [True]


async def test_service_overrides_and_cost(client: aioredis.Redis) -> None:
    settings = only(service=Limit(requests=100, period_seconds=3600))
    settings = settings.model_copy(
        update={"service_overrides": {"admin": Limit(requests=2, period_seconds=3600)}}
    )
    limiter = RateLimiter(client, settings)
    admin = [await limiter.check(RateLimitKey(service="admin")) for _ in range(3)]
    assert [d.allowed for d in admin] == [True, True, False]
    assert admin[0].limit == 2
    vod = await limiter.check(RateLimitKey(service="vod"), cost=10)
    assert vod.allowed and vod.remaining == 90 and vod.limit == 100
    peek = await limiter.check(RateLimitKey(service="vod"), cost=0)
    assert peek.allowed and peek.remaining == 90  # cost 0 looks without consuming
    too_big = await limiter.check(RateLimitKey(service="vod"), cost=91)
    assert not too_big.allowed
    assert (await limiter.check(RateLimitKey(service="vod"), cost=90)).allowed  # the refusal took nothing
    with pytest.raises(RateLimitError):
        await limiter.check(RateLimitKey(service="vod"), cost=-1)


async def test_decision_headers(client: aioredis.Redis) -> None:
    limiter = RateLimiter(client, only(ip=Limit(requests=2, period_seconds=10)))
    ok = await limiter.check(RateLimitKey(ip="192.0.2.1"))
    assert ok.headers() == {"RateLimit-Limit": "2", "RateLimit-Remaining": "1", "RateLimit-Reset": "5"}
    await limiter.check(RateLimitKey(ip="192.0.2.1"))
    no = await limiter.check(RateLimitKey(ip="192.0.2.1"))
    headers = no.headers()
    assert not no.allowed and no.scope is Scope.IP
    assert headers["Retry-After"] == "5" and headers["RateLimit-Remaining"] == "0"
    assert headers["RateLimit-Reset"] == "10"


async def test_unlimited_and_disabled(client: aioredis.Redis) -> None:
    limiter = RateLimiter(client, only(user=Limit(requests=1, period_seconds=3600)))
    decision = await limiter.check(RateLimitKey(ip="1.1.1.1"))  # no configured scope applies
    assert decision.allowed and decision.headers() == {}
    off = RateLimiter(
        client, only(user=Limit(requests=1, period_seconds=3600)).model_copy(update={"enabled": False})
    )
    assert all([(await off.check(RateLimitKey(user="g"))).allowed for _ in range(3)])
    assert await client.dbsize() == 0


async def test_keys_share_one_hash_tag(client: aioredis.Redis) -> None:
    minute = Limit(requests=10, period_seconds=3600)
    limiter = RateLimiter(client, only(global_limit=minute, service=minute, user=minute, ip=minute))
    await limiter.check(RateLimitKey(service="vod", user="h", ip="::1"))
    keys = sorted(k.decode() for k in await client.keys("*"))
    assert keys == ["{sg:rl}:g", "{sg:rl}:i:::1", "{sg:rl}:s:vod", "{sg:rl}:u:h"]
    ttls = [await client.pttl(k) for k in keys]
    assert all(355_000 < ttl <= 360_001 for ttl in ttls)  # state expires when the scope is fresh again


async def test_metrics_count_per_scope(client: aioredis.Redis) -> None:
    limiter = RateLimiter(
        client, only(user=Limit(requests=1, period_seconds=3600), ip=Limit(requests=9, period_seconds=3600))
    )
    allowed_ip = RATELIMIT_CHECKS.labels("ip", "allowed")._value.get()
    denied_user = RATELIMIT_CHECKS.labels("user", "denied")._value.get()
    denied_ip = RATELIMIT_CHECKS.labels("ip", "denied")._value.get()
    await limiter.check(RateLimitKey(user="m", ip="1.2.3.4"))
    await limiter.check(RateLimitKey(user="m", ip="1.2.3.4"))
    assert RATELIMIT_CHECKS.labels("ip", "allowed")._value.get() == allowed_ip + 1
    assert RATELIMIT_CHECKS.labels("user", "denied")._value.get() == denied_user + 1
    assert RATELIMIT_CHECKS.labels("ip", "denied")._value.get() == denied_ip
