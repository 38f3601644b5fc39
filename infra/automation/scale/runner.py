"""One run of predictive scaling: read every region's history, forecast and plan each, then (apply) read
every capacity floor, decide, and only then change any. A region without usable history, an unreachable
Prometheus or an unreadable floor stops the run before anything changed."""

from __future__ import annotations

import asyncio
import math
import time
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Protocol

import numpy as np

from infra.automation.adapters.pushgateway import Pushgateway
from infra.automation.rollout.analysis import API_ROUTES, GATEWAY_JOB
from infra.automation.scale import pushmetrics
from infra.automation.scale.capacity import plan
from infra.automation.scale.decide import decide
from infra.automation.scale.forecasting import forecast_region
from infra.automation.scale.history import CPU, REQUESTS, RangeQueries, read_history
from infra.automation.scale.model import Action, CapacityKnob, Decision, RegionReport
from infra.config import StackConfig

RECENT_SECONDS = 900  # "now" is the mean of the last 15 minutes


class Metrics(RangeQueries, Protocol):
    async def query(self, promql: str, at: datetime) -> float | None: ...


class ScaleTarget(Protocol):
    """What predictive scaling needs of a target (infra/automation/targets)."""

    def metrics(self, region: str) -> Metrics: ...

    def pushgateway(self, region: str, override: str | None = None) -> Pushgateway | None: ...

    def capacity_knob(self, region: str) -> CapacityKnob: ...


def _recent(values: np.ndarray, points: int) -> float | None:
    finite = values[np.isfinite(values)][-points:]
    return float(finite.mean()) if len(finite) else None


async def _observed_cpu_per_request(metrics: Metrics, region: str, now: float) -> float | None:
    """Gateway CPU microseconds per viewer request over the last hour, as Prometheus sees it."""
    quoted = region.replace("\\", "\\\\").replace('"', '\\"')
    promql = (
        f'sum(rate({CPU}{{job="{GATEWAY_JOB}", region="{quoted}"}}[1h])) / '
        f'sum(rate({REQUESTS}{{region="{quoted}", {API_ROUTES}}}[1h]))'
    )
    value = await metrics.query(promql, datetime.fromtimestamp(now, UTC))
    return value * 1e6 if value is not None and math.isfinite(value) and value > 0 else None


async def assess(
    cfg: StackConfig, target: ScaleTarget, regions: Sequence[str], now: float | None = None
) -> list[RegionReport]:
    """History, forecast and plan of every region (HistoryError / MetricsError before anything else)."""
    now = time.time() if now is None else now
    providers = {r: target.metrics(r) for r in regions}
    histories = await asyncio.gather(*(read_history(providers[r], cfg, r, now) for r in regions))
    observed = await asyncio.gather(*(_observed_cpu_per_request(providers[r], r, now) for r in regions))
    scale = cfg.scale
    reports = []
    for history, cpu_per_request in zip(histories, observed, strict=True):
        hourly = history.requests.hourly()
        # Fitting is CPU-bound: off the event loop, one region at a time.
        forecast = await asyncio.to_thread(
            forecast_region,
            history.region,
            hourly,
            horizon_hours=scale.horizon_hours,
            backtest_days=scale.backtest_days,
            coverage=scale.interval_coverage,
        )
        points = max(1, RECENT_SECONDS // history.requests.step)
        reports.append(
            RegionReport(
                forecast=forecast,
                plan=plan(cfg, forecast, now),
                history=hourly,
                cpu_per_pod=_recent(history.cpu_per_pod.values, points),
                cpu_us_per_request=cpu_per_request,
                current_rps=_recent(history.requests.values, points),
            )
        )
    return reports


async def apply(
    cfg: StackConfig,
    target: ScaleTarget,
    reports: Sequence[RegionReport],
    *,
    dry_run: bool = False,
    pushgateway: str | None = None,
) -> list[Decision]:
    """Decide every region's floor from its plan and the floor read back now; then set the ones that
    change (not with `dry_run`), and push the forecast error and the decision (job streamgate-scale)."""
    knobs = {r.plan.region: target.capacity_knob(r.plan.region) for r in reports}
    states = await asyncio.gather(*(knobs[r.plan.region].read() for r in reports))
    decisions = []
    for report, state in zip(reports, states, strict=True):
        region, knob = report.plan.region, knobs[report.plan.region]
        needed = None
        if report.current_rps is not None:
            needed = math.ceil(report.current_rps / report.plan.capacity.rps - 1e-9)
        report.decision = decide(
            region,
            report.plan.floor_now,
            report.plan.minimum,
            report.plan.maximum,
            state,
            recent_mape=report.forecast.recent_mape,
            max_recent_mape=cfg.scale.max_recent_mape,
            reactive=knob.reactive,
            needed_now=needed,
        )
        decisions.append(report.decision)
    if not dry_run:
        for report, decision in zip(reports, decisions, strict=True):
            if decision.action is not Action.HOLD:
                report.extra["after"] = (await knobs[decision.region].set(decision.target)).detail
        for report in reports:
            region = report.plan.region
            await pushmetrics.push(
                target.pushgateway(region, pushgateway or cfg.rollout.pushgateway_url), cfg.stack, report
            )
    return decisions
