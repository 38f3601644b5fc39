"""The failover runner of a stack, on its target's data store, routers, health, capacity and smoke check."""

from __future__ import annotations

from infra.automation.failover.runner import FailoverRunner, Progress
from infra.automation.targets import Target


def runner(target: Target, *, progress: Progress | None = None) -> FailoverRunner:
    cfg = target.cfg
    return FailoverRunner(
        cfg.stack,
        [r.name for r in cfg.regions],
        cfg.failover,
        target.failover_ports(),
        target.state_store(),
        progress=progress,
    )
