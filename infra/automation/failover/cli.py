"""`streamgate failover …`: plan and run a regional failover (planned switchover or unplanned disaster
failover), with measured RTO/RPO.

Exit codes: 0 ok (or nothing to do), 1 failed or unsafe, 2 bad input or config, 3 declined/aborted.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated, Any

import typer

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
    confirm_stack,
    console,
    emit_json,
    err_console,
    reported,
    watch,
)

# The commands' work is imported when they run: completing `streamgate failover <TAB>` imports this module.
if TYPE_CHECKING:
    from rich.console import RenderableType

    from infra.automation.failover.model import Action, FailoverPlan, Mode, StepRecord
    from infra.automation.failover.runner import FailoverReport, FailoverRunner, Progress
    from infra.automation.targets import Target

app = command_group(
    "failover",
    "Regional failover: readiness plan, planned switchover or disaster failover, measured RTO/RPO.",
)

ToOpt = Annotated[str, typer.Option("--to", help="The region to fail over to.")]


def _runner(target: Target, progress: Progress | None = None) -> FailoverRunner:
    from infra.automation.failover import wiring as failover_wiring

    return failover_wiring.runner(target, progress=progress)


def print_plan(plan: FailoverPlan) -> None:
    from rich.table import Table

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
    console.print(f"traffic: {_weights(plan.weights_before)} → {_weights(plan.weights_after)}")
    console.print(f"expected data loss: {plan.expected_loss}")
    verdict = (
        "[green]safe[/green]"
        if plan.safe
        else "[red]NOT safe[/red]: " + ", ".join(c.name for c in plan.blockers)
    )
    console.print(f"verdict: {verdict}")


def _weights(weights: dict[str, int]) -> str:
    return " · ".join(f"{region} {weight}%" for region, weight in weights.items())


def _rich_progress() -> Progress:
    from infra.automation.failover.runner import Progress

    class RichProgress(Progress):
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

    return RichProgress()


@app.command()
def plan(
    stack: StackOpt,
    to: ToOpt,
    as_json: JsonOpt = False,
    outputs: OutputsOpt = None,
    unplanned: Annotated[bool, typer.Option("--unplanned", help="Plan a disaster failover.")] = False,
    allow_data_loss: Annotated[bool, typer.Option("--allow-data-loss")] = False,
) -> None:
    """Readiness checks and the ordered actions with the expected data loss; exit 1 if not safe.

    Example: streamgate failover plan --stack prod --to eu-west-1"""
    import asyncio

    from infra.automation.targets import stack_target

    with reported():
        result = asyncio.run(
            _runner(stack_target(stack, outputs)).plan(
                to, "unplanned" if unplanned else "planned", allow_data_loss=allow_data_loss
            )
        )
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
    dry_run: DryRunOpt = False,
    yes: YesOpt = False,
    abandon_previous: Annotated[
        bool, typer.Option("--abandon-previous", help="Start over although an earlier run is unfinished.")
    ] = False,
    as_json: JsonOpt = False,
    outputs: OutputsOpt = None,
    actor: ActorOpt = None,
    reason: ReasonOpt = None,
) -> None:
    """Fail over to a region. Planned switchover (default): raise the target's capacity floor, fence writes
    on the old primary, wait for the replica to catch up, promote it, repoint the others, lift the fence,
    shift traffic, verify with a smoke request. With --unplanned --allow-data-loss: promote without the
    old primary. Re-running resumes (finished steps are skipped). A prod stack asks for its name to be
    typed (unless --yes); others ask yes/no.

    Example: streamgate failover run --stack prod --to eu-west-1 --reason "us-east-1 degraded\""""
    import asyncio

    from infra.automation.audit.record import audited
    from infra.automation.errors import InvalidInputError
    from infra.automation.failover.runner import Fanout
    from infra.automation.notify import wiring as notify_wiring
    from infra.automation.targets import stack_target
    from infra.config import Environment

    with reported():
        if allow_data_loss and not unplanned:
            raise InvalidInputError(
                "--allow-data-loss only applies with --unplanned (a planned switchover loses nothing)"
            )
        target = stack_target(stack, outputs)
        prod = target.cfg.environment is Environment.PROD

        def confirm(p: FailoverPlan) -> bool:
            if yes:
                return True
            if not as_json:
                print_plan(p)
            if prod:
                confirm_stack(stack, f"fail the production stack {stack} over to {to}", yes)
                return True
            try:
                return typer.confirm(f"fail {stack} over to {to}?", default=False, err=True)
            except typer.Abort:  # no answer (end of input): not a yes
                return False

        mode: Mode = "unplanned" if unplanned else "planned"
        listeners = [] if as_json else [_rich_progress()]
        if dry_run:
            report = asyncio.run(
                _runner(target, Fanout(*listeners)).run(
                    to, mode, allow_data_loss=allow_data_loss, dry_run=True
                )
            )
        else:
            dispatcher = notify_wiring.dispatcher(target)
            with audited(target.state_store(), target.cfg.stack, actor, reason) as entry:
                if dispatcher is not None:
                    from infra.automation.failover.notifications import Notifying

                    listeners.append(Notifying(dispatcher, entry.actor))
                try:
                    report = asyncio.run(
                        _runner(target, Fanout(*listeners)).run(
                            to,
                            mode,
                            allow_data_loss=allow_data_loss,
                            abandon_previous=abandon_previous,
                            confirm=confirm,
                        )
                    )
                    if report.record is not None:
                        entry.extra["failover_id"] = report.record.id
                finally:
                    if dispatcher is not None:
                        notify_wiring.drain(dispatcher, target.cfg.notifications.drain_seconds)
    if as_json:
        emit_json(report.to_dict())
    else:
        _print_report(report)


