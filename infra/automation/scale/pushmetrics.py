"""Predictive scaling's own metrics, pushed after every `scale apply` (job `streamgate-scale`, grouped by
stack and region): the forecast error over the last 24 h, whether predictive scaling acts or has fallen
back to reactive scaling (StreamgatePredictiveScalingDegraded alerts on it), the floors and the run time."""

from __future__ import annotations

import asyncio
import math
import time

from prometheus_client import CollectorRegistry, Gauge

from infra.automation.adapters.pushgateway import Pushgateway
from infra.automation.scale.model import RegionReport

JOB = "streamgate-scale"
PUSH_TIMEOUT_SECONDS = 3.0
ERROR = "streamgate_scale_forecast_error_ratio"
ACTIVE = "streamgate_scale_predictive_active"

REGISTRY = CollectorRegistry(auto_describe=True)
LABELS = ["stack", "region"]
FORECAST_ERROR = Gauge(
    ERROR,
    "MAPE of the forecast made 24 h ago over the last 24 h (NaN: not measurable).",
    LABELS,
    registry=REGISTRY,
)
PREDICTIVE_ACTIVE = Gauge(
    ACTIVE,
    "1 while predictive scaling sets the floor, 0 while it has fallen back to reactive scaling.",
    LABELS,
    registry=REGISTRY,
)
FLOOR = Gauge(
    "streamgate_scale_floor_replicas", "The capacity floor after the run.", LABELS, registry=REGISTRY
)
PLANNED = Gauge(
    "streamgate_scale_planned_replicas",
    "The floor the forecast plans for now (set or not).",
    LABELS,
    registry=REGISTRY,
)
LAST_RUN = Gauge(
    "streamgate_scale_last_run_timestamp_seconds", "When scale apply last ran.", LABELS, registry=REGISTRY
)


def observe(stack: str, report: RegionReport) -> None:
    for gauge in (FORECAST_ERROR, PREDICTIVE_ACTIVE, FLOOR, PLANNED, LAST_RUN):
        gauge.clear()
    labels = (stack, report.plan.region)
    error = report.forecast.recent_mape
    FORECAST_ERROR.labels(*labels).set(error if error is not None else math.nan)
    decision = report.decision
    PREDICTIVE_ACTIVE.labels(*labels).set(1 if decision is not None and decision.predictive else 0)
    FLOOR.labels(*labels).set(decision.target if decision is not None else math.nan)
    PLANNED.labels(*labels).set(report.plan.floor_now)
    LAST_RUN.labels(*labels).set(time.time())


async def push(gateway: Pushgateway | None, stack: str, report: RegionReport) -> bool:
    """Push one region's gauges; a Pushgateway outage is logged, never fails the run."""
    if gateway is None:
        return False
    observe(stack, report)
    return await asyncio.to_thread(
        gateway.push, JOB, REGISTRY, {"stack": stack, "region": report.plan.region}, PUSH_TIMEOUT_SECONDS
    )
