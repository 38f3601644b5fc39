"""Local leases in front of the distributed rate limiter, for hot keys.

Even micro-batched, every request pays the limiter's per-request work and a share of a Redis round trip
(measured here: ~80 µs of CPU per request at batches of ~7, more than the rest of a cached segment GET).
A key that sends at least `hot_after` requests within `window_seconds` instead takes a lease: ONE
atomic check of all its scopes with `cost=n`, and its next n-1 requests are admitted locally. A round
trip costs ~380 µs of client CPU here (redis-py, syscalls, loopback), so `max_tokens` allows a few
thousand requests/s per key and process.

The bound (stated in runtime/security/ratelimit/limiter.py): in any window, a scope admits at most its
GCRA bound plus epsilon = max(2, 1 % of burst + rate x 1 s) (the percentage is a setting), across all
processes. A lease is charged in Redis before any of its requests is admitted, so its tokens never exceed
the limits; what could (and did:
151-154 admitted against a bound of 150) is tokens charged before a window and used inside it. So each
token carries a use deadline: token k of a lease whose check was sent at `at` is usable until
`at + lateness + k x step`, where lateness is the smallest `lateness_us` of the key's scopes
((epsilon - 1) x interval) and step the smallest interval: its GCRA slot cannot have begun longer ago than
that. Tokens past their deadline are dropped, never refunded (a refund could free slots that later charges
already own).

Leases are sized so their tokens are used before their deadlines: at most one window of the key's traffic,
and no more than its measured rate uses within the lateness (a key at 2,000/s against a 20,000/s global
scope gets ~40-token leases; the requests already waiting get theirs at once). More tokens are taken in
the background when those held (and on their way) would run out or lapse within a round trip plus a
margin; they queue behind the held ones, sized for what the key uses from then until their own
deadlines. When round trips are longer than tokens live (a saturated event loop), up to `_MAX_REFILLS`
refills are in flight, staggered. The price of the bound: tokens live about 20 ms (epsilon - 1 intervals),
so a hot key takes a round trip every 10-20 ms. Measured here (one process, one hot key): ~60 round
trips/s both at ~13,000 requests/s and on an event loop saturated at ~7,600 requests/s (was 30/s with
leases living 100 ms), under 2 % of charged tokens lapsing unused, ~1-2 µs of CPU per request more.

Cold keys, and a hot key whose lease is refused, are checked one request at a time, exactly as without
leases; a hot key that is refused is then refused locally until its `Retry-After` (at most one window), so
a flood of refused requests does not reach Redis either. `max_tokens <= 1` turns leasing off."""

from __future__ import annotations

import asyncio
import collections
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


EXPIRED_TOKENS = int_counters(
    "streamgate_ratelimit_lease_tokens_expired_total",
    "Leased tokens dropped unused at their deadline (charged in Redis, never admitted)",
)
_EXPIRED = EXPIRED_TOKENS.labels()
_MAX_REFILLS = 4  # per key in flight at once


@dataclasses.dataclass(slots=True)
class _Lease:
    """Tokens in segments, one per check that charged them, used oldest first. The current segment has
    `left` tokens, the next usable until `deadline` and each later one `step` seconds longer; `later`
    queues the segments of refills as (tokens, first deadline). A refused lease has no tokens and refuses
    until `deadline`."""

    left: int
    deadline: float
    decision: RateLimitDecision
    step: float = 0.0
    since: float = 0.0  # when the decision was made
    queued: int = 0  # tokens in `later`
    inflight: int = 0  # tokens asked for by refills not back yet
    refills: int = 0  # refills not back yet
    covered: float = 0.0  # refills on their way will have tokens usable until about then
    slack: float = 0.0  # a refill is due this long (plus a round trip) before the tokens run out
    until: float = 0.0  # when the last token (or a refusal) lapses
    later: collections.deque[tuple[int, float]] = dataclasses.field(default_factory=collections.deque)

    def __post_init__(self) -> None:
        self.until = self.deadline + max(0, self.left - 1) * self.step

    def usable(self, now: float) -> int:
        """Tokens of the current segment after dropping those past their deadline, moving on to the next
        segment when it is spent."""
        while True:
            if self.left > 0 and now > self.deadline:
                late = self.left
                if self.step > 0:
                    late = min(late, int((now - self.deadline) / self.step) + 1)
                self.left -= late
                self.deadline += late * self.step
                _EXPIRED.value += late
            if self.left > 0 or not self.later:
                return self.left
            self.left, self.deadline = self.later.popleft()
            self.queued -= self.left

    def append(self, n: int, deadline: float) -> None:
        self.later.append((n, deadline))
        self.queued += n
        self.until = max(self.until, deadline + (n - 1) * self.step)


