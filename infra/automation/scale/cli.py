"""`streamgate scale …`: forecast demand per region from Prometheus and raise capacity floors ahead of it.

Exit codes: 0 ok (also when predictive scaling fell back to reactive: an alert reports that), 1 failed
(Prometheus or a floor unreachable), 2 bad input or config (no history, too little history).
"""

from __future__ import annotations

import asyncio
import math
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from infra.automation.errors import InvalidInputError
from infra.clikit import (
    JsonOpt,
    OutputsOpt,
    StackOpt,
    command_group,
    console,
    emit_json,
    err_console,
    reported,
)

# The stack model, numpy and rich's tables load when a command runs: `--help` and completion stay fast.
if TYPE_CHECKING:
    from infra.automation.scale.model import RegionReport
    from infra.automation.scale.runner import ScaleTarget
    from infra.config import StackConfig

app = command_group(
    "scale",
    "Predictive scaling: forecast each region's demand and raise the gateway's capacity floor ahead of it.",
)

RegionOpt = Annotated[
    list[str] | None, typer.Option("--region", "-r", help="Region(s) to act on (default: every region).")
]
InClusterOpt = Annotated[
    bool,
    typer.Option(
        "--in-cluster",
        help="Run inside one region's cluster (the CronJob): its service account reaches the API server, "
        "Prometheus and the HPA; needs --region and --hpa. No --outputs.",
    ),
]
HpaOpt = Annotated[
    str | None,
    typer.Option("--hpa", metavar="NAMESPACE/NAME", help="With --in-cluster: the gateway HPA to raise."),
]
HoursOpt = Annotated[
    int, typer.Option("--hours", min=1, help="Forecast hours shown per region in the table.")
]


def _setup(
    stack: str, outputs: str | None, regions: list[str] | None, in_cluster: bool, hpa: str | None
) -> tuple[StackConfig, ScaleTarget, list[str]]:
    from infra.config import load_stack

    cfg = load_stack(stack)
    known = [r.name for r in cfg.regions]
    unknown = [r for r in regions or [] if r not in known]
    if unknown:
        raise InvalidInputError(f"--region {', '.join(unknown)}: stack {stack} has {', '.join(known)}")
    chosen = list(dict.fromkeys(regions)) if regions else known
    if in_cluster:
        if cfg.target != "aws":
            raise InvalidInputError("--in-cluster: the local platform has no cluster; drop the option")
        if len(chosen) != 1 or hpa is None:
            raise InvalidInputError(
                "--in-cluster acts on the cluster it runs in: give one --region and --hpa"
            )
        from infra.automation.targets.incluster import InClusterTarget

        return cfg, InClusterTarget(cfg, chosen[0], hpa), chosen
    if hpa is not None:
        raise InvalidInputError("--hpa goes with --in-cluster (otherwise the HPA comes from the outputs)")
    from infra.automation.targets import for_stack

    target: Any = for_stack(cfg, outputs)
    return cfg, target, chosen


def _assess(
    stack: str, outputs: str | None, regions: list[str] | None, in_cluster: bool, hpa: str | None
) -> tuple[StackConfig, ScaleTarget, list[RegionReport]]:
    from infra.automation.scale.runner import assess

    cfg, target, chosen = _setup(stack, outputs, regions, in_cluster, hpa)
    with err_console.status(f"reading history and forecasting {', '.join(chosen)}…", spinner="dots"):
        reports = asyncio.run(assess(cfg, target, chosen))
    return cfg, target, reports


def _pct(value: float | None) -> str:
    return f"{value:.1%}" if value is not None and math.isfinite(value) else "n/a"


def _num(value: float | None, fmt: str = ".0f") -> str:
    return format(value, fmt) if value is not None and math.isfinite(value) else "n/a"


def _print(reports: list[RegionReport], hours: int) -> None:
    from rich.table import Table

    from infra.automation.scale.report import iso

    summary = Table(title="predictive scaling (backtest: day-ahead MAPE)")
    for column in ("region", "model", "backtest", "naive", "last 24 h", "req/s now", "per pod", "floor now"):
        summary.add_column(column, overflow="fold")
    for r in reports:
        f, p = r.forecast, r.plan
        scores = {c.model: c.mape for c in f.candidates}
        summary.add_row(
            f.region,
            f.model,
            _pct(scores.get(f.model)),
            _pct(scores.get("seasonal-naive")),
            _pct(f.recent_mape),
            _num(r.current_rps),
            f"{p.capacity.rps:.0f}",
            f"{p.floor_now} ({p.minimum}..{p.maximum})",
        )
    console.print(summary)
    for r in reports:
        f, p = r.forecast, r.plan
        title = (
            f"{f.region}: next {min(hours, len(f.mean))} hours, {f.coverage:.0%} interval "
            f"({f.history_hours / 24:.1f} days of history, {f.repaired_hours} hours repaired)"
        )
        table = Table(title=title)
        for column in ("hour (UTC)", "req/s", "interval", "replicas"):
            table.add_column(column)
        for t, mean, low, high, replicas in list(
            zip(f.times().tolist(), f.mean, f.lower, f.upper, p.replicas, strict=True)
        )[:hours]:
            table.add_row(
                iso(t)[:16].replace("T", " "), f"{mean:.0f}", f"{low:.0f} .. {high:.0f}", str(replicas)
            )
        console.print(table)


