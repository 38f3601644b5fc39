"""A region's history from Prometheus: viewer requests per second and CPU per gateway pod, on a grid aligned
to the step, so every run (and every backtest origin) sees the same points.

`rate()` over exactly one step per point: each request is counted once, and a counter reset (a restarted
pod) is Prometheus' to handle, as it does. Steps where nothing was scraped come back absent and stay NaN
("no data", never zero); `forecasting` fills them for fitting and leaves them out of every error figure.
"""

from __future__ import annotations

import asyncio
import math
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Protocol

import numpy as np

from infra.automation.rollout.analysis import API_ROUTES, GATEWAY_JOB
from infra.automation.scale.errors import HistoryError
from infra.automation.scale.model import Series
from infra.config import StackConfig, scrape_interval_seconds

REQUESTS = "streamgate_http_requests_total"
CPU = "process_cpu_seconds_total"
DAY = 86400


class RangeQueries(Protocol):
    """The part of the metrics provider history needs (infra/automation/adapters/prometheus.py)."""

    async def query_range_points(
        self, promql: str, start: datetime, end: datetime, step_seconds: float
    ) -> list[tuple[float, float]]: ...


def _quote(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', '\\"')


def requests_query(region: str, window_seconds: int) -> str:
    """Viewer requests per second in `region`, every color and version (scrapes and probes excluded)."""
    return f'sum(rate({REQUESTS}{{region="{_quote(region)}", {API_ROUTES}}}[{window_seconds}s]))'


def cpu_query(region: str, window_seconds: int) -> str:
    """CPU cores per gateway pod (process) in `region`, averaged over the pods."""
    return f'avg(rate({CPU}{{job="{GATEWAY_JOB}", region="{_quote(region)}"}}[{window_seconds}s]))'


@dataclass(frozen=True)
class Window:
    """The grid of one read: [start, end] in multiples of `step` (Prometheus evaluates at start + k·step)."""

    start: int
    end: int
    step: int
    rate_window: int

    @classmethod
    def ending(cls, cfg: StackConfig, now: float) -> Window:
        scale = cfg.scale
        step = scale.step_seconds
        end = int(now // step) * step
        # One step per point, and at least 4 scrapes so a point never rests on a single sample.
        return cls(end - scale.history_days * DAY, end, step, max(step, 4 * scrape_interval_seconds(cfg)))

    def grid(self, points: list[tuple[float, float]]) -> Series:
        """The points on the grid: a point at t is the rate over (t - step, t], so it fills the interval
        that ends at t."""
        values = np.full((self.end - self.start) // self.step, np.nan)
        for t, v in points:
            i = round((t - self.start) / self.step) - 1
            if 0 <= i < len(values) and math.isfinite(v):
                values[i] = v
        return Series(self.start, self.step, values)


@dataclass(frozen=True)
class RegionHistory:
    region: str
    requests: Series  # req/s at the step
    cpu_per_pod: Series  # cores per pod at the step

    @property
    def days(self) -> float:
        return self.requests.span_seconds() / DAY


async def read_history(metrics: RangeQueries, cfg: StackConfig, region: str, now: float) -> RegionHistory:
    """The region's history up to `now`; HistoryError when it has none or less than scale.minHistoryDays."""
    window = Window.ending(cfg, now)
    start, end = (datetime.fromtimestamp(t, UTC) for t in (window.start + window.step, window.end))
    requests, cpu = await asyncio.gather(
        metrics.query_range_points(requests_query(region, window.rate_window), start, end, window.step),
        metrics.query_range_points(cpu_query(region, window.rate_window), start, end, window.step),
    )
    history = RegionHistory(region, window.grid(requests), window.grid(cpu))
    check_history(cfg, history)
    return history


def check_history(cfg: StackConfig, history: RegionHistory) -> None:
    need = cfg.scale.min_history_days
    if history.requests.present == 0:
        raise HistoryError(
            f"{history.region}: no request history in Prometheus over the last {cfg.scale.history_days} days "
            f"({REQUESTS} with region={history.region!r}): nothing to forecast; is the region serving and "
            "scraped?"
        )
    if history.days < need:
        raise HistoryError(
            f"{history.region}: {history.days:.1f} days of request history, scale.minHistoryDays needs "
            f"{need}: predictive scaling starts once the region has served that long (the HPA scales it meanwhile)"
        )
