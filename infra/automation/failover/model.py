"""Domain values of a regional failover: what was observed, the plan, and the persisted run record.

Observations and plans are immutable; the run record round-trips through JSON (`to_dict` / `from_dict`)
because it is saved after every step and read back by the next attempt (resume after a crash) or `status`.
"""

from __future__ import annotations

import time
import uuid
from dataclasses import asdict, dataclass, field
from enum import StrEnum
from typing import Any, Literal

from infra.automation.adapters.failover_ports import Capacity, NodeStatus, RegionHealth, Replication

Mode = Literal["planned", "unplanned"]


class StepId(StrEnum):
    """Every action a failover can take, in no particular order (the plan orders them)."""

    RAISE_CAPACITY = "raise-capacity"  # the target's capacity floor up before it takes the traffic
    FENCE = "fence-writes"  # pause writes on the old primary (bounded by the fence timeout)
    CATCH_UP = "catch-up"  # wait until the target's replica offset equals the primary's
    PROMOTE = "promote"  # make the target's data store the primary
    REPOINT = "repoint"  # other members replicate from the target; the write endpoint follows it
    UNFENCE = "unfence"  # lift the pause on the old primary (now a replica)
    SHIFT_TRAFFIC = "shift-traffic"  # the routers send the target all traffic; others stand by
    VERIFY = "verify"  # a smoke request through the edge is answered by the target region


# Steps that change nothing a later observation could show: always redone on resume.
UNOBSERVABLE = frozenset({StepId.FENCE, StepId.CATCH_UP, StepId.VERIFY})
# Steps that disturb service: the measured RTO starts with the first of them.
DISRUPTIVE = frozenset({StepId.FENCE, StepId.PROMOTE, StepId.REPOINT, StepId.SHIFT_TRAFFIC})


@dataclass(frozen=True)
class Observation:
    """Everything the planner looks at, read from the live system just before planning."""

    stack: str
    regions: tuple[str, ...]  # stack order: the first is the configured primary
    replication: Replication
    health: dict[str, RegionHealth]
    weights: dict[str, int]  # traffic weight per region as the routers apply it now
    capacity: dict[str, Capacity]
    at: float = field(default_factory=time.time)

    def healthy(self, region: str) -> bool:
        status = self.health.get(region)
        return bool(status and status.healthy)


@dataclass(frozen=True)
class Check:
    name: str
    ok: bool
    detail: str
    blocking: bool = True  # a failed blocking check makes the plan unsafe; others are warnings


@dataclass(frozen=True)
class Action:
    id: StepId
    title: str
    region: str | None = None


@dataclass(frozen=True)
class FailoverPlan:
    stack: str
    mode: Mode
    source: str | None  # the current primary (None: no reachable primary)
    target: str
    checks: tuple[Check, ...]
    actions: tuple[Action, ...]
    expected_loss: str  # in words: what data this plan may lose
    expected_loss_bytes: int | None  # planned: 0; unplanned: the last known lag (None: unknown)
    weights_before: dict[str, int]
    weights_after: dict[str, int]
    capacity_floor: int

    @property
    def safe(self) -> bool:
        return all(c.ok for c in self.checks if c.blocking)

    @property
    def noop(self) -> bool:
        return not self.actions

    @property
    def blockers(self) -> list[Check]:
        return [c for c in self.checks if c.blocking and not c.ok]

    def to_dict(self) -> dict[str, Any]:
        return {
            "stack": self.stack,
            "mode": self.mode,
            "source": self.source,
            "target": self.target,
            "safe": self.safe,
            "noop": self.noop,
            "checks": [asdict(c) for c in self.checks],
            "actions": [{"id": a.id.value, "title": a.title, "region": a.region} for a in self.actions],
            "expected_loss": self.expected_loss,
            "expected_loss_bytes": self.expected_loss_bytes,
            "weights_before": self.weights_before,
            "weights_after": self.weights_after,
            "capacity_floor": self.capacity_floor,
        }


@dataclass
class StepRecord:
    id: str
    status: Literal["done", "skipped", "failed"]
    started_at: float
    finished_at: float
    detail: str = ""

    @property
    def seconds(self) -> float:
        return self.finished_at - self.started_at


@dataclass
class FailoverRecord:
    """One failover run (and its resumed attempts), persisted under `failover/<stack>`."""

    id: str
    stack: str
    mode: Mode
    source: str | None
    target: str
    started_at: float
    attempts: int = 1
    steps: list[StepRecord] = field(default_factory=list)
    disrupted_at: float | None = None  # first disruptive step (RTO starts here)
    finished_at: float | None = None
    outcome: Literal["running", "succeeded", "failed"] = "running"
    error: str | None = None
    measured: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def new(cls, stack: str, mode: Mode, source: str | None, target: str) -> FailoverRecord:
        return cls(
            id=f"fo-{time.strftime('%Y%m%dT%H%M%SZ', time.gmtime())}-{uuid.uuid4().hex[:6]}",
            stack=stack,
            mode=mode,
            source=source,
            target=target,
            started_at=time.time(),
        )

    def done(self, step: StepId) -> bool:
        return any(s.id == step.value and s.status == "done" for s in self.steps)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, doc: dict[str, Any]) -> FailoverRecord:
        steps = [StepRecord(**s) for s in doc.get("steps", [])]
        return cls(**{**doc, "steps": steps})


__all__ = ["Capacity", "NodeStatus", "RegionHealth", "Replication"]  # the ports' values, used here too
