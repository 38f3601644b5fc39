"""`streamgate rollout …`: canary and blue-green rollouts gated on Prometheus, and their controls.

Exit codes: 0 promoted (or nothing to do), 1 failed, 2 bad input or config, 3 rolled back or aborted.
"""

from __future__ import annotations

import itertools
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from infra.automation.errors import AutomationError, InvalidInputError
from infra.clikit import (
    ActorOpt,
    DryRunOpt,
    EveryOpt,
    JsonOpt,
    OutputsOpt,
    ReasonOpt,
    StackOpt,
    WatchOpt,
    YesOpt,
    command_group,
    console,
    emit_json,
    err_console,
    fail,
    reported,
    watch,
)
from infra.errors import StreamgateError

# The commands' work is imported when they run: completing `streamgate rollout <TAB>` imports this module.
if TYPE_CHECKING:
    from infra.automation.rollout.controller import RolloutSpec
    from infra.automation.rollout.model import Record, RolloutState
    from infra.automation.targets import Target
    from infra.config import StackConfig

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


def printer(state: RolloutState, record: Record) -> None:
    """One line per step: time, event, weight, checks (red when failing)."""
    from infra.automation.rollout.view import bar, fmt_value

    clock = time.strftime("%H:%M:%S", time.localtime(record.at))
    checks = " ".join(
        f"[{'green' if c['outcome'] == 'pass' else 'red'}]{c['name']} {fmt_value(c.get('value'), c['name'])}[/]"
        for c in record.checks
    )
    reason = f" [dim]{record.reason}[/dim]" if record.reason and not record.checks else ""
    console.print(
        f"{clock} [bold]{record.event:<11}[/bold] {bar(record.weight, 10)} {record.weight:>3}% "
        f"{record.phase:<18} {checks}{reason}",
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


def _run(
    spec: RolloutSpec,
    target: Target,
    dry_run: bool,
    as_json: bool,
    yes: bool,
    actor: str | None,
    reason: str | None,
) -> None:
    import asyncio

    from infra.automation.audit.record import audited
    from infra.automation.rollout import report, wiring
    from infra.automation.rollout.controller import Controller, Listener, outcome_exit_code
    from infra.automation.rollout.notifications import notifying

    cfg = target.cfg
    try:
        listeners: list[Listener] = [] if as_json else [printer]
        controller = Controller(spec, wiring.adapters(target, spec.region), listeners)
        if dry_run:
            plan = asyncio.run(controller.plan())
            if as_json:
                emit_json(plan)
            else:
                _print_plan(plan)
            return
        _confirm(yes, f"{spec.kind} {spec.version} in {spec.stack}/{spec.region}: shift traffic?")
        with (
            audited(controller.adapters.store, cfg.stack, actor, reason) as entry,
            notifying(target, listeners, entry.actor),
        ):
            try:
                state = asyncio.run(controller.run())
            except KeyboardInterrupt:
                err_console.print(
                    "interrupted: state is saved; re-run the same command to resume, or `rollout abort`"
                )
                raise typer.Exit(3) from None
            entry.extra["rollout_id"] = state.id
            code = outcome_exit_code(state)
            if code:
                entry.detail = f"{state.phase.value}: {state.reason}"
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
    except StreamgateError as exc:
        fail(exc)


def _print_plan(plan: dict[str, Any]) -> None:
    from rich.table import Table

    from infra.automation.rollout.view import weights_text

    table = Table("", "", title=f"dry run: {plan['kind']} {plan['candidate']['version']}", show_header=False)
    table.add_row("router", f"{plan['router']}: {weights_text(plan['weights'])}")
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
    actor: ActorOpt = None,
    reason: ReasonOpt = None,
) -> None:
    """Shift traffic to VERSION step by step, analyzing each step; roll back on failed analyses.

    Re-running after a crash resumes from the persisted step. Exit codes: 0 promoted (or nothing to do),
    1 failed, 2 bad input or config, 3 rolled back or aborted.

    Example: streamgate rollout canary --stack prod --version 1.4.2 --steps 5,25,50,100 --reason "fix #812\""""
    from infra.automation.rollout.operate import build_spec

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
    _run(spec, target, dry_run, as_json, yes, actor, reason)


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
    actor: ActorOpt = None,
    reason: ReasonOpt = None,
) -> None:
    """Bring the idle color up with VERSION, smoke it, switch 100% and verify, keep the old color warm for
    the rollback window (switching back on failed analyses), then retire it.

    Exit codes: 0 promoted, 1 failed, 2 bad input or config, 3 rolled back or aborted.

    Example: streamgate rollout bluegreen --stack staging --version 1.4.2 --rollback-window 600"""
    from infra.automation.rollout.operate import build_spec

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
    _run(spec, target, dry_run, as_json, yes, actor, reason)


