"""Values of the rate limiter: what is checked (key, scopes) and what was decided (with headers)."""

from __future__ import annotations

import math
from dataclasses import dataclass
from enum import StrEnum
from typing import NamedTuple


class Scope(StrEnum):
    GLOBAL = "global"
    SERVICE = "service"
    USER = "user"
    IP = "ip"


class RateLimitKey(NamedTuple):
    """Who a request counts against; a scope whose field is None (or has no limit configured) is skipped.
    A tuple: per-key state is looked up several times per request, and a tuple hashes and compares in C."""

    service: str | None = None
    user: str | None = None
    ip: str | None = None


@dataclass(slots=True)
class ScopeLimit:
    """One scope of one request, in the integer microseconds the Lua script works in. Treat as immutable
    (not frozen only because it is built per request on the hot path, where frozen init costs 3x)."""

    scope: Scope
    key: str
    interval_us: int  # emission interval: period / requests
    tolerance_us: int  # interval * burst: how far ahead of now the TAT may run
    limit: int  # the capacity reported in RateLimit-Limit

    @property
    def spec(self) -> str:
        """The limit as the script reads it."""
        return f"{self.interval_us} {self.tolerance_us}"

    def epsilon(self, percent: float) -> int:
        """The slack over the GCRA bound this scope may admit in any window (see limiter.py): `percent`
        of its 1-second bound (burst + rate x 1 s), at least 2 requests."""
        return max(2, int((self.limit + 1_000_000 / self.interval_us) * percent / 100))

    def lateness_us(self, percent: float) -> int:
        """How late a leased token may be used after its GCRA slot began: epsilon - 1 intervals (the
        last request of epsilon covers rounding at the window's edges)."""
        return (self.epsilon(percent) - 1) * self.interval_us


@dataclass(slots=True)
class RateLimitDecision:
    """`scope` is the denying scope, or (when allowed) the scope with the least remaining. `retry_after`
    and `reset` are seconds. `degraded` means Redis was not consulted (local fallback or fail-closed).
    `at`: a monotonic time at or before which the decision was made (its batch's send time); leases
    anchor their tokens' use deadlines there. Treat as immutable (not frozen: leases build one per
    request, and frozen init costs 3x)."""

    allowed: bool
    scope: Scope | None
    retry_after: float
    remaining: int
    reset: float
    limit: int
    degraded: bool = False
    at: float = 0.0

    def headers(self) -> dict[str, str]:
        """`RateLimit-Limit/Remaining/Reset` (IETF httpapi draft; delta seconds) and, when denied,
        `Retry-After`. Seconds are rounded up so a client that waits them is not refused again."""
        if self.limit <= 0 and self.allowed:
            return {}
        headers = {
            "RateLimit-Limit": str(self.limit),
            "RateLimit-Remaining": str(self.remaining),
            "RateLimit-Reset": str(math.ceil(self.reset)),
        }
        if not self.allowed:
            headers["Retry-After"] = str(max(1, math.ceil(self.retry_after)))
        return headers


UNLIMITED = RateLimitDecision(allowed=True, scope=None, retry_after=0.0, remaining=0, reset=0.0, limit=0)
