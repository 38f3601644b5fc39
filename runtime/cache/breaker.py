"""A small circuit breaker: after N consecutive failures stop calling for a while, then let one trial
through (half-open) and close again on its success. Keeps a dead Redis from adding a timeout to every
request and from being hammered while it restarts."""

from __future__ import annotations

import time
from collections.abc import Callable
from enum import StrEnum


class BreakerState(StrEnum):
    CLOSED = "closed"
    OPEN = "open"
    HALF_OPEN = "half_open"


class CircuitBreaker:
    def __init__(
        self,
        *,
        failure_threshold: int,
        reset_seconds: float,
        on_change: Callable[[BreakerState], None] | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.failure_threshold = failure_threshold
        self.reset_seconds = reset_seconds
        self.state = BreakerState.CLOSED
        self._failures = 0
        self._opened_at = 0.0
        self._trial_at = 0.0
        self._on_change = on_change
        self._clock = clock

    def _set(self, state: BreakerState) -> None:
        if state is not self.state:
            self.state = state
            if self._on_change is not None:
                self._on_change(state)

    def allow(self) -> bool:
        """May a call go through now? In half-open state only one trial at a time is let through."""
        if self.state is BreakerState.CLOSED:
            return True
        now = self._clock()
        if self.state is BreakerState.OPEN:
            if now - self._opened_at < self.reset_seconds:
                return False
            self._set(BreakerState.HALF_OPEN)
            self._trial_at = now
            return True
        # half-open: a trial is out; allow another only if that one never reported back
        if now - self._trial_at >= self.reset_seconds:
            self._trial_at = now
            return True
        return False

    def success(self) -> None:
        self._failures = 0
        if self.state is not BreakerState.CLOSED:
            self._set(BreakerState.CLOSED)

    def failure(self) -> None:
        self._failures += 1
        if self.state is BreakerState.HALF_OPEN or self._failures >= self.failure_threshold:
            self._opened_at = self._clock()
            self._set(BreakerState.OPEN)
