"""`streamgate drill …`: failover drills on the local platform that measure RTO and RPO under load.

Exit codes: 0 the drill met its floors, 1 it did not (or failed), 2 bad input or config.
"""

from __future__ import annotations

import asyncio
from typing import Annotated

import typer
from rich.table import Table

from infra.automation.drill.runner import DrillReport, drill_platform, run_drill
from infra.clikit import command_group, console, emit_json, err_console, fail
from infra.config import load_stack
from infra.errors import StreamgateError

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
    as_json: Annotated[bool, typer.Option("--json", help="Machine-readable output on stdout.")] = False,
) -> None:
    """Under a steady write (acknowledged with WAIT) and read load: kill -9 the primary region's Redis and
    gateways and run the unplanned failover (or, with --planned, a planned switchover); report RTO (until
    writes are accepted and the edge answers from the other region) and RPO (acknowledged writes lost)."""
    from infra.automation.failover import wiring as failover_wiring
    from infra.automation.targets import for_stack

    try:
        cfg = load_stack(stack)
        drill_platform(cfg)  # refuses a target whose processes a drill cannot kill, before any work
        runner = failover_wiring.runner(for_stack(cfg))
        with err_console.status(f"drill: {'planned switchover' if planned else 'region kill'} under load…"):
            report = asyncio.run(
                run_drill(cfg, runner, "planned" if planned else "unplanned", target=to, failback=failback)
            )
    except StreamgateError as exc:
        fail(exc)
    if as_json:
        emit_json(report.to_dict())
    else:
        print_report(report)
    if not report.passed:
        raise typer.Exit(1)


def print_report(r: DrillReport) -> None:
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
