"""What `streamgate scale` shows: per region a JSON document, and a PNG of the last week, the forecast with
its interval and the planned capacity (matplotlib, headless)."""

from __future__ import annotations

import math
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np

from infra.automation.scale.model import HOUR, RegionReport

PLOTTED_HISTORY_HOURS = 7 * 24


def iso(epoch: float) -> str:
    return datetime.fromtimestamp(epoch, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _num(value: float | None, digits: int = 3) -> float | None:
    return round(float(value), digits) if value is not None and math.isfinite(value) else None


def document(report: RegionReport) -> dict[str, Any]:
    f, p = report.forecast, report.plan
    doc: dict[str, Any] = {
        "region": f.region,
        "model": f.model,
        "backtest": [{"model": c.model, "mape": _num(c.mape, 4), "origins": c.origins} for c in f.candidates],
        "recent_mape": _num(f.recent_mape, 4),
        "history": {
            "hours": f.history_hours,
            "start": iso(report.history.start),
            "end": iso(report.history.end),
            "hours_without_data": int(np.count_nonzero(~np.isfinite(report.history.values))),
            "hours_repaired": f.repaired_hours,
        },
        "now": {
            "requests_per_second": _num(report.current_rps, 1),
            "cpu_cores_per_pod": _num(report.cpu_per_pod, 4),
            "cpu_us_per_request": _num(report.cpu_us_per_request, 1),
        },
        "pod_capacity": {
            "requests_per_second": _num(p.capacity.rps, 1),
            "at_cpu_target": _num(p.capacity.cpu_rps, 1),
            "hpa_requests_per_second_target": p.capacity.hpa_rps,
            "basis": p.capacity.basis,
        },
        "plan": {
            "floor_now": p.floor_now,
            "min_replicas": p.minimum,
            "max_replicas": p.maximum,
            "lead_seconds": p.lead_seconds,
        },
        "interval_coverage": f.coverage,
        "forecast": [
            {
                "hour": iso(t),
                "requests_per_second": _num(mean, 1),
                "lower": _num(low, 1),
                "upper": _num(high, 1),
                "replicas": int(replicas),
            }
            for t, mean, low, high, replicas in zip(
                f.times().tolist(), f.mean, f.lower, f.upper, p.replicas, strict=True
            )
        ],
    }
    if report.decision is not None:
        d = report.decision
        doc["decision"] = {
            "action": d.action.value,
            "current": d.current,
            "target": d.target,
            "predictive": d.predictive,
            "reason": d.reason,
            **({"after": report.extra["after"]} if "after" in report.extra else {}),
        }
    return doc


def chart(reports: list[RegionReport], path: Path, stack: str) -> Path:
    """One panel per region: a week of hourly demand, the forecast and its interval, planned capacity."""
    import matplotlib

    matplotlib.use("Agg")  # headless: no display on CI or servers
    import matplotlib.dates as mdates
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(
        len(reports), 1, figsize=(11, 3.2 * len(reports)), squeeze=False, constrained_layout=True
    )
    fig.suptitle(f"predictive scaling · {stack}")
    for ax, report in zip(axes[:, 0], reports, strict=True):
        f, p, history = report.forecast, report.plan, report.history.tail(PLOTTED_HISTORY_HOURS * HOUR)

        def dates(times: np.ndarray) -> list[datetime]:
            return [datetime.fromtimestamp(float(t), UTC) for t in times]

        ax.plot(dates(history.times()), history.values, color="tab:blue", label="requests/s (hourly)")
        when = dates(f.times())
        ax.plot(when, f.mean, color="tab:orange", label=f"forecast ({f.model})")
        ax.fill_between(
            when, f.lower, f.upper, color="tab:orange", alpha=0.25, label=f"{f.coverage:.0%} interval"
        )
        ax.step(
            when,
            p.replicas * p.capacity.rps,
            where="post",
            color="tab:green",
            label=f"planned capacity ({p.capacity.rps:.0f} req/s per pod)",
        )
        recent = f"{f.recent_mape:.1%}" if f.recent_mape is not None else "n/a"
        ax.set_title(f"{f.region}: floor now {p.floor_now} · last 24 h error {recent}", fontsize=10)
        ax.set_ylabel("requests/s")
        ax.xaxis.set_major_formatter(mdates.DateFormatter("%a %H:%M"))
        ax.legend(loc="upper left", fontsize=8)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=90)
    plt.close(fig)
    return path
