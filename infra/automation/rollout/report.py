"""Post-mortem report of a rollout from its persisted history: a table of steps and a PNG chart of weight,
success rate and p99 latency over time (matplotlib, headless)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from infra.automation.rollout.model import RolloutState


@dataclass(frozen=True)
class Series:
    seconds: list[float]  # since the rollout started
    weight: list[int]
    success_rate: list[float | None]
    p99_seconds: list[float | None]
    events: list[str]


def series(state: RolloutState) -> Series:
    t0 = state.started_at
    history = state.history
    return Series(
        seconds=[r.at - t0 for r in history],
        weight=[r.weight for r in history],
        success_rate=[r.check_value("success-rate") for r in history],
        p99_seconds=[r.check_value("latency-p99") for r in history],
        events=[r.event for r in history],
    )


def summary(state: RolloutState) -> dict[str, Any]:
    s = series(state)
    analyses = [r for r in state.history if r.checks]
    return {
        "id": state.id,
        "kind": state.kind,
        "stack": state.stack,
        "region": state.region,
        "version": state.version,
        "stable_version": state.stable_version,
        "phase": state.phase.value,
        "reason": state.reason,
        "weight": state.weight,
        "duration_seconds": round(state.updated_at - state.started_at, 3),
        "analyses": len(analyses),
        "max_weight": max(s.weight, default=0),
        "min_success_rate": min((v for v in s.success_rate if v is not None), default=None),
        "max_p99_seconds": max((v for v in s.p99_seconds if v is not None), default=None),
        "events": [
            {"t": round(t, 3), "event": e, "weight": w}
            for t, e, w in zip(s.seconds, s.events, s.weight, strict=True)
        ],
    }


def chart(state: RolloutState, path: Path) -> Path:
    """Three stacked panels sharing the time axis; rollbacks marked with a red line."""
    import matplotlib

    matplotlib.use("Agg")  # headless: no display on CI or servers
    import matplotlib.pyplot as plt

    s = series(state)
    fig, (ax_w, ax_s, ax_p) = plt.subplots(3, 1, sharex=True, figsize=(9, 7), constrained_layout=True)
    fig.suptitle(
        f"{state.kind} {state.stable_version} → {state.version} · {state.stack}/{state.region} · "
        f"{state.phase.value}"
    )
    ax_w.step(s.seconds, s.weight, where="post", color="tab:blue")
    ax_w.set_ylabel("new version weight %")
    ax_w.set_ylim(-5, 105)

    def points(values: list[float | None]) -> tuple[list[float], list[float]]:
        pairs = [(t, v) for t, v in zip(s.seconds, values, strict=True) if v is not None]
        return [t for t, _ in pairs], [v for _, v in pairs]

    ts, vs = points(s.success_rate)
    ax_s.plot(ts, vs, marker="o", color="tab:green")
    ax_s.set_ylabel("success rate")
    tp, vp = points(s.p99_seconds)
    ax_p.plot(tp, vp, marker="o", color="tab:orange")
    ax_p.set_ylabel("p99 latency (s)")
    ax_p.set_xlabel("seconds since start")
    limits = {c["name"]: c for r in state.history for c in r.checks}  # the latest range of each check
    if (low := limits.get("success-rate", {}).get("min")) is not None:
        ax_s.axhline(low, color="grey", linestyle="--", linewidth=0.8)
    if (high := limits.get("latency-p99", {}).get("max")) is not None:
        ax_p.axhline(high, color="grey", linestyle="--", linewidth=0.8)
    for record in state.history:
        if record.event == "rollback":
            for ax in (ax_w, ax_s, ax_p):
                ax.axvline(record.at - state.started_at, color="red", linewidth=1)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path
