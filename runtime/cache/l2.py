"""L2: Redis, shared by every instance. Values are `Record`s (versioned header + bytes).

Single-key reads from concurrent requests are coalesced by a micro-batcher into one MGET. Every call goes
through a circuit breaker; a failure raises `L2UnavailableError`, which callers treat as a miss.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable, Sequence
from typing import TypeVar, cast

import redis.asyncio as aioredis
from redis.exceptions import RedisError

from runtime.cache import metrics
from runtime.cache.breaker import BreakerState, CircuitBreaker
from runtime.cache.errors import L2UnavailableError
from runtime.cache.keys import RedisKeys
from runtime.cache.record import Record, decode
from runtime.cache.settings import CacheSettings
from runtime.streaming.batching import MicroBatcher

T = TypeVar("T")

# What a broken or unreachable Redis raises (pool exhaustion is a redis ConnectionError).
REDIS_FAILURES: tuple[type[BaseException], ...] = (RedisError, OSError, TimeoutError)

_RELEASE_LEASE = """
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
"""


class RedisTier:
    def __init__(self, client: aioredis.Redis, settings: CacheSettings) -> None:
        if client.connection_pool.connection_kwargs.get("decode_responses"):
            raise ValueError("the cache needs a Redis client with decode_responses=False (values are bytes)")
        self.client = client
        self.settings = settings
        self.keys = RedisKeys(settings.namespace)
        gauge = metrics.BREAKER_OPEN.labels(settings.namespace)
        gauge.set(0)
        self.breaker = CircuitBreaker(
            failure_threshold=settings.breaker_failure_threshold,
            reset_seconds=settings.breaker_reset_seconds,
            on_change=lambda state: gauge.set(1 if state is BreakerState.OPEN else 0),
        )
        self.batcher: MicroBatcher[str, bytes | None] = MicroBatcher(
            self._mget,
            max_items=settings.l2_batch_max_items,
            max_delay=settings.l2_batch_max_delay_seconds,
            eager=True,  # a lone lookup must not wait a loop hop for company (a third of the overhead)
        )
        self._release = client.register_script(_RELEASE_LEASE)
        self._value_prefix = self.keys.value_prefix
        self._latency = metrics.LOOKUP_SECONDS["l2"]

    @property
    def available(self) -> bool:
        """False while the breaker is open (no call would be attempted)."""
        return self.settings.l2_enabled and self.breaker.state is not BreakerState.OPEN

    def _refuse(self, op: str) -> L2UnavailableError | None:
        if not self.settings.l2_enabled:
            return L2UnavailableError("L2 disabled")
        if not self.breaker.allow():
            return L2UnavailableError(f"redis {op}: circuit open")
        return None

    def _failed(self, op: str, exc: BaseException) -> L2UnavailableError:
        self.breaker.failure()
        metrics.L2_ERRORS.labels(op).inc()
        return L2UnavailableError(f"redis {op}: {exc}")

    async def run(self, op: str, call: Callable[[], Awaitable[T]]) -> T:
        """Run one Redis operation behind the breaker; failures become L2UnavailableError."""
        refused = self._refuse(op)
        if refused is not None:
            raise refused
        try:
            result = await call()
        except REDIS_FAILURES as exc:
            raise self._failed(op, exc) from exc
        self.breaker.success()
        return result

    async def _mget(self, keys: Sequence[str]) -> list[bytes | None]:
        started = time.perf_counter()
        prefix = self._value_prefix
        try:
            # bytes, never str: the constructor refuses clients that decode responses
            if len(keys) == 1:  # a lone request: GET parses a little faster than a one-key MGET
                raws = [cast("bytes | None", await self.client.get(prefix + keys[0]))]
            else:
                raws = cast("list[bytes | None]", await self.client.mget([prefix + k for k in keys]))
        except REDIS_FAILURES as exc:
            raise self._failed("get", exc) from exc
        self.breaker.success()
        self._latency.observe(time.perf_counter() - started)
        return raws

    async def get(self, key: str) -> Record | None:
        """One key; concurrent calls share one MGET round trip."""
        refused = self._refuse("get")
        if refused is not None:
            raise refused
        raw = await self.batcher.submit(key)
        return None if raw is None else decode(raw)

    async def get_many(self, keys: Sequence[str]) -> list[Record | None]:
        """Many keys in one MGET."""
        if not keys:
            return []
        refused = self._refuse("get")
        if refused is not None:
            raise refused
        raws = await self._mget(keys)
        return [None if raw is None else decode(raw) for raw in raws]

    def ttl_ms(self, record: Record, now: float) -> int:
        """Redis keeps a record past its freshness for the stale window (served while one caller reloads)."""
        stale = 0.0 if record.negative else self.settings.l2_stale_seconds
        return max(1, int((record.expires_at - now + stale) * 1000))

    async def set(self, key: str, record: Record | None, *, depends_on: Sequence[str] = ()) -> None:
        """Write a record (None: delete the key) and its dependency edges in one round trip."""
        now = time.time()

        async def write() -> None:
            async with self.client.pipeline(transaction=False) as pipe:
                if record is None:
                    pipe.unlink(self.keys.value(key))
                else:
                    pipe.set(self.keys.value(key), record.encode(), px=self.ttl_ms(record, now))
                self.add_edges(pipe, key, depends_on)
                await pipe.execute()

        await self.run("set", write)

    def add_edges(self, pipe: aioredis.client.Pipeline, key: str, depends_on: Sequence[str]) -> None:
        """Queue `resource -> key` edges of the dependency graph on a pipeline."""
        ttl = int(self.settings.dependency_ttl_seconds * 1000)
        for resource in depends_on:
            name = self.keys.deps(resource)
            pipe.sadd(name, key)
            pipe.pexpire(name, ttl)

    async def delete(self, keys: Sequence[str]) -> None:
        if keys:
            await self.run("delete", lambda: self.client.unlink(*[self.keys.value(k) for k in keys]))

    async def acquire_lease(self, key: str, token: str) -> bool:
        """Short exclusive right to load `key` across instances (SET NX PX)."""
        ttl = int(self.settings.lease_ttl_seconds * 1000)
        got = await self.run("lease", lambda: self.client.set(self.keys.lease(key), token, nx=True, px=ttl))
        return bool(got)

    async def release_lease(self, key: str, token: str) -> None:
        """Release only our own lease (it may have expired and been taken by another instance)."""
        await self.run("lease", lambda: self._release(keys=[self.keys.lease(key)], args=[token]))

    async def lease_held(self, key: str) -> bool:
        return bool(await self.run("lease", lambda: self.client.exists(self.keys.lease(key))))

    async def aclose(self) -> None:
        await self.batcher.aclose()