def _context(stack: str, region: str | None, outputs: str | None) -> tuple[StackConfig, str, Target]:
    from infra.automation.rollout import wiring
    from infra.automation.targets import for_stack
    from infra.config import load_stack

    cfg = load_stack(stack)
    chosen = wiring.region_of(cfg, region)
    return cfg, chosen, for_stack(cfg, outputs)


def _request(
    stack: str,
    region: str | None,
    outputs: str | None,
    what: str,
    as_json: bool,
    actor: str | None,
    reason: str | None,
) -> None:
    from infra.automation.audit.record import audited
    from infra.automation.rollout.operate import request

    with reported():
        cfg, chosen, target = _context(stack, region, outputs)
        store = target.state_store()
        with audited(store, cfg.stack, actor, reason) as entry:
            state, control = request(store, chosen, what, entry.actor, reason)
            entry.extra["rollout_id"] = state.id
    if as_json:
        emit_json({"region": chosen, "rollout": state.id, "requested": what, "control": control.to_dict()})
    else:
        console.print(f"{what} requested for the {state.kind} rollout of {state.version} in {chosen}")


@app.command()
def pause(
    stack: StackOpt,
    region: RegionOpt = None,
    as_json: JsonOpt = False,
    outputs: OutputsOpt = None,
    actor: ActorOpt = None,
    reason: ReasonOpt = None,
) -> None:
    """Hold the rollout at its current weight (analysis continues; failures still roll back).

    Example: streamgate rollout pause --stack prod --reason "checking the error budget\""""
    _request(stack, region, outputs, "pause", as_json, actor, reason)


@app.command()
def resume(
    stack: StackOpt,
    region: RegionOpt = None,
    as_json: JsonOpt = False,
    outputs: OutputsOpt = None,
    actor: ActorOpt = None,
    reason: ReasonOpt = None,
) -> None:
    """Let a paused rollout advance again.

    Example: streamgate rollout resume --stack prod"""
    _request(stack, region, outputs, "resume", as_json, actor, reason)


@app.command()
def promote(
    stack: StackOpt,
    region: RegionOpt = None,
    full: Annotated[bool, typer.Option("--full", help="Skip the remaining steps: go to 100% now.")] = False,
    as_json: JsonOpt = False,
    outputs: OutputsOpt = None,
    actor: ActorOpt = None,
    reason: ReasonOpt = None,
) -> None:
    """Open the confirm-promotion gate (or, with --full, promote at the next analysis).

    Example: streamgate rollout promote --stack prod --region eu-west-1 --reason "dashboards clean\""""
    _request(stack, region, outputs, "full promotion" if full else "promote", as_json, actor, reason)


@app.command()
def abort(
    stack: StackOpt,
    region: RegionOpt = None,
    as_json: JsonOpt = False,
    yes: YesOpt = False,
    outputs: OutputsOpt = None,
    actor: ActorOpt = None,
    reason: ReasonOpt = None,
) -> None:
    """Roll back now: the running controller does it, or this command when none runs.

    Exit codes: 0 the running controller was asked to roll back, 3 rolled back here, 1 failed, 2 bad input.

    Example: streamgate rollout abort --stack prod --yes --reason "p99 doubled\""""
    from infra.automation.audit.record import audited
    from infra.automation.rollout import operate

    with reported():
        cfg, chosen, target = _context(stack, region, outputs)
        state = operate.active_state(target.state_store(), chosen)
        _confirm(yes, f"abort the {state.kind} rollout of {state.version} in {chosen}?")
        with audited(target.state_store(), cfg.stack, actor, reason) as entry:
            entry.extra["rollout_id"] = state.id
            listeners: list[Any] = [] if as_json else [printer]
            message, final, here = operate.abort(target, chosen, entry.actor, reason, listeners)
    if as_json:
        emit_json({"region": chosen, "message": message, "state": final.to_dict() if final else None})
    else:
        console.print(message)
    if here:
        raise typer.Exit(3)


