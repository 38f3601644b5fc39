"""`audited(...)`: around a state-changing command's work, its entry in the audit trail.

The start is recorded before anything changes (a command whose start cannot be recorded does nothing:
the trail is never missing an operation), the end with the exit code however the command ends."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import typer

from infra.automation.adapters.state import StateStore
from infra.automation.audit.journal import Journal
from infra.automation.audit.model import AuditEntry, actor_of
from infra.errors import StreamgateError

# Options that say how a command talks, not what it does: not worth keeping.
NOT_ARGUMENTS = frozenset({"as_json", "yes", "actor", "reason", "outputs", "watch"})


def arguments(params: dict[str, Any]) -> dict[str, Any]:
    return {
        k: v if isinstance(v, str | int | float | bool | list) or v is None else str(v)
        for k, v in params.items()
        if k not in NOT_ARGUMENTS and v is not None and v is not False
    }


def command_params() -> tuple[str, dict[str, Any]]:
    """The running command's name (`rollout canary`) and its parameters, from the command line."""
    from typer._click.globals import get_current_context

    ctx = get_current_context()
    names: list[str] = []
    current: Any = ctx
    while current is not None:  # by the commands' own names: the same when a group's app runs alone
        if current.command.name and current.command.name != "streamgate":
            names.append(current.command.name)
        current = current.parent
    return " ".join(reversed(names)), dict(ctx.params)


@contextmanager
def audited(
    store: StateStore,
    stack: str,
    actor: str | None,
    reason: str | None,
    *,
    command: str | None = None,
    args: dict[str, Any] | None = None,
    via: str = "cli",
) -> Iterator[AuditEntry]:
    """Record the running command (by default the one on the command line, with its parameters)."""
    if command is None or args is None:
        name, params = command_params()
        command, args = command or name, arguments(params) if args is None else args
    entry = AuditEntry.begin(stack, command, actor_of(actor), reason, args, via)
    journal = Journal(store)
    journal.record(entry)
    code, detail = 1, ""
    try:
        yield entry
        code = 0
    except typer.Exit as exc:
        code = exc.exit_code
        raise
    except StreamgateError as exc:
        code, detail = exc.exit_code, str(exc)
        raise
    except KeyboardInterrupt:
        code, detail = 3, "interrupted"
        raise
    except Exception as exc:
        detail = f"{type(exc).__name__}: {exc}"
        raise
    finally:
        entry.end(code, detail or entry.detail)
        try:
            journal.record(entry)
        except Exception as exc:  # the work is done: say the trail lacks its end, do not hide the outcome
            from infra import clikit

            clikit.err_console.print(
                f"warning: the audit trail could not record the end of {entry.command} ({entry.id}): {exc}",
                highlight=False,
                markup=False,
            )
