"""The rollout's own metrics, pushed to a Pushgateway (job `streamgate-rollout`) after every step.

A batch job's metrics live in their own registry (not the process-default one, which would push every
collector of the process); the group key is (stack, region), and each push replaces the group, so a finished
rollout's series are overwritten by the next one instead of piling up.
"""

from __future__ import annotations

import asyncio
import logging

from prometheus_client import CollectorRegistry, Gauge

from infra.automation.adapters.pushgateway import Pushgateway
from infra.automation.rollout.model import Phase, RolloutState

JOB = "streamgate-rollout"
log = logging.getLogger(__name__)

REGISTRY = CollectorRegistry(auto_describe=True)
FAILED_CHECKS = Gauge(
    "streamgate_rollout_failed_checks",
    "Consecutive failed analysis checks of the running rollout.",
    ["stack", "region", "rollout"],
    registry=REGISTRY,
)
WEIGHT = Gauge(
    "streamgate_rollout_weight",
    "Traffic weight (0-100) of the rollout's new version.",
    ["stack", "region", "rollout"],
    registry=REGISTRY,
)
PHASE = Gauge(
    "streamgate_rollout_phase",
    "1 for the rollout's current phase, 0 for the others.",
    ["stack", "region", "phase"],
    registry=REGISTRY,
)


def rollout_label(state: RolloutState) -> str:
    return f"{state.kind}-{state.version}"


def observe(state: RolloutState) -> None:
    """Set the gauges from the state (one rollout per (stack, region) at a time)."""
    for gauge in (FAILED_CHECKS, WEIGHT, PHASE):
        gauge.clear()
    label = rollout_label(state)
    FAILED_CHECKS.labels(state.stack, state.region, label).set(state.failed_checks)
    WEIGHT.labels(state.stack, state.region, label).set(state.weight)
    for phase in Phase:
        PHASE.labels(state.stack, state.region, phase.value).set(1 if phase is state.phase else 0)


async def push(gateway: Pushgateway | None, state: RolloutState, timeout_seconds: float = 3.0) -> bool:
    """Push the gauges; a Pushgateway outage is logged, never fails the rollout."""
    if gateway is None:
        return False
    observe(state)
    return await asyncio.to_thread(
        gateway.push, JOB, REGISTRY, {"stack": state.stack, "region": state.region}, timeout_seconds
    )
