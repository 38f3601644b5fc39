"""A stack diff as markdown for a pull-request comment and the job summary: one line of counts, the changes
per component in `<details>` blocks, the policy verdicts, and never more than `LIMIT` characters (GitHub
refuses a comment over 65,536): what does not fit is cut with a note naming where the full diff is."""

from __future__ import annotations

import html
import json
from collections import defaultdict
from typing import Any

from infra.preview.diff import ACTIONS, PropertyChange, ResourceChange, StackDiff, Violation

LIMIT = 60_000  # below GitHub's 65,536, leaving room for the comment's marker and a heading
VALUE_CHARS = 120  # a value longer than this is cut in a cell; the full diff has it whole
MAX_VIOLATION_ROWS = 50
SIGN = {"create": "+", "update": "~", "replace": "+-", "delete": "-"}
VERB = {"create": "to create", "update": "to update", "replace": "to replace", "delete": "to delete"}


def counts_line(diff: StackDiff) -> str:
    parts = [f"{diff.count(a)} {VERB[a]}" for a in ACTIONS if diff.count(a)]
    changes = " · ".join(parts) if parts else "no changes"
    return f"**`{diff.stack}`**: {changes} · policies: {_policy_summary(diff)}"


def _policy_summary(diff: StackDiff) -> str:
    head = diff.head_verdict
    verdict = "passed" if head.passed else f"**failed** ({head.mandatory} mandatory)"
    moves = []
    if diff.violations_added:
        moves.append(f"{len(diff.violations_added)} new violation(s)")
    if diff.violations_fixed:
        moves.append(f"{len(diff.violations_fixed)} fixed")
    return verdict + (f", {', '.join(moves)}" if moves else "")


def render(diff: StackDiff, artifact: str | None = None, limit: int = LIMIT) -> str:
    """The markdown, at most `limit` characters. `artifact` names where the full diff is kept."""
    top = (
        f"{counts_line(diff)}\n\n"
        f"<sub>base {_code(diff.base)} → head {_code(diff.head)} · offline plan under Pulumi's mocks; "
        "`replace` marks the known immutable properties</sub>\n\n"
    )
    groups: dict[str, list[ResourceChange]] = defaultdict(list)
    for change in diff.changes:
        groups[change.component].append(change)
    tail = _policies(diff) + _notes(diff.notes)
    where = f"the full diff is in {artifact}" if artifact else "run `streamgate plan` with `--format json`"
    budget = limit - len(top) - len(tail) - len(_cut_note(10**6, 10**6, where))
    if budget < 0:  # the policy section alone is too long: keep the counts and the note
        tail, budget = "", limit - len(top) - len(_cut_note(10**6, 10**6, where))
    body, shown = [], 0
    for component in sorted(groups):
        block, included = _component(component, groups[component], budget)
        body.append(block)
        budget -= len(block)
        shown += included
        if included < len(groups[component]):
            break
    out = top + "".join(body) + tail
    if shown < len(diff.changes):
        out += _cut_note(len(diff.changes) - shown, len(diff.changes), where)
    return out


def _cut_note(hidden: int, total: int, where: str) -> str:
    return f"\n> **Truncated** to fit a comment: {hidden} of {total} resource changes not shown; {where}.\n"


def _component(name: str, changes: list[ResourceChange], budget: int) -> tuple[str, int]:
    """The component's `<details>` block within `budget` characters (cut between resources if need be),
    and how many of its changes it shows."""
    per_action = [f"{SIGN[a]}{n}" for a in ACTIONS if (n := sum(1 for c in changes if c.action == a))]
    head = f"<details><summary>{' '.join(per_action)} <b>{html.escape(name)}</b></summary>\n\n"
    end = "</details>\n\n"
    parts = [head]
    size = len(head) + len(end)
    for change in changes:
        entry = _resource(change)
        if size + len(entry) > budget:
            break
        parts.append(entry)
        size += len(entry)
    shown = len(parts) - 1
    return ("".join(parts) + end if shown else ""), shown


def _resource(change: ResourceChange) -> str:
    line = f"**{SIGN[change.action]} {change.action}** {_code(change.type)} {_code(change.name)}"
    if change.region:
        line += f" ({change.region})"
    if not change.properties:
        return line + "\n\n"
    rows = "".join(_row(p) for p in change.properties)
    return f"{line}\n\n| property | base | head | |\n|---|---|---|---|\n{rows}\n"


def _row(p: PropertyChange) -> str:
    old = "" if p.kind == "added" else _cell(p.old)
    new = "" if p.kind == "removed" else _cell(p.new)
    marks = [m for m, on in (("rotated", p.kind == "rotated"), ("**replace**", p.replace)) if on]
    return f"| {_code(p.path)} | {old} | {new} | {' · '.join(marks)} |\n"


def _cell(value: Any) -> str:
    return _code(show(value))


def show(value: Any) -> str:
    """A value as text: strings as they are, numbers without a float's `.0`, the rest as JSON."""
    if isinstance(value, str):
        return value
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return json.dumps(value, sort_keys=True)


def _code(text: str) -> str:
    """Inline code that survives a table cell: HTML-escaped, pipes and newlines neutralised, cut short."""
    if len(text) > VALUE_CHARS:
        text = text[: VALUE_CHARS - 1] + "…"
    escaped = html.escape(text).replace("|", "&#124;").replace("\n", " ")
    return f"<code>{escaped}</code>"


def _policies(diff: StackDiff) -> str:
    base, head = diff.base_verdict, diff.head_verdict
    out = (
        "#### Policies\n\n| | base | head |\n|---|---|---|\n"
        f"| verdict | {_verdict(base.passed)} | {_verdict(head.passed)} |\n"
        f"| mandatory violations | {base.mandatory} | {head.mandatory} |\n"
        f"| advisory violations | {base.advisory} | {head.advisory} |\n\n"
    )
    out += _violations("New violations", diff.violations_added)
    out += _violations("Fixed", diff.violations_fixed)
    return out


def _verdict(passed: bool) -> str:
    return "passed" if passed else "**failed**"


def _violations(title: str, violations: list[Violation]) -> str:
    if not violations:
        return ""
    rows = "".join(
        f"| {v.level} | {_code(v.policy)} | {_code(v.resource)} | {_code(v.message)} |\n"
        for v in violations[:MAX_VIOLATION_ROWS]
    )
    more = len(violations) - MAX_VIOLATION_ROWS
    extra = f"\n… and {more} more\n" if more > 0 else ""
    return f"{title}:\n\n| level | policy | resource | message |\n|---|---|---|---|\n{rows}{extra}\n"


def _notes(notes: list[str]) -> str:
    return "".join(f"> {html.escape(n)}\n" for n in notes) + ("\n" if notes else "")
