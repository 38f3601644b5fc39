"""A stack diff on the terminal: the counts line, one row per changed property, the policy verdicts."""

from __future__ import annotations

from rich.console import Console
from rich.markup import escape
from rich.table import Table

from infra.preview.diff import ACTIONS, StackDiff
from infra.preview.markdown import SIGN, VERB, show

STYLE = {"create": "green", "update": "yellow", "replace": "magenta", "delete": "red"}


def print_diff(diff: StackDiff, console: Console) -> None:
    counts = ", ".join(f"{diff.count(a)} {VERB[a]}" for a in ACTIONS if diff.count(a)) or "no changes"
    console.print(
        f"[bold]{escape(diff.stack)}[/bold]: {counts}  (base {escape(diff.base)} → head {escape(diff.head)})",
        highlight=False,
    )
    if diff.changes:
        table = Table("")
        for column in ("resource", "property", "base", "head"):
            table.add_column(column, overflow="fold")
        table.add_column("")
        for change in diff.changes:
            style = STYLE[change.action]
            label = f"[{style}]{SIGN[change.action]}[/{style}]"
            resource = escape(f"{change.type}::{change.name}")
            if not change.properties:
                table.add_row(label, resource, "", "", "", change.action)
            for i, p in enumerate(change.properties):
                table.add_row(
                    label if i == 0 else "",
                    resource if i == 0 else "",
                    escape(p.path),
                    "" if p.kind == "added" else escape(show(p.old)),
                    "" if p.kind == "removed" else escape(show(p.new)),
                    " ".join(m for m, on in (("rotated", p.kind == "rotated"), ("replace", p.replace)) if on),
                )
        console.print(table)
    base, head = diff.base_verdict, diff.head_verdict
    console.print(
        f"policies: base {'passed' if base.passed else 'failed'} ({base.mandatory} mandatory, "
        f"{base.advisory} advisory) → head "
        f"{'[green]passed[/green]' if head.passed else '[red]failed[/red]'} ({head.mandatory} mandatory, "
        f"{head.advisory} advisory)",
        highlight=False,
    )
    for title, violations in (("new", diff.violations_added), ("fixed", diff.violations_fixed)):
        for v in violations:
            console.print(
                f"  {title} {v.level}: {escape(v.policy)} on {escape(v.resource)}: {escape(v.message)}",
                highlight=False,
            )
    for note in diff.notes:
        console.print(f"  note: {escape(note)}", highlight=False)
