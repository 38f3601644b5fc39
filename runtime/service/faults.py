"""Fault injection for canary, failover and profiling drills: an error rate, added latency and CPU burnt per
request (a hot spot the continuous profiler must find), off unless configured
(settings) or switched on for this instance through the admin endpoint. Never touches /v1/admin/ or the
operations endpoints, so a drill can always be stopped and probes keep answering."""

from __future__ import annotations

import asyncio
import random
import time
from dataclasses import asdict, dataclass, field

from starlette.types import Scope, Send

from runtime.observability.metrics import FAULTS_INJECTED
from runtime.service.http import send_json

_ERRORS = FAULTS_INJECTED.labels("error")
_LATENCY = FAULTS_INJECTED.labels("latency")
_CPU = FAULTS_INJECTED.labels("cpu")


@dataclass
class FaultConfig:
    error_rate: float = 0.0
    latency_seconds: float = 0.0
    latency_rate: float = 1.0
    cpu_seconds: float = 0.0
    rng: random.Random = field(default_factory=random.Random, repr=False, compare=False)

    @property
    def active(self) -> bool:
        latency = self.latency_seconds > 0 and self.latency_rate > 0
        return self.error_rate > 0 or latency or self.cpu_seconds > 0

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
        if self.cpu_seconds > 0:
            _CPU.inc()
            burn_cpu(self.cpu_seconds)
        if self.rng.random() < self.error_rate:
            _ERRORS.inc()
            await send_json(send, 500, {"error": "injected fault"})
            return True
        return False


def burn_cpu(seconds: float) -> None:
    """Spin on this thread for `seconds` of CPU time: the planted hot spot (a profile names this function)."""
    end = time.thread_time() + seconds
    while time.thread_time() < end:
        pass