@app.command()
def status(
    stack: StackOpt,
    region: RegionOpt = None,
    as_json: JsonOpt = False,
    outputs: OutputsOpt = None,
    follow: WatchOpt = False,
    every: EveryOpt = 1.0,
) -> None:
    """A region's rollout: phase, steps, weights (persisted and live), the last analysis, recent events,
    who runs it. With --watch, redrawn in place until the rollout ends.

    Example: streamgate rollout status --stack prod --region us-east-1 --watch"""
    from infra.automation.rollout.status import finished, read_status
    from infra.automation.rollout.view import status_view

    with reported():
        cfg, chosen, target = _context(stack, region, outputs)
        store, router = target.state_store(), target.router(chosen)

        def read() -> dict[str, Any]:
            return read_status(store, router, chosen)

        def draw(result: dict[str, Any]) -> Any:
            return status_view(cfg.stack, result)

        if follow:
            watch(read, draw, finished, as_json=as_json, interval=every)
            return
        result = read()
    if as_json:
        emit_json(result)
    else:
        console.print(draw(result))


@app.command(name="list")
def list_(
    stack: StackOpt,
    region: RegionOpt = None,
    limit: Annotated[int, typer.Option("--limit", "-n", min=1, help="At most this many, newest first.")] = 20,
    as_json: JsonOpt = False,
    outputs: OutputsOpt = None,
) -> None:
    """Every rollout a region has had, newest first: the current one and all finished ones.

    Example: streamgate rollout list --stack prod --region us-east-1"""
    from rich.table import Table

    from infra.automation.rollout.controller import index_key, state_key
    from infra.automation.rollout.model import RolloutState

    with reported():
        _, chosen, target = _context(stack, region, outputs)
        store = target.state_store()
        rows = list((store.load(index_key(chosen)) or {"rollouts": []})["rollouts"])
        current = store.load(state_key(chosen))
        if current is not None and all(r["id"] != current["id"] for r in rows):
            rows.append(RolloutState.from_dict(current).summary())
    rows = sorted(rows, key=lambda r: r["started_at"], reverse=True)[:limit]
    if as_json:
        emit_json(rows)
        return
    table = Table(
        "started", "id", "kind", "version", "from", "max weight", "phase", title=f"rollouts in {chosen}"
    )
    for r in rows:
        started = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(r["started_at"]))
        table.add_row(
            started, r["id"], r["kind"], r["version"], r["stable_version"], f"{r['max_weight']}%", r["phase"]
        )
    console.print(table)


@app.command(name="report")
def report_cmd(
    stack: StackOpt,
    region: RegionOpt = None,
    rollout: Annotated[
        str | None, typer.Option("--rollout", help="A past rollout's id (`rollout list`); default: the last.")
    ] = None,
    png: Annotated[Path | None, typer.Option("--png", help="Write a chart (weight, success, p99).")] = None,
    as_json: JsonOpt = False,
    outputs: OutputsOpt = None,
) -> None:
    """Post-mortem of a rollout from its persisted history (the last one, or --rollout ID).

    Example: streamgate rollout report --stack prod --png rollout.png"""
    from rich.table import Table

    from infra.automation.rollout import report
    from infra.automation.rollout.controller import past_key, state_key
    from infra.automation.rollout.model import RolloutState
    from infra.automation.rollout.view import fmt_value

    with reported():
        _, chosen, target = _context(stack, region, outputs)
        store = target.state_store()
        doc = store.load(state_key(chosen))
        if rollout is not None and (doc is None or doc["id"] != rollout):
            doc = store.load(past_key(chosen, rollout))
            if doc is None:
                raise InvalidInputError(f"--rollout {rollout}: no such rollout in {chosen} (`rollout list`)")
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
            fmt_value(s.success_rate[i], "success-rate") if record.checks else "",
            fmt_value(s.p99_seconds[i], "latency-p99") if record.checks else "",
            record.reason,
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
