"""Local leases in front of the distributed rate limiter, for hot keys.

Even micro-batched, every request pays the limiter's per-request work and a share of a Redis round trip
(measured here: ~80 µs of CPU per request at batches of ~7, more than the rest of a cached segment GET).
A key that sends at least `hot_after` requests within `window_seconds` instead takes a lease: ONE
atomic check of all its scopes with `cost=n`, where n is the key's rate per window (at most
`max_tokens`), so a hot key costs about one Redis round trip per window per process. Its next n-1
requests are admitted locally until the lease expires (two windows after it was taken). A round trip
costs ~380 µs of client CPU here (redis-py, syscalls, loopback), so `max_tokens` is sized for a few
thousand requests/s per key and process (256 per 50 ms window): a smaller cap makes busy keys pay for more
round trips without changing the accounting below, which depends on the window only.

Accounting stays conservative: a lease is charged in Redis before any of its requests is admitted, so the
limits are never exceeded; the price is that a key may be charged up to one window of its own traffic
ahead (unused lease tokens are not refunded; with the background refill, which starts when half a lease
is used or its rest would not outlast two refill round trips (counted as at most a window), and
carries the rest over, up to two windows). Cold keys, and a hot key whose lease is refused, are checked
one request at a time, exactly as without leases; a hot key that is refused is then refused locally until
its `Retry-After` (at most one window), so a flood of refused requests does not reach Redis either.
`max_tokens <= 1` turns leasing off."""

from __future__ import annotations

import asyncio
import dataclasses
import time
from collections.abc import Coroutine
from typing import Any

from prometheus_client import Counter

from runtime.observability.metrics import int_counters
from runtime.security.ratelimit import RateLimitDecision, RateLimiter, RateLimitKey

LEASED_ADMITS = int_counters(
    "streamgate_ratelimit_leased_admits_total",
    "Requests admitted from a local lease (their tokens were charged in Redis by the lease's check)",
)
_LEASED = LEASED_ADMITS.labels()
LEASES = Counter(
    "streamgate_ratelimit_leases_total", "Leases taken, by outcome", ["result"]
)  # granted|refused
_GRANTED = LEASES.labels("granted")
_REFUSED = LEASES.labels("refused")


@dataclasses.dataclass(slots=True)
class _Lease:
    left: int
    expires: float
    decision: RateLimitDecision
    since: float = 0.0  # when the decision was made
    size: int = 0  # tokens taken by the lease's check


def _decision(d: RateLimitDecision, *, remaining: int, retry_after: float, reset: float) -> RateLimitDecision:
    # Direct construction: dataclasses.replace costs several times more on this path.
    return RateLimitDecision(d.allowed, d.scope, retry_after, remaining, reset, d.limit, d.degraded)


@dataclasses.dataclass(slots=True)
class _Rate:
    window_start: float
    count: int  # requests in the current window
    previous: int = 0  # requests in the window before (0 if it was not the adjacent one)


