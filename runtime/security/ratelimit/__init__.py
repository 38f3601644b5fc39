"""Distributed multi-scope rate limiting (GCRA in one Lua call per batch of requests)."""

from runtime.security.ratelimit.decision import RateLimitDecision, RateLimitKey, Scope, ScopeLimit
from runtime.security.ratelimit.limiter import RateLimiter
from runtime.security.ratelimit.local import LocalGcra

__all__ = ["LocalGcra", "RateLimitDecision", "RateLimitKey", "RateLimiter", "Scope", "ScopeLimit"]
