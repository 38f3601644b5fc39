"""`streamgate rollout …`: canary and blue-green rollouts gated on Prometheus, and their controls.

Exit codes: 0 promoted (or nothing to do), 1 failed, 2 bad input or config, 3 rolled back or aborted.
"""

from __future__ import annotations

import asyncio
import itertools
import re
import sys
import time
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.table import Table

from infra.automation.adapters.pushgateway import Pushgateway
from infra.automation.errors import AutomationError, InvalidInputError
from infra.automation.rollout import report, wiring
from infra.automation.rollout.analysis import checks_from
from infra.automation.rollout.controller import (
    Controller,
    RolloutSpec,
    control_key,
    outcome_exit_code,
    state_key,
)
from infra.automation.rollout.judge import JudgeSettings
from infra.automation.rollout.model import Control, Kind, Outcome, Record, RolloutState
from infra.automation.targets import Target, for_stack
from infra.clikit import (
    DryRunOpt,
    JsonOpt,
    OutputsOpt,
    StackOpt,
    YesOpt,
    command_group,
    console,
    emit_json,
    err_console,
    fail,
    reported,
)
from infra.config import StackConfig, load_stack, scrape_interval_seconds
from infra.errors import StreamgateError

app = command_group(
    "rollout",
    "Canary and blue-green rollouts gated on Prometheus, with automatic rollback and resumable state.",
)

VersionOpt = Annotated[str, typer.Option("--version", help="Version (image tag) to roll out.")]
RegionOpt = Annotated[
    str | None, typer.Option("--region", "-r", help="Region to roll out in (default: the primary).")
]
IntervalOpt = Annotated[
    float | None,
    typer.Option("--interval", min=0.2, help="Seconds between analyses (default: stack config)."),
]
ThresholdOpt = Annotated[
    int | None, typer.Option("--threshold", min=1, help="Consecutive failed analyses that roll back.")
]
ManualOpt = Annotated[
    bool | None,
    typer.Option(
        "--manual-promotion/--auto-promotion",
        help="Wait for `streamgate rollout promote` before the last step (default: stack config).",
    ),
]
TAG = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.-]{0,62}")


def parse_steps(
    steps: str | None, step_weight: int | None, max_weight: int | None, default: list[int]
) -> list[int]:
    """`--steps 5,10,100`, or Flagger's `--step-weight W --max-weight M` (W, 2W, … ≤ M, then 100)."""
    if steps is not None and (step_weight is not None or max_weight is not None):
        raise InvalidInputError("give either --steps or --step-weight/--max-weight, not both")
    if steps is not None:
        try:
            values = [int(s) for s in steps.split(",") if s.strip()]
        except ValueError:
            raise InvalidInputError(f"--steps {steps!r}: expected integers such as 5,10,25,50,100") from None
    elif step_weight is not None:
        top = max_weight if max_weight is not None else 50
        if not 1 <= step_weight <= top <= 100:
            raise InvalidInputError("--step-weight and --max-weight need 1 ≤ step-weight ≤ max-weight ≤ 100")
        values = list(range(step_weight, top + 1, step_weight))
        if values[-1] != 100:
            values.append(100)
    elif max_weight is not None:
        raise InvalidInputError("--max-weight needs --step-weight")
    else:
        return list(default)
    if not values or any(not 1 <= v <= 100 for v in values):
        raise InvalidInputError(f"steps must be percentages 1..100, got {values}")
    if any(b <= a for a, b in itertools.pairwise(values)):
        raise InvalidInputError(f"steps must increase strictly, got {values}")
    if values[-1] != 100:
        raise InvalidInputError(f"the last step must be 100 (full promotion), got {values}")
    return values


def build_spec(
    cfg: StackConfig,
    kind: Kind,
    region: str,
    version: str,
    steps: list[int],
    interval: float | None,
    threshold: int | None,
    manual_promotion: bool | None,
    rollback_window: float | None = None,
    pushgateway: Pushgateway | None = None,
) -> RolloutSpec:
    if not TAG.fullmatch(version):
        raise InvalidInputError(f"--version {version!r}: not an image tag (letters, digits, _ . -; ≤ 63)")
    r = cfg.rollout
    return RolloutSpec(
        kind=kind,
        stack=cfg.stack,
        region=region,
        version=version,
        steps=tuple(steps),
        interval_seconds=interval if interval is not None else float(r.interval_seconds),
        failure_threshold=threshold if threshold is not None else r.failure_threshold,
        window_seconds=r.window_seconds,
        checks=tuple(checks_from(r)),
        judge=JudgeSettings.from_config(r.judge),
        webhooks=tuple(r.webhooks),
        confirm_promotion=r.confirm_promotion if manual_promotion is None else manual_promotion,
        rollback_window_seconds=float(
            r.rollback_window_seconds if rollback_window is None else rollback_window
        ),
        pushgateway=pushgateway,
        scrape_interval_seconds=scrape_interval_seconds(cfg),
    )