class LeasedLimiter:
    def __init__(
        self,
        limiter: RateLimiter,
        *,
        window_seconds: float = 0.05,
        max_tokens: int = 256,
        hot_after: int = 4,
        max_keys: int = 10_000,
    ) -> None:
        self.limiter = limiter
        self.window = window_seconds
        # A lease is sized for one window of the key's traffic but lives two: its tokens are charged
        # already (using them later is conservative), and a lease that lapsed just before its refill
        # landed would make the key's requests wait for a synchronous one.
        self.lifetime = 2 * window_seconds
        self.max_tokens = max_tokens
        self.hot_after = hot_after
        self.max_keys = max_keys
        self._leases: dict[RateLimitKey, _Lease] = {}
        self._rates: dict[RateLimitKey, _Rate] = {}
        self._pending: dict[RateLimitKey, asyncio.Future[None]] = {}
        self._refills: set[asyncio.Task[None]] = set()
        # Recent refill round trip (an EWMA, at most half a window) as a fraction of a window, doubled:
        # a refill starts when the lease has fewer tokens left than the key uses in that time.
        self._lead = 0.0

    def _take(self, key: RateLimitKey, now: float, rate: int) -> RateLimitDecision | None:
        lease = self._leases.get(key)
        if lease is None or lease.expires <= now:
            return None
        d = lease.decision
        if not d.allowed:  # a hot key already refused: refused locally until its retry time
            elapsed = now - lease.since
            return _decision(
                d,
                remaining=d.remaining,
                retry_after=max(0.0, d.retry_after - elapsed),
                reset=max(0.0, d.reset - elapsed),
            )
        if lease.left <= 0:
            return None
        lease.left -= 1
        _LEASED.value += 1
        left = lease.left
        if (left * 2 <= lease.size or left <= rate * self._lead) and key not in self._pending:
            self._start_refill(key, max(2, min(self.max_tokens, rate)))
        return _decision(d, remaining=d.remaining + left, retry_after=d.retry_after, reset=d.reset)

    def _observe(self, key: RateLimitKey, now: float) -> int:
        """Count this request; returns the key's rate in requests per window (the larger of the current
        and the previous window, so a lease taken early in a window is still sized for the whole)."""
        rate = self._rates.get(key)
        if rate is None:
            if len(self._rates) >= self.max_keys:
                self._rates.clear()  # bounded memory: every key relearns its rate within one window
            self._rates[key] = rate = _Rate(now, 0)
        elif now - rate.window_start >= self.window:
            adjacent = now - rate.window_start < 2 * self.window
            rate.previous = rate.count if adjacent else 0
            rate.window_start, rate.count = now, 0
        rate.count += 1
        return max(rate.count, rate.previous)

    async def check(self, key: RateLimitKey) -> RateLimitDecision:
        decided = self.admit(key)
        return decided if isinstance(decided, RateLimitDecision) else await decided

    def admit(self, key: RateLimitKey) -> RateLimitDecision | Coroutine[Any, Any, RateLimitDecision]:
        """`check` for the hot path: the decision itself when the key's lease decides (no coroutine is
        created, no Redis is asked), else a coroutine to await for it."""
        if self.max_tokens <= 1:
            return self.limiter.check(key)
        now = time.monotonic()
        count = self._observe(key, now)
        taken = self._take(key, now, count)
        return taken if taken is not None else self._decide(key, count)

    async def _decide(self, key: RateLimitKey, count: int) -> RateLimitDecision:
        while (pending := self._pending.get(key)) is not None:
            await asyncio.shield(pending)  # a lease for this key is being taken: share it
            taken = self._take(key, time.monotonic(), count)
            if taken is not None:
                return taken
        if count < self.hot_after:
            return await self.limiter.check(key)
        return await self._lease(key, min(self.max_tokens, count), time.monotonic())

    async def _lease(self, key: RateLimitKey, n: int, now: float) -> RateLimitDecision:
        done: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._pending[key] = done
        try:
            decision = await self.limiter.check(key, cost=n)
            if decision.allowed:
                _GRANTED.inc()
                lease = _Lease(left=n - 1, expires=now + self.lifetime, decision=decision, size=n)
                self._store(key, lease, now)
                d = decision
                return _decision(d, remaining=d.remaining + n - 1, retry_after=d.retry_after, reset=d.reset)
            _REFUSED.inc()
            decision = await self.limiter.check(key)  # not enough for a lease: decide this one exactly
            if not decision.allowed and decision.retry_after > 0 and not decision.degraded:
                # GCRA admits nothing before retry_after: refuse the hot key locally until then.
                until = now + min(decision.retry_after, self.window)
                self._store(key, _Lease(left=0, expires=until, decision=decision, since=now), now)
            return decision
        finally:
            del self._pending[key]
            done.set_result(None)

    def _start_refill(self, key: RateLimitKey, n: int) -> None:
        """Take the next lease in the background once half of the current one is used, or sooner when the
        rest would not outlast two recent refill round trips (a busy event loop makes them tens of ms),
        so requests of a hot key rarely wait for Redis. The rest of the current lease carries over."""
        done: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._pending[key] = done
        task = asyncio.get_running_loop().create_task(self._refill(key, n, done))
        self._refills.add(task)
        task.add_done_callback(self._refills.discard)

    async def _refill(self, key: RateLimitKey, n: int, done: asyncio.Future[None]) -> None:
        try:
            started = time.monotonic()
            decision = await self.limiter.check(key, cost=n)
            now = time.monotonic()
            seconds = min(now - started, self.window / 2)
            self._lead = 0.8 * self._lead + 0.2 * (2 * seconds / self.window)
            if decision.allowed:  # refused: keep using what is left, then decide exactly as usual
                _GRANTED.inc()
                old = self._leases.get(key)
                carry = old.left if old is not None and old.decision.allowed and old.expires > now else 0
                self._store(
                    key,
                    _Lease(left=n + carry, expires=now + self.lifetime, decision=decision, size=n + carry),
                    now,
                )
            else:
                _REFUSED.inc()
        finally:
            del self._pending[key]
            done.set_result(None)

    async def aclose(self) -> None:
        """Wait for background refills (they are short: one batched Redis round trip)."""
        if self._refills:
            await asyncio.gather(*self._refills, return_exceptions=True)

    def _store(self, key: RateLimitKey, lease: _Lease, now: float) -> None:
        if len(self._leases) >= self.max_keys:
            self._leases = {k: v for k, v in self._leases.items() if v.expires > now}
            if len(self._leases) >= self.max_keys:
                self._leases.clear()
        self._leases[key] = lease
