"""`streamgate history`: the audit trail of a stack, newest first."""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Annotated

import typer

from infra.clikit import JsonOpt, OutputsOpt, StackOpt, command_group, emit_json, reported

if TYPE_CHECKING:
    from rich.table import Table

    from infra.automation.audit.model import AuditEntry

app = command_group("history", "The audit trail: who changed what, why, and how it ended.")
COLORS = {"ok": "green", "running": "yellow", "aborted": "yellow", "bad-input": "red", "failed": "red"}


@app.command()
def history(
    stack: StackOpt,
    limit: Annotated[int, typer.Option("--limit", "-n", min=1, help="At most this many entries.")] = 30,
    command: Annotated[
        str | None,
        typer.Option("--command", "-c", help="Only these commands, e.g. `rollout` or `backup prune`."),
    ] = None,
    as_json: JsonOpt = False,
    outputs: OutputsOpt = None,
) -> None:
    """Every state-changing command run against STACK: who (--actor, $STREAMGATE_ACTOR or the login name),
    why (--reason), with what arguments, when it started and ended, and its outcome; newest first.

    Example: streamgate history --stack prod --command rollout --limit 10"""
    from infra.automation.audit.journal import Journal
    from infra.automation.targets import stack_target
    from infra.clikit import console

    with reported():
        entries = Journal(stack_target(stack, outputs).state_store()).entries(limit, command)
    if as_json:
        emit_json([e.to_dict() for e in entries])
        return
    if not entries:
        console.print(f"no recorded operations on {stack}" + (f" matching {command!r}" if command else ""))
        return
    console.print(table(stack, entries))


def _when(at: float) -> str:
    return time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(at))


def table(stack: str, entries: list[AuditEntry]) -> Table:
    from rich.markup import escape
    from rich.table import Table

    out = Table(
        "started", "command", "actor", "outcome", "took", "reason", "arguments", title=f"history of {stack}"
    )
    for e in entries:
        took = f"{e.seconds:.1f}s" if e.seconds is not None else "-"
        outcome = f"[{COLORS.get(e.outcome, 'white')}]{e.outcome}[/]"
        if e.detail:
            outcome += f" [dim]{escape(e.detail)}[/dim]"
        args = " ".join(f"{k}={v}" for k, v in e.args.items() if k != "stack")
        via = "" if e.via == "cli" else f" [dim]({e.via})[/dim]"
        out.add_row(
            _when(e.started_at),
            e.command + via,
            escape(e.actor),
            outcome,
            took,
            escape(e.reason),
            escape(args),
        )
    return out
