"""In-process GCRA: the same arithmetic as gcra.lua, used when Redis is unreachable and the limiter fails
open. Per process, so the settings scale each limit by `local_share`; memory is bounded by `max_keys`."""

from __future__ import annotations

import time
from collections.abc import Sequence

from runtime.security.ratelimit.decision import RateLimitDecision, ScopeLimit


class LocalGcra:
    def __init__(self, *, share: float = 1.0, max_keys: int = 100_000) -> None:
        self._share = share
        self._max_keys = max_keys
        self._tats: dict[str, int] = {}

    def check(self, limits: Sequence[ScopeLimit], cost: int) -> RateLimitDecision:
        now = time.time_ns() // 1000
        current: list[int] = []
        following: list[int] = []
        tolerances: list[int] = []
        denied_by, wait = -1, 0
        for i, sl in enumerate(limits):
            # Scale the capacity, keep the interval: a process admits `share` of the burst.
            tolerance = max(sl.interval_us, int(sl.tolerance_us * self._share))
            tat = max(self._tats.get(sl.key, 0), now)
            new_tat = tat + cost * sl.interval_us
            over = new_tat - now - tolerance
            if over > 0 and (denied_by < 0 or over > wait):
                denied_by, wait = i, over
            current.append(tat)
            following.append(new_tat)
            tolerances.append(tolerance)
        allowed = denied_by < 0
        pick, least, reset = denied_by, -1, 0
        for i, sl in enumerate(limits):
            used = (following[i] if allowed else current[i]) - now
            if allowed and cost > 0:
                self._tats[sl.key] = following[i]
            remaining = max(0, (tolerances[i] - used) // sl.interval_us)
            if (allowed and (least < 0 or remaining < least)) or i == denied_by:
                if allowed:
                    pick = i
                least, reset = remaining, used
        if len(self._tats) > self._max_keys:
            self._prune(now)
        chosen = limits[pick]
        return RateLimitDecision(
            allowed=allowed,
            scope=chosen.scope,
            retry_after=wait / 1e6,
            remaining=least,
            reset=reset / 1e6,
            limit=max(1, int(chosen.limit * self._share)),
            degraded=True,
            at=time.monotonic(),
        )

    def _prune(self, now: int) -> None:
        """Drop keys whose TAT has passed (they equal a fresh key); if still too many, the oldest inserted."""
        self._tats = {k: v for k, v in self._tats.items() if v > now}
        excess = len(self._tats) - self._max_keys
        if excess > 0:
            for key in list(self._tats)[:excess]:
                del self._tats[key]
