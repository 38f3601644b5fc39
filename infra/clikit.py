"""What every `streamgate` command group shares: construction, consoles, common options, errors, JSON."""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Annotated, Any, NoReturn

import typer
from rich.console import Console
from rich.markup import escape

from infra.errors import StreamgateError

console = Console()
err_console = Console(stderr=True)

StackOpt = Annotated[str, typer.Option("--stack", "-s", help="Stack name (stacks/Pulumi.<stack>.yaml).")]
JsonOpt = Annotated[bool, typer.Option("--json", help="Machine-readable output on stdout.")]
YesOpt = Annotated[bool, typer.Option("--yes", "-y", help="Do not ask for confirmation.")]
DryRunOpt = Annotated[bool, typer.Option("--dry-run", help="Show what would happen; change nothing.")]
OutputsOpt = Annotated[
    str | None,
    typer.Option(
        "--outputs",
        help="Cloud stacks: the stack's outputs, as `pulumi stack output --json --show-secrets > "
        "outputs.json` writes them (clusters, buckets, ids). Not needed for the local platform.",
    ),
]


def command_group(name: str, help: str) -> typer.Typer:
    """A typer app as every group is built: `-h`, no tracebacks for users, help when called bare."""
    return typer.Typer(
        name=name,
        help=help,
        no_args_is_help=True,
        pretty_exceptions_enable=False,
        context_settings={"help_option_names": ["-h", "--help"]},
    )


def report_error(exc: Exception | str) -> None:
    """One clear line on stderr; escaped so that `[memory]` in a message is not taken for markup."""
    err_console.print(f"[bold red]error:[/bold red] {escape(str(exc))}", highlight=False, soft_wrap=True)


def fail(exc: StreamgateError) -> NoReturn:
    """Report `exc` and exit with its code (2 bad input, 1 failed, 3 aborted)."""
    report_error(exc)
    raise typer.Exit(exc.exit_code)


@contextmanager
def reported() -> Iterator[None]:
    """Around a command's work: a StreamgateError becomes one line on stderr and its exit code."""
    try:
        yield
    except StreamgateError as exc:
        fail(exc)


def emit_json(value: Any) -> None:
    sys.stdout.write(json.dumps(value, indent=2, default=str) + "\n")