@app.command()
def forecast(
    stack: StackOpt,
    region: RegionOpt = None,
    png: Annotated[
        Path | None, typer.Option("--png", help="Also draw history, forecast and plan here.")
    ] = None,
    hours: HoursOpt = 12,
    as_json: JsonOpt = False,
    outputs: OutputsOpt = None,
    in_cluster: InClusterOpt = False,
    hpa: HpaOpt = None,
) -> None:
    """Forecast each region's requests per second 48 h ahead (hourly, with a prediction interval) from its
    Prometheus history, the model picked per region by rolling-origin backtest, and the floors planned
    from it. Changes nothing.

    Example: streamgate scale forecast --stack prod --region us-east-1 --outputs outputs.json --png f.png"""
    from infra.automation.scale.report import chart, document

    with reported():
        cfg, _, reports = _assess(stack, outputs, region, in_cluster, hpa)
    if png is not None:
        chart(reports, png, cfg.stack)
        err_console.print(f"wrote {png}", highlight=False)
    if as_json:
        emit_json([document(r) for r in reports])
        return
    _print(reports, hours)


@app.command()
def apply(
    stack: StackOpt,
    region: RegionOpt = None,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Decide and show; change nothing.")] = False,
    pushgateway: Annotated[
        str | None, typer.Option("--pushgateway", help="Push the run's metrics here instead.")
    ] = None,
    as_json: JsonOpt = False,
    outputs: OutputsOpt = None,
    in_cluster: InClusterOpt = False,
    hpa: HpaOpt = None,
) -> None:
    """Set each region's capacity floor (the live color's HPA minReplicas; locally its gateway processes) to
    what the forecast needs from now until the next run's pods can serve, never below
    autoscaling.minReplicas; lower it again when the forecast falls, leaving scale-in to the HPA. When the
    last 24 h forecast error exceeds scale.maxRecentMape the floor goes back to the minimum (reactive
    scaling) and streamgate_scale_predictive_active reports 0.

    Example: streamgate scale apply --stack local --dry-run"""
    from infra.automation.scale.model import Action
    from infra.automation.scale.report import document
    from infra.automation.scale.runner import apply as run_apply

    with reported():
        cfg, target, reports = _assess(stack, outputs, region, in_cluster, hpa)
        decisions = asyncio.run(run_apply(cfg, target, reports, dry_run=dry_run, pushgateway=pushgateway))
    if as_json:
        emit_json([{**document(r), "dry_run": dry_run} for r in reports])
        return
    for d in decisions:
        verb = {Action.RAISE: "raise", Action.LOWER: "lower", Action.HOLD: "hold"}[d.action]
        change = f"{d.current} → {d.target}" if d.action is not Action.HOLD else f"{d.current}"
        mode = "" if d.predictive else " [yellow](reactive only)[/yellow]"
        prefix = "would " if dry_run and d.action is not Action.HOLD else ""
        console.print(f"{d.region}: {prefix}{verb} floor {change}{mode}: {d.reason}", highlight=False)


@app.command()
def replay(
    stack: StackOpt,
    peak_in_hours: Annotated[
        float, typer.Option("--peak-in-hours", help="When today's peak comes (negative: it has passed).")
    ] = 2.5,
    peak_pods: Annotated[
        float, typer.Option("--peak-pods", min=0.1, help="Pods the first region's peak needs.")
    ] = 1.8,
    days: Annotated[int, typer.Option("--days", min=7, max=35, help="Days of history.")] = 28,
    as_json: JsonOpt = False,
) -> None:
    """Local platform only: replace its synthetic request history with weeks of fresh synthetic traffic
    (daily and weekly seasonality, trend, noise) ending now, so `scale forecast` and `scale apply` can
    be tried end to end. Real series are left untouched.

    Example: streamgate scale replay --stack local --peak-in-hours 2"""
    from infra.automation.scale.report import iso
    from infra.config import load_stack

    with reported():
        cfg = load_stack(stack)
        if cfg.target != "local":
            raise InvalidInputError(
                f"stack {stack} is a cloud stack: its history is real; replay is for the local platform"
            )
        if days < cfg.scale.min_history_days:
            raise InvalidInputError(
                f"--days {days}: scale.minHistoryDays is {cfg.scale.min_history_days}; replay at least that"
            )
        from infra.automation.scale.replay import replay as run_replay
        from infra.local.platform import LocalPlatform

        with err_console.status("writing synthetic history and loading it into Prometheus…", spinner="dots"):
            result = run_replay(
                LocalPlatform(cfg), peak_in_hours=peak_in_hours, peak_pods=peak_pods, days=days
            )
    if as_json:
        emit_json(result.to_json())
        return
    console.print(
        f"replayed {days} days of synthetic traffic ending {iso(result.end)}; today's peak at "
        f"{result.peak_hour:05.2f} h UTC ({', '.join(f'{r} {v:.0f} req/s' for r, v in result.peak_rps.items())}); "
        f"{len(result.blocks)} blocks in {result.seconds:.1f}s",
        highlight=False,
    )
