"""What every `streamgate` command group shares: construction, lazy loading, consoles, common options,
errors (as one line, or as JSON under --json), confirmations and watch views.

Kept cheap to import: `streamgate --help` and every TAB completion import this module and typer only.
"""

from __future__ import annotations

import importlib
import json
import os
import sys
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING, Annotated, Any, ClassVar, NoReturn

import typer

# typer carries its own copy of click (pyproject pins a typer that does): its commands, contexts and errors.
from typer import _click as click
from typer._click.globals import get_current_context
from typer._coercion import PassThroughRuntimeParam, RuntimeParam
from typer.core import TyperCommand, TyperGroup

from infra.errors import ConfigError, StreamgateError

if TYPE_CHECKING:
    from rich.console import Console, RenderableType

COMPLETE_VAR = "_STREAMGATE_COMPLETE"  # click sets it in the process a shell starts to complete a line
EXIT_CODES = "Exit codes: 0 ok, 1 failed, 2 bad input or config, 3 aborted or rolled back."
# Output that is not a terminal (a file, a pipe, CI logs) is never cut: rich would wrap it at 80 columns.
UNBOUNDED_WIDTH = 100_000

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
ActorOpt = Annotated[
    str | None,
    typer.Option(
        "--actor",
        help="Who acts, for the audit trail (default: $STREAMGATE_ACTOR, else the login name@host).",
        show_default=False,
    ),
]
ReasonOpt = Annotated[
    str | None, typer.Option("--reason", help="Why, for the audit trail (`streamgate history`).")
]
WatchOpt = Annotated[
    bool,
    typer.Option(
        "--watch", "-w", help="Redraw in place until the operation ends (with --json: one JSON line each)."
    ),
]
EveryOpt = Annotated[float, typer.Option("--every", min=0.2, help="Seconds between redraws (--watch).")]


# -- groups -------------------------------------------------------------------------------------------


def completing(command: click.Command | None, ctx: click.Context) -> click.Command | None:
    """In a completion process (click's `_STREAMGATE_COMPLETE`) a command's options are kept as typed:
    typer would import pydantic to build an adapter for each (~0.1 s) while the line is only parsed."""
    if command is not None and COMPLETE_VAR in os.environ:
        for param in command.get_params(ctx):  # with its help option
            described = getattr(param, "type_descriptor", None)
            if described is not None and param._runtime_param is None:  # type: ignore[attr-defined]
                param._runtime_param = _AsTyped(  # type: ignore[attr-defined]
                    annotation=described.annotation, parameter_info=described.parameter_info
                )
    return command


@dataclass(frozen=True)
class _AsTyped(RuntimeParam):
    """A value kept as typed: a TAB completion only parses the line, nothing runs."""

    def _coerce_value(self, value: Any, param: Any, ctx: click.Context) -> Any:
        return value


class Group(TyperGroup):
    """Every group of the CLI (see `command_group`)."""

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        return completing(super().get_command(ctx, cmd_name), ctx)

    def get_params(self, ctx: click.Context) -> list[click.Parameter]:
        """Flags pass through as they are: typer would build a pydantic adapter for an unset flag while a
        TAB completion parses the line (~0.1 s of imports for `--version`)."""
        params = super().get_params(ctx)
        for param in params:
            described = getattr(param, "type_descriptor", None)
            if described is not None and described.annotation is bool and param._runtime_param is None:  # type: ignore[attr-defined]
                param._runtime_param = PassThroughRuntimeParam(  # type: ignore[attr-defined]
                    annotation=bool, parameter_info=described.parameter_info
                )
        return params


