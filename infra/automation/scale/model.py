"""The values predictive scaling passes around: series on a time grid, forecasts, plans, decisions, and the
capacity knob it moves (a Protocol: the HPA floor on clusters, gateway processes on the local platform)."""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any, Protocol

import numpy as np
import numpy.typing as npt

Array = npt.NDArray[np.float64]
HOUR = 3600


@dataclass(frozen=True)
class Series:
    """Values on a regular grid: value i stands for the interval [start + i·step, start + (i+1)·step), `start`
    a multiple of `step`. NaN is "no data", never zero."""

    start: int
    step: int
    values: Array

    @property
    def end(self) -> int:
        """The end of the last interval."""
        return self.start + self.step * len(self.values)

    def times(self) -> npt.NDArray[np.int64]:
        return self.start + self.step * np.arange(len(self.values), dtype=np.int64)

    @property
    def present(self) -> int:
        return int(np.count_nonzero(np.isfinite(self.values)))

    def span_seconds(self) -> int:
        """From the first interval with data to the end of the grid."""
        finite = np.flatnonzero(np.isfinite(self.values))
        return 0 if not len(finite) else self.end - (self.start + self.step * int(finite[0]))

    def hourly(self) -> Series:
        """Means over the complete hours of the grid; an hour with fewer than half of its points is NaN."""
        if self.step == HOUR:
            return self
        per = HOUR // self.step
        first = -(-self.start // HOUR) * HOUR
        offset = (first - self.start) // self.step
        usable = max(0, (len(self.values) - offset) // per)
        block = self.values[offset : offset + usable * per].reshape(usable, per)
        counts = np.isfinite(block).sum(axis=1)
        means = np.nansum(block, axis=1) / np.maximum(counts, 1)
        means[counts * 2 < per] = np.nan
        return Series(first, HOUR, means.astype(np.float64))

    def tail(self, seconds: int) -> Series:
        """The last `seconds` of the grid."""
        n = min(len(self.values), max(0, seconds // self.step))
        return Series(self.end - n * self.step, self.step, self.values[len(self.values) - n :])


@dataclass(frozen=True)
class Candidate:
    """One model's rolling-origin backtest: day-ahead MAPE over the origins all candidates share."""

    model: str
    mape: float | None
    origins: int


@dataclass(frozen=True)
class Forecast:
    """Hourly demand (req/s) from `start` (the current hour), with a prediction interval."""

    region: str
    model: str
    start: int
    mean: Array
    lower: Array
    upper: Array
    coverage: float
    candidates: tuple[Candidate, ...]
    recent_mape: float | None  # the forecast made 24 h ago against the last 24 h
    repaired_hours: int  # hours of history filled (no data) or cleaned (outliers) before fitting
    history_hours: int

    def times(self) -> npt.NDArray[np.int64]:
        return self.start + HOUR * np.arange(len(self.mean), dtype=np.int64)


@dataclass(frozen=True)
class PodCapacity:
    """Requests per second one gateway pod serves at the HPA's targets: the lower of its CPU target (from
    the benchmarked CPU per request) and its requests-per-second target."""

    rps: float
    cpu_rps: float | None
    hpa_rps: float | None

    @property
    def basis(self) -> str:
        if self.hpa_rps is not None and (self.cpu_rps is None or self.hpa_rps <= self.cpu_rps):
            return "autoscaling.requestsPerSecondPerPod"
        return "CPU target (workload.cpuRequest x autoscaling.cpuTargetUtilization / scale.cpuMicrosecondsPerRequest)"


@dataclass(frozen=True)
class Plan:
    """Replicas per forecast hour (upper bound / pod capacity, within the HPA's bounds) and the floor now:
    the most any hour needs from now until the next run's pods would be serving."""

    region: str
    start: int
    replicas: npt.NDArray[np.int64]
    floor_now: int
    minimum: int
    maximum: int
    capacity: PodCapacity
    lead_seconds: int


class Action(StrEnum):
    RAISE = "raise"
    LOWER = "lower"
    HOLD = "hold"


@dataclass(frozen=True)
class KnobState:
    """A capacity floor as read back from the live system."""

    floor: int  # HPA minReplicas, or the gateway processes of the local platform's serving color
    owned: bool  # the floor is the one predictive scaling set last (not failover's, not `pulumi up`'s)
    detail: str


@dataclass(frozen=True)
class Decision:
    region: str
    current: int
    target: int
    action: Action
    predictive: bool  # False: degraded (forecast error too high, or no usable error figure)
    reason: str


class CapacityKnob(Protocol):
    """What `scale apply` moves in one region."""

    name: str  # shown in messages: "HPA streamgate/gateway-blue (us-east-1)", "gateway processes ..."
    # True where a reactive autoscaler (the HPA) adds and removes replicas above the floor by itself; the
    # local platform has none, so its floor is the capacity and lowering it waits for the load to allow it.
    reactive: bool

    async def read(self) -> KnobState:
        """The floor now, read from the system itself."""

    async def set(self, floor: int) -> KnobState:
        """Set the floor (already within bounds); returns what the system shows afterwards."""


@dataclass
class RegionReport:
    """Everything `scale forecast` / `scale apply` know about one region, for the table, JSON and PNG."""

    forecast: Forecast
    plan: Plan
    history: Series  # hourly request rate
    cpu_per_pod: float | None  # cores, mean over the last hour
    cpu_us_per_request: float | None  # observed over the last day
    current_rps: float | None
    decision: Decision | None = None
    extra: dict[str, Any] = field(default_factory=dict)
