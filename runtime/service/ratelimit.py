"""Rate limiting of /v1/ requests: the global, per-service, per-user and per-IP limits checked in one
micro-batched Redis round trip (runtime.security's RateLimiter). Refusals answer 429 with `Retry-After`;
every answer carries `RateLimit-Limit/Remaining/Reset` (added by the edge middleware), except the public
content responses that shared caches replay to other clients (see runtime.service.edge.FastPath)."""

from __future__ import annotations

import math
from collections.abc import Awaitable, Iterable

from starlette.types import Scope, Send

from runtime.observability.metrics import int_counters
from runtime.observability.probes import RATELIMIT_DECISION
from runtime.observability.tracing import Tracing
from runtime.security.ratelimit import RateLimitDecision, RateLimitKey
from runtime.service.auth import Authenticator
from runtime.service.http import RawHeaders, send_json
from runtime.service.leases import LeasedLimiter

# First path segment after /v1/ → the "service" scope; anything else shares `other` (bounded keys).
SERVICES = frozenset({"content", "events", "analytics", "auth", "admin"})


# Per request, not per Redis check: leases admit most requests of busy clients without a check, so
# `streamgate_ratelimit_checks_total` undercounts both sides. `scope` is the denying scope (`none` if allowed).
REQUESTS = int_counters(
    "streamgate_ratelimit_requests_total", "Requests decided by the rate limiter", ("result", "scope")
)
_ALLOWED = REQUESTS.labels("allowed", "none")


class RateLimitGate:
    def __init__(self, limiter: LeasedLimiter, auth: Authenticator, tracing: Tracing) -> None:
        self.limiter = limiter
        self.auth = auth
        self.tracing = tracing

    def key(self, scope: Scope) -> RateLimitKey:
        path: str = scope["path"]
        group = path[4:].split("/", 1)[0]
        claims = self.auth.claims(scope)
        client = scope.get("client")
        return RateLimitKey(
            service=group if group in SERVICES else "other",
            user=claims.sub if claims is not None else None,
            ip=client[0] if client else None,
        )

    def admit(self, scope: Scope) -> RateLimitDecision | Awaitable[RateLimitDecision]:
        """The decision for this request, or an awaitable of it when Redis must be asked: a hot client's
        requests are decided from its local lease without creating a coroutine."""
        key = self.key(scope)
        if self.tracing.enabled:
            return self._traced(key)
        decided = self.limiter.admit(key)
        if isinstance(decided, RateLimitDecision):
            return self._count(decided)
        return self._counted(decided)

    async def _counted(self, pending: Awaitable[RateLimitDecision]) -> RateLimitDecision:
        return self._count(await pending)

    async def _traced(self, key: RateLimitKey) -> RateLimitDecision:
        with self.tracing.tracer.start_as_current_span("ratelimit.check") as span:
            decision = await self.limiter.check(key)
            span.set_attribute("streamgate.ratelimit.allowed", decision.allowed)
            if decision.scope is not None:
                span.set_attribute("streamgate.ratelimit.scope", decision.scope.value)
            return self._count(decision)

    def probe(self, scope: Scope, decision: RateLimitDecision) -> None:
        """The `ratelimit_decision` debug probe (called only while it is armed)."""
        key = self.key(scope)
        RATELIMIT_DECISION.fire(
            service=key.service,
            user=key.user,
            ip=key.ip,
            allowed=decision.allowed,
            scope=decision.scope.value if decision.scope else None,
            remaining=decision.remaining,
        )

    @staticmethod
    def _count(decision: RateLimitDecision) -> RateLimitDecision:
        if decision.allowed:
            _ALLOWED.value += 1
        else:
            REQUESTS.labels("denied", decision.scope.value if decision.scope else "none").value += 1
        return decision

    @staticmethod
    def raw_headers(decision: RateLimitDecision) -> RawHeaders:
        """`decision.headers()` as ASGI header pairs (built directly: this runs on every request)."""
        if decision.limit <= 0 and decision.allowed:
            return []
        raw = [
            (b"ratelimit-limit", b"%d" % decision.limit),
            (b"ratelimit-remaining", b"%d" % decision.remaining),
            (b"ratelimit-reset", b"%d" % math.ceil(decision.reset)),
        ]
        if not decision.allowed:
            raw.append((b"retry-after", b"%d" % max(1, math.ceil(decision.retry_after))))
        return raw

    @staticmethod
    async def refuse(
        send: Send, decision: RateLimitDecision, extra: Iterable[tuple[bytes, bytes]] = ()
    ) -> None:
        scope = decision.scope.value if decision.scope else None
        body = {"error": "rate limit exceeded", "scope": scope}
        await send_json(send, 429, body, decision.headers(), raw_headers=extra)