def _print_report(report: FailoverReport) -> None:
    from infra.automation.failover.runner import redo_note

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


def status_view(doc: dict[str, Any] | None, stack: str) -> RenderableType:
    from rich.console import Group
    from rich.table import Table
    from rich.text import Text

    from infra.automation.failover.model import FailoverRecord

    if doc is None:
        return Text(f"no failover recorded for {stack}")
    record = FailoverRecord.from_dict(doc)
    color = {"succeeded": "green", "failed": "red"}.get(record.outcome, "yellow")
    table = Table(
        "step",
        "status",
        "ms",
        "detail",
        title=f"{record.id}: {record.source} → {record.target} ({record.mode})",
    )
    for s in record.steps:
        mark = {"done": "[green]done[/green]", "failed": "[red]failed[/red]"}.get(s.status, s.status)
        table.add_row(s.id, mark, f"{s.seconds * 1000:.0f}", s.detail)
    measured = ", ".join(f"{k} {v}" for k, v in record.measured.items() if not k.endswith("_at"))
    lines = [Text.from_markup(f"outcome: [{color}]{record.outcome}[/] (attempt {record.attempts})")]
    if record.error:
        lines.append(Text(f"error: {record.error}"))
    if measured:
        lines.append(Text(f"measured: {measured}"))
    return Group(table, *lines)


@app.command()
def status(
    stack: StackOpt,
    as_json: JsonOpt = False,
    outputs: OutputsOpt = None,
    follow: WatchOpt = False,
    every: EveryOpt = 1.0,
) -> None:
    """The last failover run recorded for the stack (steps, timings, measured RTO/RPO). With --watch,
    redrawn in place as its steps finish, until it succeeds or fails.

    Example: streamgate failover status --stack prod --watch"""
    from infra.automation.failover.runner import state_key
    from infra.automation.targets import stack_target

    with reported():
        store = stack_target(stack, outputs).state_store()

        def read() -> dict[str, Any] | None:
            return store.load(state_key(stack))

        def finished(doc: dict[str, Any] | None) -> bool:
            return doc is None or doc.get("outcome") != "running"

        if follow:
            watch(read, lambda doc: status_view(doc, stack), finished, as_json=as_json, interval=every)
            return
        doc = read()
    if as_json:
        emit_json(doc)
    else:
        console.print(status_view(doc, stack))