class LazyGroup(Group):
    """click's LazyGroup pattern: subcommands named in `lazy` (name → (module, one-line help)) are imported
    only when invoked. Listing them (`--help`, TAB completion) uses the one-line help alone, so neither
    imports an area's dependencies. Every command shown gets the exit codes in its help."""

    lazy: ClassVar[Mapping[str, tuple[str, str]]] = {}
    _listing = 0

    def list_commands(self, ctx: click.Context) -> list[str]:
        return [*super().list_commands(ctx), *(n for n in self.lazy if n not in self.commands)]

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        command = super().get_command(ctx, cmd_name)
        if command is None and cmd_name in self.lazy:
            module, short = self.lazy[cmd_name]
            if self._listing:
                return TyperCommand(cmd_name, help=short, short_help=short)
            command = completing(load_group(cmd_name, module, short), ctx)
        return with_exit_codes(command) if command is not None else None

    @contextmanager
    def _listed(self) -> Iterator[None]:
        self._listing += 1
        try:
            yield
        finally:
            self._listing -= 1

    def format_help(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        with self._listed():
            super().format_help(ctx, formatter)

    def shell_complete(self, ctx: click.Context, incomplete: str) -> list[Any]:
        with self._listed():
            return list(super().shell_complete(ctx, incomplete))

    def main(self, *args: Any, **kwargs: Any) -> Any:
        """As click's, with StreamgateError (and a backend that does not answer) as one line or JSON and
        its exit code, usage errors as JSON under --json, and an abort as exit 3."""
        kwargs["standalone_mode"] = False
        try:
            code = super().main(*args, **kwargs)
        except click.ClickException as exc:
            if json_errors():
                report_error(exc.format_message(), exc.exit_code)
            else:
                from typer import rich_utils

                rich_utils.rich_format_error(exc)
            sys.exit(exc.exit_code)
        except typer.Abort:
            report_error("aborted", 3)
            sys.exit(3)
        except StreamgateError as exc:
            report_error(exc)
            sys.exit(exc.exit_code)
        except KeyboardInterrupt:
            report_error("interrupted", 3)
            sys.exit(3)
        except ModuleNotFoundError as exc:
            if (error := missing_extra(exc)) is None:
                raise
            report_error(error)
            sys.exit(error.exit_code)
        except Exception as exc:
            if not isinstance(exc, backend_errors()):
                raise
            # A backend the command needs (object store, Redis, a local server) is unreachable: one line,
            # exit 1, instead of a traceback.
            report_error(f"{exc} (is the platform up? `streamgate local status`)", 1)
            sys.exit(1)
        sys.exit(code if isinstance(code, int) else 0)


_LOADED: dict[str, click.Command] = {}


def load_group(name: str, module: str, short: str) -> click.Command:
    """Import `module` and build the command of its `app` (once per process)."""
    if name not in _LOADED:
        app = importlib.import_module(module).app
        command = typer.main.get_command(app)
        command.name, command.short_help = name, short
        _LOADED[name] = command
    return _LOADED[name]


def with_exit_codes(command: click.Command) -> click.Command:
    """Each command's help ends with the exit codes, unless its own help states them."""
    commands = getattr(command, "commands", {})
    for sub in commands.values():
        with_exit_codes(sub)
    if not commands and "Exit codes" not in f"{command.help or ''}{command.epilog or ''}":
        command.epilog = f"{command.epilog}\n\n{EXIT_CODES}" if command.epilog else EXIT_CODES
    return command


# Packages of an optional extra, by import name: a command that needs one names the extra to install.
EXTRAS = {"supervisor": "local", "jinja2": "local", "moto": "local", "matplotlib": "report"}


def missing_extra(exc: ModuleNotFoundError) -> ConfigError | None:
    """The bad-input error for a package of an extra that is not installed (None: not an extra's)."""
    package = (exc.name or "").partition(".")[0]
    if package not in EXTRAS:
        return None
    extra = EXTRAS[package]
    return ConfigError(
        f"this command needs {package}: install the {extra} extra: pip install 'streamgate[{extra}]'"
    )


def command_group(name: str, help: str, *, cls: type[TyperGroup] | None = None) -> typer.Typer:
    """A typer app as every group is built: `-h`, no tracebacks for users, help when called bare."""
    return typer.Typer(
        name=name,
        help=help,
        cls=cls or Group,
        # The top-level help in click's plain format: typer's rich one costs ~0.1 s of imports.
        rich_markup_mode=None if cls is not None else "rich",
        no_args_is_help=True,
        pretty_exceptions_enable=False,
        add_completion=cls is not None,  # the top-level app installs completion for all
        context_settings={"help_option_names": ["-h", "--help"]},
    )


# -- consoles -----------------------------------------------------------------------------------------


def _console(stderr: bool) -> Console:
    from rich.console import Console

    stream = sys.stderr if stderr else sys.stdout
    width = None
    if not stream.isatty():
        width = int(os.environ.get("COLUMNS") or 0) or UNBOUNDED_WIDTH
    return Console(stderr=stderr, width=width)


_consoles: dict[str, Console] = {}


def _get(name: str) -> Console:
    if name not in _consoles:
        _consoles[name] = _console(stderr=name == "err_console")
    return _consoles[name]


def __getattr__(name: str) -> Console:
    """`console` (stdout) and `err_console` (stderr), built on first use: rich costs ~50 ms to import."""
    if name not in ("console", "err_console"):
        raise AttributeError(name)
    return _get(name)


if TYPE_CHECKING:
    console: Console
    err_console: Console


# -- errors and JSON ----------------------------------------------------------------------------------

_json_argv = False


def set_json_errors(argv: list[str]) -> None:
    """Before a command line is parsed: errors of usage are JSON when it asks for --json."""
    global _json_argv
    options = argv[: argv.index("--")] if "--" in argv else argv
    _json_argv = "--json" in options


def json_errors() -> bool:
    """True when the running command was given --json: its errors go to stdout as JSON too."""
    ctx = get_current_context(silent=True)
    while ctx is not None:
        if ctx.params.get("as_json"):
            return True
        ctx = ctx.parent
    return _json_argv


def report_error(exc: Exception | str, exit_code: int | None = None) -> None:
    """One clear line on stderr (escaped: `[memory]` in a message is not markup); under --json, one JSON
    object `{"error": {message, exit_code, type}}` on stdout, where a script reads."""
    code = exit_code if exit_code is not None else getattr(exc, "exit_code", 1)
    if json_errors():
        kind = type(exc).__name__ if isinstance(exc, Exception) else "UsageError"
        error = {"message": str(exc), "exit_code": code, "type": kind}
        sys.stdout.write(json.dumps({"error": error}) + "\n")
        return
    from rich.markup import escape

    _get("err_console").print(
        f"[bold red]error:[/bold red] {escape(str(exc))}", highlight=False, soft_wrap=True
    )


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


def emit_json_line(value: Any) -> None:
    """One compact JSON document per line (a watch's stream), flushed so a reader sees it at once."""
    sys.stdout.write(json.dumps(value, default=str, separators=(",", ":")) + "\n")
    sys.stdout.flush()


def backend_errors() -> tuple[type[BaseException], ...]:
    """The errors of the backends this command used. A client never imported raised nothing, so `plan`
    need not import redis and boto3 (0.3 s) just to name their errors."""
    errors: list[type[BaseException]] = [OSError]
    for module, name in (("redis.exceptions", "RedisError"), ("runtime.storage.errors", "StorageError")):
        if module in sys.modules:
            errors.append(getattr(sys.modules[module], name))
    return tuple(errors)


# -- confirmation -------------------------------------------------------------------------------------


def confirm_stack(stack: str, what: str, yes: bool) -> None:
    """A destructive command's confirmation: the operator types the stack's name (as GitHub asks for a
    repository's). Anything else, or no answer, aborts (exit 3) with nothing changed."""
    if yes:
        return
    _get("err_console").print(f"[bold]{what}[/bold]", highlight=False)
    try:
        typed = typer.prompt(f"type the stack name ({stack}) to confirm, or --yes", err=True, default="")
    except (typer.Abort, EOFError):
        typed = ""
    if typed.strip() != stack:
        report_error(f"not confirmed ({stack!r} was not typed): nothing was changed", 3)
        raise typer.Exit(3)


# -- watch views --------------------------------------------------------------------------------------


def watch(
    read: Callable[[], Any],
    render: Callable[[Any], RenderableType],
    finished: Callable[[Any], bool],
    *,
    as_json: bool,
    interval: float = 1.0,
    timeout: float | None = None,
) -> Any:
    """Poll `read()` until `finished(value)`: redrawn in place with rich Live on a terminal; with --json one
    line per change (a script follows them); printed once per change otherwise (logs). The last value."""
    deadline = None if timeout is None else time.monotonic() + timeout
    last: Any = None
    seen = None

    def changed(value: Any) -> bool:
        nonlocal seen
        key = json.dumps(value, default=str, sort_keys=True)
        new, seen = key != seen, key
        return new

    def ticks() -> Iterator[Any]:
        while True:
            value = read()
            yield value
            if finished(value) or (deadline is not None and time.monotonic() > deadline):
                return
            time.sleep(interval)

    if as_json:
        for last in ticks():
            if changed(last):
                emit_json_line(last)
        return last
    out = _get("console")
    if not out.is_terminal:
        for last in ticks():
            if changed(last):
                out.print(render(last))
        return last
    from rich.live import Live

    with Live(console=out, auto_refresh=False) as live:
        for last in ticks():
            live.update(render(last), refresh=True)
    return last
