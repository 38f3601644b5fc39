"""The one CloudWatch read the data stores make: a metric's latest one-minute maximum (replication lag)."""

from __future__ import annotations

import datetime as dt
from typing import Any

WINDOW = dt.timedelta(minutes=5)


def latest_maximum(client: Any, namespace: str, metric: str, dimension: tuple[str, str]) -> float | None:
    """The newest one-minute `Maximum` of `metric` in the last five minutes (None: no data point)."""
    now = dt.datetime.now(dt.UTC)
    stats = client.get_metric_statistics(
        Namespace=namespace,
        MetricName=metric,
        Dimensions=[{"Name": dimension[0], "Value": dimension[1]}],
        StartTime=now - WINDOW,
        EndTime=now,
        Period=60,
        Statistics=["Maximum"],
    )
    points = sorted(stats.get("Datapoints", []), key=lambda p: p["Timestamp"])
    return float(points[-1]["Maximum"]) if points else None
