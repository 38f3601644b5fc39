"""`streamgate failover …`: plan and run a regional failover (planned switchover or unplanned disaster
failover), with measured RTO/RPO.

Exit codes: 0 ok (or nothing to do), 1 failed or unsafe, 2 bad input or config, 3 declined/aborted.
"""

from __future__ import annotations

import asyncio
from typing import Annotated, Any, NoReturn

import typer
from rich.table import Table

from infra.automation.failover.model import Action, FailoverPlan, FailoverRecord, Mode, StepRecord
from infra.automation.failover.runner import (
    FailoverReport,
    FailoverRunner,
    Progress,
    redo_note,
    state_key,
)
from infra.clikit import (
    JsonOpt,
    OutputsOpt,
    StackOpt,
    command_group,
    console,
    emit_json,
    err_console,
    fail,
    reported,
)
from infra.config import load_stack

app = command_group(
    "failover",
    "Regional failover: readiness plan, planned switchover or disaster failover, measured RTO/RPO.",
)

ToOpt = Annotated[str, typer.Option("--to", help="The region to fail over to.")]


def _runner(stack: str, outputs: str | None, progress: Progress | None = None) -> FailoverRunner:
    from infra.automation.failover import wiring as failover_wiring
    from infra.automation.targets import for_stack

    return failover_wiring.runner(for_stack(load_stack(stack), outputs), progress=progress)


def print_plan(plan: FailoverPlan) -> None:
    checks = Table("check", "", "detail", title=f"failover {plan.stack} → {plan.target} ({plan.mode})")
    for c in plan.checks:
        mark = "[green]ok[/green]" if c.ok else ("[red]FAIL[/red]" if c.blocking else "[yellow]warn[/yellow]")
        checks.add_row(c.name, mark, c.detail)
    console.print(checks)
    if plan.noop:
        console.print(f"nothing to do: {plan.target} is the primary and takes the traffic")
        return
    actions = Table("#", "step", "action")
    for i, a in enumerate(plan.actions, 1):
        actions.add_row(str(i), a.id.value, a.title)
    console.print(actions)
    console.print(f"traffic: {plan.weights_before} → {plan.weights_after}")
    console.print(f"expected data loss: {plan.expected_loss}")
    verdict = (
        "[green]safe[/green]"
        if plan.safe
        else "[red]NOT safe[/red]: " + ", ".join(c.name for c in plan.blockers)
    )
    console.print(f"verdict: {verdict}")


class _RichProgress(Progress):
    def __init__(self) -> None:
        self.status: Any = None

    def started(self, action: Action) -> None:
        self.status = err_console.status(f"{action.id.value}: {action.title}…", spinner="dots")
        self.status.start()

    def finished(self, action: Action, record: StepRecord) -> None:
        if self.status is not None:
            self.status.stop()
        mark = "[green]✓[/green]" if record.status == "done" else "[red]✗[/red]"
        err_console.print(f"{mark} {action.id.value} ({record.seconds * 1000:.0f} ms): {record.detail}")


@app.command()
def plan(
    stack: StackOpt,
    to: ToOpt,
    as_json: JsonOpt = False,
    outputs: OutputsOpt = None,
    unplanned: Annotated[bool, typer.Option("--unplanned", help="Plan a disaster failover.")] = False,
    allow_data_loss: Annotated[bool, typer.Option("--allow-data-loss")] = False,
) -> None:
    """Readiness checks and the ordered actions with the expected data loss; exit 1 if not safe."""
    mode: Mode = "unplanned" if unplanned else "planned"
    with reported():
        result = asyncio.run(_runner(stack, outputs).plan(to, mode, allow_data_loss=allow_data_loss))
    if as_json:
        emit_json(result.to_dict())
    else:
        print_plan(result)
    if not result.safe:
        raise typer.Exit(1)


