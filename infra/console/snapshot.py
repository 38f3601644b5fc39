"""Everything the console shows of a stack, read at once through its target's adapters. A part that does
not answer is shown as unavailable (its error), never hides the others."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable
from typing import TYPE_CHECKING, Any, TypeVar

from infra.automation.audit.journal import Journal
from infra.automation.failover.runner import state_key as failover_key
from infra.automation.rollout.status import read_status
from infra.errors import StreamgateError

if TYPE_CHECKING:
    from infra.automation.adapters.alertmanager import AlertmanagerAlerts
    from infra.automation.adapters.failover_ports import FailoverPorts
    from infra.automation.targets import Target

T = TypeVar("T")


class Snapshotter:
    def __init__(self, target: Target, *, history: int = 15) -> None:
        self.target, self.cfg, self.history = target, target.cfg, history
        self.store = target.state_store()
        self.regions = [r.name for r in self.cfg.regions]
        self.routers = {r: target.router(r) for r in self.regions}
        self.ports: FailoverPorts | None = None
        self.ports_error = ""
        try:
            self.ports = target.failover_ports()
        except StreamgateError as exc:  # one region: no failover, still a console
            self.ports_error = str(exc)
        sources: dict[str, AlertmanagerAlerts] = {}
        for region in self.regions:
            source = target.alerts(region)
            sources.setdefault(source.url, source)  # the local platform has one Alertmanager for all
        self.alert_sources = list(sources.values())

    def read(self) -> dict[str, Any]:
        """A snapshot (blocking: run it off the event loop)."""
        return asyncio.run(self._read())

    async def _read(self) -> dict[str, Any]:
        rollouts, regions, alerts, failover, history = await asyncio.gather(
            asyncio.gather(
                *(asyncio.to_thread(read_status, self.store, self.routers[r], r) for r in self.regions)
            ),
            self._regions(),
            self._alerts(),
            _safe(asyncio.to_thread(self.store.load, failover_key(self.cfg.stack))),
            _safe(asyncio.to_thread(Journal(self.store).entries, self.history)),
        )
        for row, rollout in zip(regions, rollouts, strict=True):
            row["rollout"] = rollout
        return {
            "stack": self.cfg.stack,
            "environment": self.cfg.environment.value,
            "at": time.time(),
            "regions": regions,
            "failover": failover["value"],
            "alerts": alerts,
            "history": [e.to_dict() for e in history["value"]] if history["value"] is not None else [],
            "errors": [e for e in (history["error"], failover["error"], self.ports_error) if e],
        }

    async def _regions(self) -> list[dict[str, Any]]:
        rows: list[dict[str, Any]] = [{"name": r, "primary": r == self.regions[0]} for r in self.regions]
        if self.ports is None:
            return rows
        health, traffic, replication = await asyncio.gather(
            _safe(self.ports.health.health(self.regions)),
            _safe(self.ports.traffic[0].get_weights()),
            _safe(self.ports.datastore.replication()),
        )
        primary = replication["value"].primary if replication["value"] is not None else None
        for row in rows:
            name = row["name"]
            if primary is not None:
                row["primary"] = name == primary
            h = (health["value"] or {}).get(name)
            row["health"] = (
                {"healthy": h.healthy, "detail": h.detail}
                if h is not None
                else {"healthy": None, "detail": health["error"] or "unknown"}
            )
            row["traffic"] = (traffic["value"] or {}).get(name) if traffic["value"] is not None else None
            row["traffic_error"] = traffic["error"]
        return rows

    async def _alerts(self) -> dict[str, Any]:
        found = await asyncio.gather(*(_safe(s.firing()) for s in self.alert_sources))
        alerts = {a.fingerprint or f"{a.name}/{a.region}": a for f in found for a in f["value"] or []}
        return {
            "firing": [a.__dict__ for a in alerts.values()],
            "errors": [f["error"] for f in found if f["error"]],
        }


async def _safe(work: Awaitable[T]) -> dict[str, Any]:
    """{"value": the result, "error": None}, or {"value": None, "error": what went wrong}."""
    try:
        return {"value": await work, "error": None}
    except Exception as exc:
        return {"value": None, "error": f"{type(exc).__name__}: {exc}"}
