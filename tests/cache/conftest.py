"""Cache test fixtures: caches on the real redis-server and object stores on moto's S3."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Awaitable, Callable

import pytest
import redis.asyncio as aioredis

from runtime.cache import CacheSettings, CdnPurger, MultiLevelCache
from runtime.connections import redis_client
from runtime.storage import ObjectStore
from tests.servers import MotoServer, RedisServer

CacheFactory = Callable[..., Awaitable[MultiLevelCache]]


def fast_settings(**overrides: object) -> CacheSettings:
    """Settings with short timers so fault tests finish in well under a second."""
    base: dict[str, object] = {
        "l1_ttl_jitter": 0.0,
        "breaker_failure_threshold": 2,
        "breaker_reset_seconds": 0.2,
        "pubsub_reconnect_min_seconds": 0.05,
        "pubsub_reconnect_max_seconds": 0.2,
        "lease_wait_seconds": 3.0,
        "warm_top_n": 0,
    }
    base.update(overrides)
    return CacheSettings.model_validate(base)


@pytest.fixture
async def clients() -> AsyncIterator[list[aioredis.Redis]]:
    """Redis clients made during a test, closed after it."""
    made: list[aioredis.Redis] = []
    yield made
    for client in made:
        await client.aclose()


@pytest.fixture
async def make_cache(redis: RedisServer, clients: list[aioredis.Redis]) -> AsyncIterator[CacheFactory]:
    """Build started caches on the shared redis-server (each its own client, like separate instances)."""
    caches: list[MultiLevelCache] = []

    async def make(
        *,
        url: str | None = None,
        store: ObjectStore | None = None,
        cdn: CdnPurger | None = None,
        live: bool = True,
        **overrides: object,
    ) -> MultiLevelCache:
        client = redis_client(url or redis.url)
        clients.append(client)
        # `live`: Redis is reachable, so wait for the channel. On a busy machine a late first subscription
        # drops L1 (correctly), which a test that had just filled it would misread.
        settings = fast_settings(**{"startup_wait_seconds": 10.0 if live else 0.5, **overrides})
        cache = MultiLevelCache(client, settings=settings, store=store, cdn=cdn)
        await cache.start()
        if live and settings.l2_enabled:
            assert cache.listener.subscribed, "no invalidation channel within 10 s"
        caches.append(cache)
        return cache

    yield make
    for cache in caches:
        await cache.close()


@pytest.fixture
async def store(moto: MotoServer) -> AsyncIterator[ObjectStore]:
    """A fresh bucket on moto's S3 for this test."""
    s = ObjectStore(f"cache-{uuid.uuid4().hex[:12]}", prefix="l3", endpoint_url=moto.url, region="us-east-1")
    await s.ensure_bucket()
    yield s
    s.close()