@app.command()
def run(
    stack: StackOpt,
    to: ToOpt,
    unplanned: Annotated[
        bool, typer.Option("--unplanned", help="Disaster failover: promote without the old primary.")
    ] = False,
    allow_data_loss: Annotated[
        bool, typer.Option("--allow-data-loss", help="Accept losing writes not yet replicated (unplanned).")
    ] = False,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Print the plan; change nothing.")] = False,
    yes: Annotated[bool, typer.Option("--yes", "-y", help="Do not ask for confirmation.")] = False,
    abandon_previous: Annotated[
        bool, typer.Option("--abandon-previous", help="Start over although an earlier run is unfinished.")
    ] = False,
    as_json: JsonOpt = False,
    outputs: OutputsOpt = None,
) -> None:
    """Fail over to a region. Planned switchover (default): raise the target's capacity floor, fence writes
    on the old primary, wait for the replica to catch up, promote it, repoint the others, lift the fence,
    shift traffic, verify with a smoke request. With --unplanned --allow-data-loss: promote without the
    old primary. Re-running resumes (finished steps are skipped)."""
    if allow_data_loss and not unplanned:
        _fail_input("--allow-data-loss only applies with --unplanned (a planned switchover loses nothing)")
    mode: Mode = "unplanned" if unplanned else "planned"

    def confirm(p: FailoverPlan) -> bool:
        if yes:
            return True
        if not as_json:
            print_plan(p)
        try:
            return typer.confirm(f"fail {stack} over to {to}?", default=False, err=True)
        except typer.Abort:  # no answer (end of input): not a yes
            return False

    progress = None if as_json else _RichProgress()
    with reported():
        report = asyncio.run(
            _runner(stack, outputs, progress).run(
                to,
                mode,
                allow_data_loss=allow_data_loss,
                dry_run=dry_run,
                abandon_previous=abandon_previous,
                confirm=confirm,
            )
        )
    if as_json:
        emit_json(report.to_dict())
    else:
        _print_report(report)


def _fail_input(message: str) -> NoReturn:
    from infra.automation.errors import InvalidInputError

    fail(InvalidInputError(message))


def _print_report(report: FailoverReport) -> None:
    if report.dry_run:
        print_plan(report.plan)
        console.print("[bold]dry run[/bold]: nothing was changed")
        return
    if report.plan.noop:
        console.print(f"nothing to do: {report.plan.target} is the primary and takes the traffic")
        return
    for note in redo_note(report.previously_done, report.plan):
        console.print(f"resumed: {note}")
    record = report.record
    assert record is not None
    m = record.measured
    console.print(
        f"[green]failed over[/green] {record.stack} to {record.target} ({record.mode}, attempt "
        f"{record.attempts}): RTO {_num(m.get('rto_seconds'))} s (objective {m.get('rto_objective_seconds')} s), "
        f"RPO {_num(m.get('rpo_bytes'))} bytes"
        + (f", writes paused {_num(m.get('write_pause_seconds'))} s" if "write_pause_seconds" in m else "")
    )
    if m.get("pending_demotion"):
        console.print(
            f"[yellow]pending[/yellow]: {', '.join(m['pending_demotion'])} did not answer; when it is back, "
            f"run `streamgate failover run --stack {record.stack} --to {record.target}` again to demote it"
        )


def _num(value: Any) -> str:
    if value is None:
        return "unknown"
    return f"{value:.3f}" if isinstance(value, float) else str(value)


@app.command()
def status(stack: StackOpt, as_json: JsonOpt = False, outputs: OutputsOpt = None) -> None:
    """The last failover run recorded for the stack (steps, timings, measured RTO/RPO)."""
    from infra.automation.targets import for_stack

    with reported():
        doc = for_stack(load_stack(stack), outputs).state_store().load(state_key(stack))
    if as_json:
        emit_json(doc)
        return
    if doc is None:
        console.print(f"no failover recorded for {stack}")
        return
    record = FailoverRecord.from_dict(doc)
    table = Table("step", "status", "ms", "detail", title=f"{record.id}: {record.source} → {record.target}")
    for s in record.steps:
        table.add_row(s.id, s.status, f"{s.seconds * 1000:.0f}", s.detail)
    console.print(table)
    console.print(f"outcome: {record.outcome}; measured: {record.measured}")
