"""`streamgate drill …`: failover drills on the local platform that measure RTO and RPO under load.

Exit codes: 0 the drill met its floors (or a dry run found it ready), 1 it did not (or failed), 2 bad input
or config, 3 not confirmed.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated

import typer

from infra.clikit import (
    ActorOpt,
    DryRunOpt,
    JsonOpt,
    ReasonOpt,
    YesOpt,
    command_group,
    confirm_stack,
    console,
    emit_json,
    err_console,
    reported,
)

if TYPE_CHECKING:
    from infra.automation.drill.runner import DrillPlan, DrillReport, Kind

app = command_group(
    "drill",
    "Failover drills on the local platform: kill a region under load, measure RTO and RPO.",
)


@app.callback()
def drill() -> None:
    """Failover drills on the local platform (a group, so `drill failover` keeps its name)."""


@app.command()
def failover(
    stack: Annotated[str, typer.Option("--stack", "-s", help="The local stack to drill (target: local).")],
    planned: Annotated[
        bool, typer.Option("--planned", help="A planned switchover under load instead of killing the region.")
    ] = False,
    to: Annotated[
        str | None, typer.Option("--to", help="Region to fail over to (default: the next one).")
    ] = None,
    failback: Annotated[
        bool, typer.Option("--failback/--no-failback", help="Return to the first region afterwards.")
    ] = True,
    dry_run: DryRunOpt = False,
    yes: YesOpt = False,
    as_json: JsonOpt = False,
    actor: ActorOpt = None,
    reason: ReasonOpt = None,
) -> None:
    """Under a steady write (acknowledged with WAIT) and read load: kill -9 the primary region's Redis and
    gateways and run the unplanned failover (or, with --planned, a planned switchover); report RTO (until
    writes are accepted and the edge answers from the other region) and RPO (acknowledged writes lost).
    --dry-run names the processes it would kill and the failover it would run, and touches nothing;
    otherwise the stack's name must be typed to confirm (unless --yes).

    Example: streamgate drill failover --stack local --dry-run"""
    import asyncio

    from infra.automation.audit.record import audited
    from infra.automation.drill.runner import drill_platform, plan_drill, run_drill
    from infra.automation.failover import wiring as failover_wiring
    from infra.automation.targets import for_stack
    from infra.config import load_stack

    kind: Kind = "planned" if planned else "unplanned"
    with reported():
        cfg = load_stack(stack)
        drill_platform(cfg)  # refuses a target whose processes a drill cannot kill, before any work
        target = for_stack(cfg)
        runner = failover_wiring.runner(target)
        plan = asyncio.run(plan_drill(cfg, runner, kind, target=to, failback=failback))
        if dry_run:
            if as_json:
                emit_json(plan.to_dict())
            else:
                print_plan(plan)
            return
        if not as_json and not yes:
            print_plan(plan)
        confirm_stack(stack, f"drill: {_what(plan)}", yes)
        with audited(target.state_store(), cfg.stack, actor, reason) as entry:
            with err_console.status(
                f"drill: {'planned switchover' if planned else 'region kill'} under load…"
            ):
                report = asyncio.run(run_drill(cfg, runner, kind, target=to, failback=failback))
            entry.extra.update(rto_seconds=report.rto_seconds, lost_acknowledged=report.lost_acknowledged)
            if not report.passed:
                entry.detail = "below the drill's floors"
    if as_json:
        emit_json(report.to_dict())
    else:
        print_report(report)
    if not report.passed:
        raise typer.Exit(1)


def _what(plan: DrillPlan) -> str:
    if plan.kind == "planned":
        return f"planned switchover {plan.source} → {plan.target} under load"
    return f"kill -9 {', '.join(plan.kill)} in {plan.source}, then fail over to {plan.target}"


def print_plan(plan: DrillPlan) -> None:
    from rich.table import Table

    table = Table("", "", title=f"{plan.kind} drill of {plan.stack}", show_header=False)
    table.add_row("primary now", plan.source)
    table.add_row("fail over to", plan.target)
    for name, pid in plan.kill.items():
        table.add_row("kill -9", f"{name} (pid {pid})" if pid else f"{name} (not running)")
    table.add_row("failover steps", ", ".join(a.id.value for a in plan.failover.actions) or "none")
    table.add_row("then", f"restart what was killed; fail back to {plan.source}" if plan.failback else "stay")
    console.print(table)


def print_report(r: DrillReport) -> None:
    from rich.table import Table

    table = Table("figure", "value", title=f"{r.kind} failover drill: {r.source} → {r.target}")
    rows = [
        ("RTO (s)", f"{r.rto_seconds} (floor < {r.rto_floor_seconds:g})"),
        ("  writes accepted again after (s)", str(r.write_recovery_seconds)),
        ("  edge answers from the target after (s)", str(r.edge_recovery_seconds)),
        ("  failover run (s)", str(r.failover_seconds)),
        ("longest gap between acknowledged writes (s)", str(r.max_write_gap_seconds)),
        ("writes acknowledged / by WAIT", f"{r.writes_acknowledged} / {r.writes_replicated}"),
        ("RPO: acknowledged writes lost", f"{r.lost_acknowledged} (spanning {r.rpo_seconds} s)"),
        ("WAIT-acknowledged writes lost", str(r.lost_replicated)),
        ("reads / failed", f"{r.reads} / {r.failed_reads}"),
    ]
    for name, value in rows:
        table.add_row(name, value)
    console.print(table)
    for step in r.failover.get("steps", []):
        console.print(f"  {step['id']}: {step['ms']} ms — {step['detail']}")
    for line in r.recovered:
        console.print(f"  after: {line}")
    console.print("[green]passed[/green]" if r.passed else "[red]failed[/red]")