def _fmt(value: float | None, name: str) -> str:
    if value is None:
        return "no data"
    if name == "latency-p99":
        return f"{value * 1000:.0f}ms"
    if name == "success-rate":
        return f"{value:.2%}"
    return f"{value:.3g}"


def printer(state: RolloutState, record: Record) -> None:
    """One line per step: time, event, weight, checks (red when failing)."""
    clock = time.strftime("%H:%M:%S", time.localtime(record.at))
    bar = "█" * (record.weight // 10) + "░" * (10 - record.weight // 10)
    checks = " ".join(
        f"[{'green' if c['outcome'] == Outcome.PASS else 'red'}]{c['name']} {_fmt(c.get('value'), c['name'])}[/]"
        for c in record.checks
    )
    reason = f" [dim]{record.reason}[/dim]" if record.reason and not record.checks else ""
    console.print(
        f"{clock} [bold]{record.event:<11}[/bold] {bar} {record.weight:>3}% {record.phase:<18} {checks}{reason}",
        highlight=False,
        soft_wrap=True,
    )


def _confirm(yes: bool, question: str) -> None:
    if yes:
        return
    if not sys.stdin.isatty():
        raise InvalidInputError("not a terminal: pass --yes to confirm")
    if not typer.confirm(question):
        raise typer.Exit(3)


def _run(spec: RolloutSpec, target: Target, dry_run: bool, as_json: bool, yes: bool) -> None:
    cfg = target.cfg
    try:
        controller = Controller(spec, wiring.adapters(target, spec.region), [] if as_json else [printer])
        if dry_run:
            plan = asyncio.run(controller.plan())
            if as_json:
                emit_json(plan)
            else:
                _print_plan(plan)
            return
        _confirm(yes, f"{spec.kind} {spec.version} in {spec.stack}/{spec.region}: shift traffic?")
        state = asyncio.run(controller.run())
    except KeyboardInterrupt:
        err_console.print(
            "interrupted: state is saved; re-run the same command to resume, or `rollout abort`"
        )
        raise typer.Exit(3) from None
    except StreamgateError as exc:
        fail(exc)
    code = outcome_exit_code(state)
    if as_json:
        emit_json(report.summary(state) | {"exit_code": code})
    else:
        color = "green" if code == 0 else "red"
        console.print(f"[bold {color}]{state.phase.value}[/]: {state.reason}", highlight=False)
        if code == 0 and state.kind == "canary" and cfg.kind.cloud and state.weight == 100:
            console.print(
                f"set the live color so `pulumi up` agrees: pulumi config set --path "
                f"streamgate:workload.liveColor {state.canary_color} -s {cfg.stack}"
            )
    raise typer.Exit(code)


def _print_plan(plan: dict[str, Any]) -> None:
    table = Table("", "", title=f"dry run: {plan['kind']} {plan['candidate']['version']}", show_header=False)
    table.add_row("router", f"{plan['router']} {plan['weights']}")
    table.add_row("stable", f"{plan['stable']['color']} runs {plan['stable']['version']}")
    table.add_row("candidate", f"{plan['candidate']['color']} will run {plan['candidate']['version']}")
    table.add_row("steps", ", ".join(f"{s}%" for s in plan["steps"]))
    table.add_row(
        "analysis", f"every {plan['interval_seconds']}s, roll back after {plan['failure_threshold']}"
    )
    for name, query in plan["checks"].items():
        table.add_row(f"check {name}", query)
    table.add_row("judge", ", ".join(plan["judge"]) or "off")
    table.add_row("webhooks", ", ".join(plan["webhooks"]) or "none")
    if plan["resumes"]:
        table.add_row("resumes", f"step {plan['resumes']['step_index']} at {plan['resumes']['weight']}%")
    console.print(table)


@app.command()
def canary(
    stack: StackOpt,
    version: VersionOpt,
    steps: Annotated[str | None, typer.Option("--steps", help="Weights, e.g. 5,10,25,50,100.")] = None,
    step_weight: Annotated[int | None, typer.Option("--step-weight", help="Weight added per step.")] = None,
    max_weight: Annotated[int | None, typer.Option("--max-weight", help="Last weight before 100.")] = None,
    interval: IntervalOpt = None,
    threshold: ThresholdOpt = None,
    region: RegionOpt = None,
    manual_promotion: ManualOpt = None,
    dry_run: DryRunOpt = False,
    as_json: JsonOpt = False,
    yes: YesOpt = False,
    outputs: OutputsOpt = None,
) -> None:
    """Shift traffic to VERSION step by step, analyzing each step; roll back on failed analyses.

    Re-running after a crash resumes from the persisted step."""
    with reported():
        cfg, chosen, target = _context(stack, region, outputs)
        plan = parse_steps(steps, step_weight, max_weight, cfg.rollout.steps)
        spec = build_spec(
            cfg,
            "canary",
            chosen,
            version,
            plan,
            interval,
            threshold,
            manual_promotion,
            pushgateway=target.pushgateway(chosen, cfg.rollout.pushgateway_url),
        )
    _run(spec, target, dry_run, as_json, yes)


@app.command()
def bluegreen(
    stack: StackOpt,
    version: VersionOpt,
    interval: IntervalOpt = None,
    threshold: ThresholdOpt = None,
    region: RegionOpt = None,
    rollback_window: Annotated[
        float | None,
        typer.Option("--rollback-window", min=0, help="Seconds the old color stays warm (default: config)."),
    ] = None,
    manual_promotion: ManualOpt = None,
    dry_run: DryRunOpt = False,
    as_json: JsonOpt = False,
    yes: YesOpt = False,
    outputs: OutputsOpt = None,
) -> None:
    """Bring the idle color up with VERSION, smoke it, switch 100% and verify, keep the old color warm for
    the rollback window (switching back on failed analyses), then retire it."""
    with reported():
        cfg, chosen, target = _context(stack, region, outputs)
        spec = build_spec(
            cfg,
            "bluegreen",
            chosen,
            version,
            [100],
            interval,
            threshold,
            manual_promotion,
            rollback_window,
            pushgateway=target.pushgateway(chosen, cfg.rollout.pushgateway_url),
        )
    _run(spec, target, dry_run, as_json, yes)


def _context(stack: str, region: str | None, outputs: str | None) -> tuple[StackConfig, str, Target]:
    cfg = load_stack(stack)
    chosen = wiring.region_of(cfg, region)
    return cfg, chosen, for_stack(cfg, outputs)


def _active_state(store: Any, region: str) -> RolloutState:
    doc = store.load(state_key(region))
    state = RolloutState.from_dict(doc) if doc else None
    if state is None or not state.active:
        raise AutomationError(f"no rollout in progress in {region}")
    return state


def _request(
    stack: str,
    region: str | None,
    outputs: str | None,
    change: dict[str, bool],
    what: str,
    as_json: bool,
) -> None:
    with reported():
        _, chosen, target = _context(stack, region, outputs)
        store = target.state_store()
        state = _active_state(store, chosen)
        control = Control.from_dict(store.load(control_key(chosen)))
        for key, value in change.items():
            setattr(control, key, value)
        control.updated_at = time.time()
        store.save(control_key(chosen), control.to_dict(), conditional=False)
    if as_json:
        emit_json({"region": chosen, "rollout": state.id, "requested": what, "control": control.to_dict()})
    else:
        console.print(f"{what} requested for the {state.kind} rollout of {state.version} in {chosen}")


@app.command()
def pause(
    stack: StackOpt, region: RegionOpt = None, as_json: JsonOpt = False, outputs: OutputsOpt = None
) -> None:
    """Hold the rollout at its current weight (analysis continues; failures still roll back)."""
    _request(stack, region, outputs, {"paused": True}, "pause", as_json)


@app.command()
def resume(
    stack: StackOpt, region: RegionOpt = None, as_json: JsonOpt = False, outputs: OutputsOpt = None
) -> None:
    """Let a paused rollout advance again."""
    _request(stack, region, outputs, {"paused": False}, "resume", as_json)


@app.command()
def promote(
    stack: StackOpt,
    region: RegionOpt = None,
    full: Annotated[bool, typer.Option("--full", help="Skip the remaining steps: go to 100% now.")] = False,
    as_json: JsonOpt = False,
    outputs: OutputsOpt = None,
) -> None:
    """Open the confirm-promotion gate (or, with --full, promote at the next analysis)."""
    change = {"promote": True, "promote_full": full}
    _request(stack, region, outputs, change, "full promotion" if full else "promotion", as_json)


@app.command()
def abort(
    stack: StackOpt,
    region: RegionOpt = None,
    as_json: JsonOpt = False,
    yes: YesOpt = False,
    outputs: OutputsOpt = None,
) -> None:
    """Roll back now: the running controller does it, or this command when none runs."""
    with reported():
        cfg, chosen, target = _context(stack, region, outputs)
        store = target.state_store()
        state = _active_state(store, chosen)
        _confirm(yes, f"abort the {state.kind} rollout of {state.version} in {chosen}?")
        control = Control.from_dict(store.load(control_key(chosen)))
        control.abort, control.updated_at = True, time.time()
        store.save(control_key(chosen), control.to_dict(), conditional=False)
        holder = store.holder(state_key(chosen))
        if holder is not None:
            message = f"abort requested; the running controller {holder.describe()} rolls back"
            final: RolloutState | None = state
        else:
            spec = build_spec(
                cfg,
                state.kind,
                chosen,
                state.version,
                state.steps,
                None,
                None,
                None,
                pushgateway=target.pushgateway(chosen, cfg.rollout.pushgateway_url),
            )
            controller = Controller(spec, wiring.adapters(target, chosen), [] if as_json else [printer])
            final = asyncio.run(controller.abort_now())
            message = f"rolled back: {final.reason if final else 'nothing to do'}"
    if as_json:
        emit_json({"region": chosen, "message": message, "state": final.to_dict() if final else None})
    else:
        console.print(message)
    if holder is None:
        raise typer.Exit(3)


@app.command()
def status(
    stack: StackOpt, region: RegionOpt = None, as_json: JsonOpt = False, outputs: OutputsOpt = None
) -> None:
    """The last rollout of a region: phase, step, weights (persisted and live), who runs it."""
    with reported():
        cfg, chosen, target = _context(stack, region, outputs)
        store = target.state_store()
        doc = store.load(state_key(chosen))
        control = Control.from_dict(store.load(control_key(chosen)))
        holder = store.holder(state_key(chosen))
    state = RolloutState.from_dict(doc) if doc else None
    live: dict[str, int] | str
    try:
        live = asyncio.run(target.router(chosen).get_weights())
    except Exception as exc:  # status must answer even when the router does not
        live = f"unavailable: {exc}"
    result = {
        "region": chosen,
        "rollout": None if state is None else {k: v for k, v in state.to_dict().items() if k != "history"},
        "last_event": state.history[-1].__dict__ if state and state.history else None,
        "control": control.to_dict(),
        "controller": holder.describe() if holder else None,
        "live_weights": live,
    }
    if as_json:
        emit_json(result)
        return
    if state is None:
        console.print(f"no rollout recorded in {chosen}; live weights: {live}")
        return
    table = Table("", "", show_header=False, title=f"{state.kind} {state.version} in {cfg.stack}/{chosen}")
    table.add_row("phase", f"{state.phase.value} — {state.reason}")
    table.add_row("step", f"{state.step_index + 1}/{len(state.steps)} at {state.weight}% ({state.steps})")
    table.add_row("weights", f"state {state.weights}, live {live}")
    table.add_row("failed checks", f"{state.failed_checks}/{state.failure_threshold}")
    table.add_row("controller", holder.describe() if holder else "none running")
    table.add_row("requests", ", ".join(k for k, v in control.to_dict().items() if v is True) or "none")
    console.print(table)


@app.command(name="report")
def report_cmd(
    stack: StackOpt,
    region: RegionOpt = None,
    png: Annotated[Path | None, typer.Option("--png", help="Write a chart (weight, success, p99).")] = None,
    as_json: JsonOpt = False,
    outputs: OutputsOpt = None,
) -> None:
    """Post-mortem of the last rollout from its persisted history."""
    with reported():
        _, chosen, target = _context(stack, region, outputs)
        store = target.state_store()
        doc = store.load(state_key(chosen))
        if doc is None:
            raise AutomationError(f"no rollout recorded in {chosen}")
    state = RolloutState.from_dict(doc)
    result = report.summary(state)
    if png is not None:
        result["png"] = str(report.chart(state, png))
    # The canary's CPU profile against stable's over the rollout (infra/profiles/rollout.py).
    from infra.profiles.rollout import canary_cpu_diff

    result["cpu_profile_diff"] = canary_cpu_diff(
        stack, chosen, state.stable_version, state.version, state.started_at, state.updated_at
    )
    if as_json:
        emit_json(result)
        return
    table = Table("t (s)", "event", "weight", "success", "p99", "detail", title=f"rollout {state.id}")
    s = report.series(state)
    for i, record in enumerate(state.history):
        table.add_row(
            f"{s.seconds[i]:.1f}",
            record.event,
            f"{record.weight}%",
            _fmt(s.success_rate[i], "success-rate") if record.checks else "",
            _fmt(s.p99_seconds[i], "latency-p99") if record.checks else "",
            record.reason[:80],
        )
    console.print(table)
    console.print(f"{state.phase.value}: {state.reason}" + (f" · chart: {png}" if png else ""))
    cpu = result["cpu_profile_diff"]
    if cpu["available"]:
        grown = ", ".join(
            f"{c['function']} {c['delta_self_share'] * 100:+.1f} pts" for c in cpu["top_changes"][:3]
        )
        console.print(f"CPU, canary against stable: {grown} · {cpu['command']}", highlight=False)
    else:
        console.print(f"CPU profile diff: {cpu['reason']}", highlight=False)
