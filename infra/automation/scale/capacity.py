"""Demand → replicas: the upper prediction bound over what one pod serves at the HPA's targets, within the
HPA's bounds; and the floor to hold now, so pods are serving before the demand they are for arrives."""

from __future__ import annotations

import numpy as np

from infra.automation.scale.model import HOUR, Forecast, Plan, PodCapacity
from infra.config import StackConfig, quantity_value


def pod_capacity(cfg: StackConfig) -> PodCapacity:
    """Requests per second per pod at the HPA's targets (see `PodCapacity`). The HPA adds a pod when either
    target is exceeded, so the lower figure is the one it scales on."""
    scaling = cfg.autoscaling
    cpu_rps = None
    if scaling.cpu_target_utilization is not None:
        cores = quantity_value(cfg.workload.cpu_request) * scaling.cpu_target_utilization / 100
        cpu_rps = cores / (cfg.scale.cpu_microseconds_per_request * 1e-6)
    hpa_rps = float(scaling.requests_per_second_per_pod) if scaling.requests_per_second_per_pod else None
    rps = min(v for v in (cpu_rps, hpa_rps) if v is not None)  # the model requires at least one target
    return PodCapacity(rps, cpu_rps, hpa_rps)


def replicas_for(demand: np.ndarray, capacity: float, minimum: int, maximum: int) -> np.ndarray:
    """Pods needed for each demand figure (req/s), within [minimum, maximum]."""
    needed = np.ceil(np.nan_to_num(demand, nan=0.0) / capacity - 1e-9).astype(np.int64)
    return np.clip(needed, minimum, maximum)


def lead_seconds(cfg: StackConfig) -> int:
    """How far ahead the floor looks: a pod asked for now serves after its start-up time, and this floor
    holds until the next run, whose pods serve a start-up time after it."""
    return cfg.scale.pod_startup_seconds + cfg.scale.schedule_minutes * 60


def plan(cfg: StackConfig, forecast: Forecast, now: float) -> Plan:
    capacity = pod_capacity(cfg)
    scaling = cfg.autoscaling
    replicas = replicas_for(forecast.upper, capacity.rps, scaling.min_replicas, scaling.max_replicas)
    lead = lead_seconds(cfg)
    times = forecast.times()
    # Every hour that overlaps [now, now + lead] (an hour [t, t + 1h) overlaps when t < now + lead and
    # t + 1h > now).
    ahead = (times < now + lead) & (times + HOUR > now)
    floor = int(replicas[ahead].max()) if ahead.any() else scaling.min_replicas
    return Plan(
        region=forecast.region,
        start=forecast.start,
        replicas=replicas,
        floor_now=floor,
        minimum=scaling.min_replicas,
        maximum=scaling.max_replicas,
        capacity=capacity,
        lead_seconds=lead,
    )
