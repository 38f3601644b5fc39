"""Domain values of a rollout: phases, check results, the persisted state and its history.

Everything here is plain data that round-trips through JSON (`to_dict` / `from_dict`), because the state is
persisted after every step and read back by another process (status, resume after a crash, report).
"""

from __future__ import annotations

import math
import time
from dataclasses import asdict, dataclass, field
from enum import StrEnum
from typing import Any, Literal

Kind = Literal["canary", "bluegreen"]


class Phase(StrEnum):
    PENDING = "pending"
    DEPLOYING = "deploying"  # bringing up the candidate color with the new version
    PROGRESSING = "progressing"
    PAUSED = "paused"
    AWAITING_PROMOTION = "awaiting-promotion"  # confirm-promotion gate closed
    WARM = "warm"  # blue-green: switched, old color kept for the rollback window
    ROLLING_BACK = "rolling-back"  # intent persisted: traffic is going back to the stable color
    SUCCEEDED = "succeeded"
    ROLLED_BACK = "rolled-back"
    ABORTED = "aborted"
    FAILED = "failed"

    @property
    def terminal(self) -> bool:
        return self in TERMINAL


TERMINAL = frozenset({Phase.SUCCEEDED, Phase.ROLLED_BACK, Phase.ABORTED, Phase.FAILED})


class Outcome(StrEnum):
    """One check's verdict. "No data" is FAIL, never PASS; INCONCLUSIVE is a marginal judge score."""

    PASS = "pass"
    FAIL = "fail"
    INCONCLUSIVE = "inconclusive"


@dataclass(frozen=True)
class CheckResult:
    name: str
    outcome: Outcome
    value: float | None  # None: no data (empty result, NaN, or the backend failed)
    min: float | None = None
    max: float | None = None
    detail: str = ""

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "outcome": self.outcome.value}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> CheckResult:
        return cls(**{**d, "outcome": Outcome(d["outcome"])})


@dataclass(frozen=True)
class Analysis:
    """All checks of one analysis tick."""

    at: float
    checks: tuple[CheckResult, ...]

    @property
    def outcome(self) -> Outcome:
        outcomes = {c.outcome for c in self.checks}
        if Outcome.FAIL in outcomes or not self.checks:
            return Outcome.FAIL
        if Outcome.INCONCLUSIVE in outcomes:
            return Outcome.INCONCLUSIVE
        return Outcome.PASS

    def value(self, name: str) -> float | None:
        return next((c.value for c in self.checks if c.name == name), None)

    def failing(self) -> list[str]:
        return [f"{c.name}: {c.detail}" for c in self.checks if c.outcome is not Outcome.PASS]


@dataclass
class Record:
    """One line of history: what the controller decided and what it saw."""

    at: float
    event: str  # start | analysis | advance | hold | promote | rollback | heal | gate | resume | ...
    weight: int  # canary (or new color) weight after the event
    step_index: int
    phase: str
    reason: str = ""
    checks: list[dict[str, Any]] = field(default_factory=list)

    def check_value(self, name: str) -> float | None:
        for c in self.checks:
            if c["name"] == name:
                value = c.get("value")
                return None if value is None else float(value)
        return None


@dataclass
class Control:
    """Operator requests, written by `rollout pause|resume|abort|promote` while a controller runs."""

    paused: bool = False
    abort: bool = False
    promote: bool = False  # open the confirm-promotion gate
    promote_full: bool = False  # skip the remaining steps
    updated_at: float = 0.0

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any] | None) -> Control:
        if not d:
            return cls()
        return cls(**{k: v for k, v in d.items() if k in cls.__dataclass_fields__})


@dataclass
class RolloutState:
    """The persisted rollout: enough to resume after a crash and to draw the report."""

    id: str
    kind: Kind
    stack: str
    region: str
    version: str
    stable_version: str
    stable_color: str
    canary_color: str
    steps: list[int]
    interval_seconds: float
    failure_threshold: int
    phase: Phase = Phase.PENDING
    step_index: int = -1  # index into steps of the current weight; -1 = not started
    weight: int = 0  # the canary weight the router must show (intent is persisted before the write)
    failed_checks: int = 0
    inconclusive_checks: int = 0
    reason: str = ""
    started_at: float = field(default_factory=time.time)
    updated_at: float = field(default_factory=time.time)
    step_started_at: float = 0.0
    switched_at: float = 0.0  # blue-green: when traffic moved to the new color
    gate_passed: bool = False
    history: list[Record] = field(default_factory=list)

    @property
    def weights(self) -> dict[str, int]:
        """The router weights this state stands for."""
        return {self.stable_color: 100 - self.weight, self.canary_color: self.weight}

    @property
    def active(self) -> bool:
        return not self.phase.terminal

    def record(self, event: str, reason: str = "", analysis: Analysis | None = None) -> Record:
        now = time.time()
        rec = Record(
            at=now,
            event=event,
            weight=self.weight,
            step_index=self.step_index,
            phase=self.phase.value,
            reason=reason,
            checks=[c.to_dict() for c in analysis.checks] if analysis else [],
        )
        self.history.append(rec)
        self.updated_at = now
        return rec

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["phase"] = self.phase.value
        d["history"] = [_finite(asdict(r)) for r in self.history]
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> RolloutState:
        d = dict(d)
        d["phase"] = Phase(d["phase"])
        d["history"] = [Record(**r) for r in d.get("history", [])]
        return cls(**{k: v for k, v in d.items() if k in cls.__dataclass_fields__})


def _finite(value: Any) -> Any:
    """JSON has no NaN/inf: store them as None ("no data")."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_finite(v) for v in value]
    return value
