"""The distributed rate limiter: every scope of a request in one atomic Lua call, and the concurrent
requests of one event-loop tick in that same call (micro-batching), so the gateway pays one Redis round
trip per batch of requests instead of one (or four) per request.

The bound. For a scope with rate r (requests / period) and burst b, in any window of W seconds:

    admitted <= b + r * W + epsilon,   epsilon = max(2, p % of (b + r * 1 s))   (ScopeLimit.epsilon)

with p = `RateLimitSettings.epsilon_percent` (1 by default)

counting an admission when it is decided: when its check runs in Redis (every request decided by a
check, including the one that takes a lease), or, for the other tokens of a lease
(runtime/service/leases.py), when the token is used. This limiter alone keeps the GCRA bound b + r * W;
epsilon is what leases may add, across every process sharing the scope. Why: each admitted token owns a
GCRA slot (an interval of length T = 1/r between two TATs of the scope) that no other token shares; a
check admits only if the slot ends within tau = b * T of the decision, and a slot starts no earlier than
the check ran. A leased token is charged before it is used, so its slot still ends within tau of its use,
and the lease refuses it later than `lateness_us` = (epsilon - 1) * T after its slot began. So the slots of
the tokens used in [s, s + W] lie in [s - (epsilon - 1) T, s + W + tau]: at most b + r * W + epsilon - 1
of them. The core limiter (no lease) never exceeds b + r * W; the property test over arrival patterns is
tests/service/test_lease_bound.py."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import redis.asyncio as aioredis
from redis.exceptions import RedisError

from runtime.security import metrics
from runtime.security.errors import RateLimitError
from runtime.security.lua import LuaScript
from runtime.security.ratelimit.decision import (
    UNLIMITED,
    RateLimitDecision,
    RateLimitKey,
    Scope,
    ScopeLimit,
)
from runtime.security.ratelimit.local import LocalGcra
from runtime.security.settings import Limit, RateLimitSettings
from runtime.streaming.batching import MicroBatcher

log = logging.getLogger(__name__)

GCRA_SCRIPT = LuaScript.from_package("runtime.security.ratelimit", "gcra.lua")
_FIELDS = 5  # integers per request in the script's reply
_MAX_CACHED_SERVICES = 1024

_ALLOWED = {scope: metrics.RATELIMIT_CHECKS.labels(scope.value, "allowed") for scope in Scope}
_DENIED = {scope: metrics.RATELIMIT_CHECKS.labels(scope.value, "denied") for scope in Scope}
_NO_CHECKS = dict.fromkeys(Scope, 0)
_FALLBACK_OPEN = metrics.RATELIMIT_FALLBACK.labels("open")
_FALLBACK_CLOSED = metrics.RATELIMIT_FALLBACK.labels("closed")


@dataclass(frozen=True, slots=True)
class _Pending:
    limits: tuple[ScopeLimit, ...]
    cost: int


def scope_limit(scope: Scope, key: str, limit: Limit) -> ScopeLimit:
    """Integer microseconds for the script; the interval is rounded so that exactly `capacity` requests
    fit in the tolerance (the rate is off by under 1 µs per request, the count never)."""
    interval = max(1, round(limit.period_seconds * 1_000_000 / limit.requests))
    return ScopeLimit(scope, key, interval, interval * limit.capacity, limit.capacity)


class RateLimiter:
    """`await limiter.check(RateLimitKey(service=..., user=..., ip=...))` → `RateLimitDecision`.

    Keys share the hash tag `{<key_prefix>}`: on Redis Cluster they all live in one slot, which is what an
    atomic check across a global scope requires. Redis errors and timeouts never raise: the request is
    decided per `on_redis_error` by a local in-process limiter (open) or refused (closed), and Redis is
    left alone for `retry_redis_after_seconds` so later requests do not each wait for the timeout.
    """

    def __init__(self, redis: aioredis.Redis, settings: RateLimitSettings | None = None) -> None:
        self._redis = redis
        self.settings = settings = settings or RateLimitSettings()
        self._prefix = "{" + settings.key_prefix + "}"
        self._global = (
            scope_limit(Scope.GLOBAL, f"{self._prefix}:g", settings.global_limit)
            if settings.global_limit
            else None
        )
        self._user = self._template(settings.user)
        self._ip = self._template(settings.ip)
        self._services: dict[str, ScopeLimit | None] = {}
        self._local = LocalGcra(share=settings.local_share, max_keys=settings.local_max_keys)
        self._batcher: MicroBatcher[_Pending, RateLimitDecision] = MicroBatcher(
            self._evaluate, max_items=settings.batch_max_size
        )
        self._redis_down_until = 0.0

    @staticmethod
    def _template(limit: Limit | None) -> ScopeLimit | None:
        """The numbers of a per-user or per-IP limit; scope and key are filled in per request."""
        return scope_limit(Scope.USER, "", limit) if limit else None

    def limits_for(self, key: RateLimitKey) -> tuple[ScopeLimit, ...]:
        """The scopes this key is checked against, in the order global, service, user, IP."""
        limits: list[ScopeLimit] = []
        if self._global is not None:
            limits.append(self._global)
        if key.service is not None:
            service = self._service_limit(key.service)
            if service is not None:
                limits.append(service)
        if key.user is not None and self._user is not None:
            u = self._user
            limits.append(
                ScopeLimit(Scope.USER, f"{self._prefix}:u:{key.user}", u.interval_us, u.tolerance_us, u.limit)
            )
        if key.ip is not None and self._ip is not None:
            i = self._ip
            limits.append(
                ScopeLimit(Scope.IP, f"{self._prefix}:i:{key.ip}", i.interval_us, i.tolerance_us, i.limit)
            )
        return tuple(limits)

    def _service_limit(self, service: str) -> ScopeLimit | None:
        try:
            return self._services[service]
        except KeyError:
            pass
        limit = self.settings.service_overrides.get(service, self.settings.service)
        built = scope_limit(Scope.SERVICE, f"{self._prefix}:s:{service}", limit) if limit else None
        if len(self._services) < _MAX_CACHED_SERVICES:
            self._services[service] = built
        return built

    async def check(self, key: RateLimitKey, cost: int = 1) -> RateLimitDecision:
        """Admit or refuse one request of weight `cost` against all its scopes at once."""
        if cost < 0:
            raise RateLimitError(f"cost must be >= 0, got {cost}")
        if not self.settings.enabled:
            return UNLIMITED
        limits = self.limits_for(key)
        if not limits:
            return UNLIMITED
        return await self._batcher.submit(_Pending(limits, cost))

    async def aclose(self) -> None:
        """Let batches in flight finish (the Redis client belongs to the caller)."""
        await self._batcher.aclose()

    # --- one batch -------------------------------------------------------------------------------

    async def _evaluate(self, batch: Sequence[_Pending]) -> list[RateLimitDecision]:
        if time.monotonic() < self._redis_down_until:
            return self._without_redis(batch)
        # Distinct keys and limits once each; requests refer to them by index (see gcra.lua).
        key_index: dict[str, str] = {}
        limit_index: dict[tuple[int, int], str] = {}
        keys: list[str] = []
        limits: list[str] = []
        spec: list[str] = []
        for pending in batch:
            spec.append(str(pending.cost))
            spec.append(str(len(pending.limits)))
            for sl in pending.limits:
                ki = key_index.get(sl.key)
                if ki is None:
                    keys.append(sl.key)
                    ki = key_index[sl.key] = str(len(keys))
                li = limit_index.get((sl.interval_us, sl.tolerance_us))
                if li is None:
                    limits.append(sl.spec)
                    li = limit_index[(sl.interval_us, sl.tolerance_us)] = str(len(limits))
                spec.append(ki)
                spec.append(li)
        sent = time.monotonic()  # the script runs after this: leases anchor their deadlines here
        started = time.perf_counter()
        try:
            async with asyncio.timeout(self.settings.redis_timeout_seconds):
                raw = await GCRA_SCRIPT.run(self._redis, keys, (" ".join(limits), " ".join(spec)))
        except (RedisError, OSError, TimeoutError) as exc:
            metrics.RATELIMIT_REDIS_ERRORS.inc()
            self._redis_down_until = time.monotonic() + self.settings.retry_redis_after_seconds
            log.warning(
                "rate limiter: Redis unavailable (%s); failing %s",
                type(exc).__name__,
                self.settings.on_redis_error,
            )
            return self._without_redis(batch)
        metrics.RATELIMIT_REDIS_SECONDS.observe(time.perf_counter() - started)
        metrics.RATELIMIT_BATCH_SIZE.observe(len(batch))
        tally = _Tally()
        decisions = [self._decision(p, raw, i * _FIELDS, tally, sent) for i, p in enumerate(batch)]
        tally.flush()
        return decisions

    @staticmethod
    def _decision(pending: _Pending, raw: list[Any], i: int, tally: _Tally, sent: float) -> RateLimitDecision:
        allowed = raw[i] == 1
        chosen = pending.limits[int(raw[i + 1]) - 1]
        tally.count(pending.limits, allowed, chosen.scope)
        return RateLimitDecision(
            allowed=allowed,
            scope=chosen.scope,
            retry_after=int(raw[i + 2]) / 1e6,
            remaining=int(raw[i + 3]),
            reset=int(raw[i + 4]) / 1e6,
            limit=chosen.limit,
            at=sent,
        )

    def _without_redis(self, batch: Sequence[_Pending]) -> list[RateLimitDecision]:
        if self.settings.on_redis_error == "closed":
            _FALLBACK_CLOSED.inc(len(batch))
            retry = max(1.0, self.settings.retry_redis_after_seconds)
            now = time.monotonic()
            return [
                RateLimitDecision(False, None, retry, 0, retry, p.limits[0].limit, degraded=True, at=now)
                for p in batch
            ]
        _FALLBACK_OPEN.inc(len(batch))
        tally = _Tally()
        decisions = []
        for pending in batch:
            decision = self._local.check(pending.limits, pending.cost)
            tally.count(pending.limits, decision.allowed, decision.scope)
            decisions.append(decision)
        tally.flush()
        return decisions


class _Tally:
    """Per-batch metric counts, added to the counters once per batch rather than once per scope check."""

    __slots__ = ("allowed", "denied")

    def __init__(self) -> None:
        self.allowed = _NO_CHECKS.copy()  # a copy: iterating the enum costs 10x, once per batch
        self.denied = _NO_CHECKS.copy()

    def count(self, limits: Sequence[ScopeLimit], allowed: bool, scope: Scope | None) -> None:
        if allowed:
            for sl in limits:
                self.allowed[sl.scope] += 1
        elif scope is not None:
            self.denied[scope] += 1

    def flush(self) -> None:
        for scope, n in self.allowed.items():
            if n:
                _ALLOWED[scope].inc(n)
        for scope, n in self.denied.items():
            if n:
                _DENIED[scope].inc(n)
