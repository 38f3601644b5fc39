"""W3C Server-Timing for requests that carry a signed debug token (`X-StreamGate-Debug`): how long the
request spent in rate limiting, authentication and each cache tier (L1, L2, L3, origin).

The edge sets `TIMING` for such a request only; the slow paths (an L2 or L3 lookup, an origin fetch) read
it, the L1 hit path never does. L1 is the lookup's time minus what the tiers below it took."""

from __future__ import annotations

import contextvars

TIMING: contextvars.ContextVar[ServerTiming | None] = contextvars.ContextVar(
    "streamgate_server_timing", default=None
)
ORDER = ("ratelimit", "auth", "l1", "l2", "l3", "origin")


class ServerTiming:
    __slots__ = ("seconds", "tier")

    def __init__(self) -> None:
        self.seconds: dict[str, float] = {}
        self.tier: str | None = None  # the tier that answered

    def add(self, name: str, seconds: float) -> None:
        self.seconds[name] = self.seconds.get(name, 0.0) + seconds

    def lookup(self, total: float, tier: str | None) -> None:
        """A whole cache lookup took `total`: what the tiers below L1 did not take was L1's."""
        below = sum(self.seconds.get(t, 0.0) for t in ("l2", "l3", "origin"))
        self.add("l1", max(0.0, total - below))
        self.tier = tier

    def header(self, total: float) -> bytes:
        """`ratelimit;dur=0.081, l1;dur=0.004, ..., total;dur=0.412` (milliseconds)."""
        parts = [f"{name};dur={self.seconds[name] * 1000:.3f}" for name in ORDER if name in self.seconds]
        if self.tier is not None:
            parts.append(f'tier;desc="{self.tier}"')
        parts.append(f"total;dur={total * 1000:.3f}")
        return ", ".join(parts).encode("latin-1")
