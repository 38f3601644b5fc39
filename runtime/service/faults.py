"""Fault injection for canary and failover drills: an error rate and added latency, off unless configured
(settings) or switched on for this instance through the admin endpoint. Never touches /v1/admin/ or the
operations endpoints, so a drill can always be stopped and probes keep answering."""

from __future__ import annotations

import asyncio
import random
from dataclasses import asdict, dataclass, field

from starlette.types import Scope, Send

from runtime.observability.metrics import FAULTS_INJECTED
from runtime.service.http import send_json

_ERRORS = FAULTS_INJECTED.labels("error")
_LATENCY = FAULTS_INJECTED.labels("latency")


@dataclass
class FaultConfig:
    error_rate: float = 0.0
    latency_seconds: float = 0.0
    latency_rate: float = 1.0
    rng: random.Random = field(default_factory=random.Random, repr=False, compare=False)

    @property
    def active(self) -> bool:
        return self.error_rate > 0 or (self.latency_seconds > 0 and self.latency_rate > 0)

    def as_dict(self) -> dict[str, float | bool]:
        values = {k: v for k, v in asdict(self).items() if k != "rng"}
        return {**values, "active": self.active}

    async def apply(self, scope: Scope, send: Send) -> bool:
        """Delay and/or fail this request; True when an injected error was sent (stop handling it)."""
        path: str = scope["path"]
        if not path.startswith("/v1/") or path.startswith("/v1/admin/"):
            return False
        if self.latency_seconds > 0 and self.rng.random() < self.latency_rate:
            _LATENCY.inc()
            await asyncio.sleep(self.latency_seconds)
        if self.rng.random() < self.error_rate:
            _ERRORS.inc()
            await send_json(send, 500, {"error": "injected fault"})
            return True
        return False