def _decision(d: RateLimitDecision, *, remaining: int, retry_after: float, reset: float) -> RateLimitDecision:
    # Direct construction: dataclasses.replace costs several times more on this path.
    return RateLimitDecision(d.allowed, d.scope, retry_after, remaining, reset, d.limit, d.degraded, d.at)


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
        self.max_tokens = max_tokens
        self.hot_after = hot_after
        self.max_keys = max_keys
        self._leases: dict[RateLimitKey, _Lease] = {}
        self._rates: dict[RateLimitKey, _Rate] = {}
        # Checks in flight per key (a lease or refills), oldest first: requests that find no token wait for
        # the oldest, then look again.
        self._pending: dict[RateLimitKey, list[asyncio.Future[None]]] = {}
        self._undecided: dict[RateLimitKey, int] = {}
        self._refills: set[asyncio.Task[None]] = set()
        # Recent refill round trip and its part before the check was sent (EWMAs, seconds): see _take.
        self._rtt = 0.0
        self._pre = 0.0

    def _take(self, key: RateLimitKey, now: float, rate: int) -> RateLimitDecision | None:
        lease = self._leases.get(key)
        if lease is None:
            return None
        d = lease.decision
        if not d.allowed:  # a hot key already refused: refused locally until its retry time
            if lease.deadline <= now:
                return None
            elapsed = now - lease.since
            return _decision(
                d,
                remaining=d.remaining,
                retry_after=max(0.0, d.retry_after - elapsed),
                reset=max(0.0, d.reset - elapsed),
            )
        if (lease.left <= 0 or now > lease.deadline) and lease.usable(now) <= 0:
            return None
        lease.left -= 1
        lease.deadline += lease.step
        _LEASED.value += 1
        left = lease.left + lease.queued
        if lease.refills < _MAX_REFILLS:
            # Refill when the tokens (with those on their way) would run out or lapse within a round
            # trip plus a margin (a quarter of it, for jitter, and a slack). A refill on its way counts
            # until its own tokens lapse, so when round trips are longer than tokens live, refills go out
            # staggered rather than together.
            ahead = 1.25 * self._rtt + lease.slack
            if (left + lease.inflight) * self.window <= rate * ahead or max(
                lease.until, lease.covered
            ) - now <= ahead:
                self._start_refill(key, lease, now)
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

    def _deadlines(self, key: RateLimitKey) -> tuple[float, float]:
        """(lateness, step) in seconds for the key's leased tokens (module doc); no limits: no deadline."""
        limits = self.limiter.limits_for(key) if self.limiter.settings.enabled else ()
        if not limits:
            return float("inf"), 0.0
        percent = self.limiter.settings.epsilon_percent
        lateness = min(sl.lateness_us(percent) for sl in limits) / 1e6
        return lateness, min(sl.interval_us for sl in limits) / 1e6

    def _size(self, key: RateLimitKey, now: float, lateness: float, step: float) -> int:
        """Tokens for the next lease: one window of the key's traffic at most, and no more than it uses
        before their deadlines (token k may be used up to lateness + k * step after the check)."""
        rate = self._rates.get(key)
        if rate is None:
            return 1
        n = min(self.max_tokens, max(rate.count, rate.previous))
        per_second = self._per_second(rate, now)
        gap = 1.0 / per_second - step  # how much later each next use comes than its deadline
        if gap > 0 and lateness < float("inf"):
            n = min(n, max(self._undecided.get(key, 0), int(lateness / gap) + 1))
        return n

    def _per_second(self, rate: _Rate, now: float) -> float:
        """The key's requests per second: this window so far or the previous window, whichever is
        higher (a burst reads as a high rate; lease sizes are capped by the window's count anyway)."""
        return max(rate.count / max(now - rate.window_start, 0.001), rate.previous / self.window)

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
        if taken is not None:
            return taken
        # Requests of this key waiting for a decision: a burst that a lease should cover at once.
        if len(self._undecided) >= self.max_keys:
            self._undecided.clear()  # bounded (a count only sizes leases; losing one costs a round trip)
        self._undecided[key] = self._undecided.get(key, 0) + 1
        return self._decide(key, count)

    async def _decide(self, key: RateLimitKey, count: int) -> RateLimitDecision:
        try:
            while pending := self._pending.get(key):
                await asyncio.shield(pending[0])  # tokens for this key are on their way: share them
                taken = self._take(key, time.monotonic(), count)
                if taken is not None:
                    return taken
            if count < self.hot_after:
                return await self.limiter.check(key)
            return await self._lease(key)
        finally:
            left = self._undecided.pop(key, 1) - 1
            if left > 0:
                self._undecided[key] = left

    async def _lease(self, key: RateLimitKey) -> RateLimitDecision:
        lateness, step = self._deadlines(key)
        n = self._size(key, time.monotonic(), lateness, step)
        if n < 2:
            return await self.limiter.check(key)
        done: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._pending.setdefault(key, []).append(done)
        try:
            decision = await self.limiter.check(key, cost=n)
            now = time.monotonic()
            if decision.allowed:
                _GRANTED.inc()
                # This request is the lease's first token (admitted at the check); the rest wait here.
                lease = _Lease(
                    left=n - 1,
                    deadline=decision.at + lateness + step,
                    decision=decision,
                    step=step,
                    since=now,
                    slack=min(lateness / 8, self.window),
                )
                self._store(key, lease, now)
                d = decision
                return _decision(d, remaining=d.remaining + n - 1, retry_after=d.retry_after, reset=d.reset)
            _REFUSED.inc()
            decision = await self.limiter.check(key)  # not enough for a lease: decide this one exactly
            if not decision.allowed and decision.retry_after > 0 and not decision.degraded:
                # GCRA admits nothing before retry_after: refuse the hot key locally until then.
                until = now + min(decision.retry_after, self.window)
                self._store(key, _Lease(left=0, deadline=until, decision=decision, since=now), now)
            return decision
        finally:
            self._done(key, done)

    def _done(self, key: RateLimitKey, done: asyncio.Future[None]) -> None:
        pending = self._pending.get(key)
        if pending is not None:
            pending.remove(done)
            if not pending:
                del self._pending[key]
        done.set_result(None)

    def _start_refill(self, key: RateLimitKey, lease: _Lease, now: float) -> None:
        """Take more tokens in the background (when: see _take), so requests of a hot key rarely wait for
        Redis. The new tokens queue behind the ones held (and on their way), so they are sized for what
        the key uses from when those run out (or the refill lands, if later) until their own deadlines."""
        lateness, _ = self._deadlines(key)
        rate = self._rates.get(key)
        if rate is None:
            return
        per_second = self._per_second(rate, now)
        held = lease.left + lease.queued + lease.inflight
        lasting = max(0.0, max(lease.until, lease.covered) - now)
        first_use = max(self._rtt, min(held / per_second, lasting))
        n = min(self.max_tokens, max(rate.count, rate.previous))
        if lateness < float("inf"):
            n = min(n, int(per_second * (self._pre + lateness - first_use)) + 1)
        if n < 2:
            return
        lease.inflight += n
        lease.refills += 1
        lease.covered = max(lease.covered, now + self._pre + lateness)
        done: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._pending.setdefault(key, []).append(done)
        task = asyncio.get_running_loop().create_task(self._refill(key, lease, n, lateness, done))
        self._refills.add(task)
        task.add_done_callback(self._refills.discard)

    async def _refill(
        self, key: RateLimitKey, lease: _Lease, n: int, lateness: float, done: asyncio.Future[None]
    ) -> None:
        try:
            started = time.monotonic()
            decision = await self.limiter.check(key, cost=n)
            now = time.monotonic()
            seconds = now - started
            self._rtt = 0.8 * self._rtt + 0.2 * seconds
            self._pre = 0.8 * self._pre + 0.2 * min(max(0.0, decision.at - started), seconds)
            if decision.allowed:  # refused: keep using what is left, then decide exactly as usual
                _GRANTED.inc()
                current = self._leases.get(key)
                if current is not None and current.decision.allowed:
                    current.append(n, decision.at + lateness)
                    current.decision, current.since = decision, now
                else:
                    self._store(
                        key,
                        _Lease(
                            left=n,
                            deadline=decision.at + lateness,
                            decision=decision,
                            step=lease.step,
                            since=now,
                            slack=min(lateness / 8, self.window),
                        ),
                        now,
                    )
            else:
                _REFUSED.inc()
        finally:
            lease.inflight -= n
            lease.refills -= 1
            self._done(key, done)

    async def aclose(self) -> None:
        """Wait for background refills (they are short: one batched Redis round trip)."""
        if self._refills:
            await asyncio.gather(*self._refills, return_exceptions=True)

    def _store(self, key: RateLimitKey, lease: _Lease, now: float) -> None:
        if len(self._leases) >= self.max_keys:
            self._leases = {k: v for k, v in self._leases.items() if v.until > now}
            if len(self._leases) >= self.max_keys:
                self._leases.clear()
        self._leases[key] = lease
