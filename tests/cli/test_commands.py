"""The `streamgate` command as a whole: every group loads lazily (also one added later to GROUPS), start-up
imports no group, every command takes --stack where it takes a stack and shows an example and its exit
codes, errors are JSON under --json, output that is not a terminal is never cut, --version."""

from __future__ import annotations

import contextlib
import json
import os
import re
import subprocess
import sys
from collections.abc import Iterator
from importlib.metadata import version
from pathlib import Path
from typing import Any

import pytest
import typer
from typer.testing import CliRunner

from infra import cli, clikit
from infra.config import PROJECT_ROOT

PY = sys.executable


def run(
    *args: str, env: dict[str, str] | None = None, timeout: float = 120
) -> subprocess.CompletedProcess[str]:
    """The real entry point in a fresh process, as a user runs it (stdout is a pipe, not a terminal)."""
    return subprocess.run(
        [PY, "-c", "from infra.cli import main; main()", *args],
        capture_output=True,
        text=True,
        cwd=PROJECT_ROOT,
        env={**os.environ, **(env or {})},
        timeout=timeout,
    )


def commands() -> Iterator[tuple[str, Any, Any]]:
    """(path, command, context) of every leaf command, every group loaded."""
    top = typer.main.get_command(cli.app)
    root = typer.main.get_command(cli.app).make_context("streamgate", [], resilient_parsing=True)

    def walk(group: Any, ctx: Any, path: str) -> Iterator[tuple[str, Any, Any]]:
        for name in group.list_commands(ctx):
            command = group.get_command(ctx, name)
            sub = command.make_context(name, [], parent=ctx, resilient_parsing=True)
            if hasattr(command, "list_commands") and command.list_commands(sub):
                yield from walk(command, sub, f"{path} {name}")
            else:
                yield f"{path} {name}", command, sub

    yield from walk(top, root, "streamgate")


def test_help_imports_no_group_and_lists_every_group() -> None:
    probe = (
        "import sys; sys.argv = ['streamgate', '--help']\n"
        "from infra.cli import main\n"
        "try:\n    main()\nexcept SystemExit:\n    pass\n"
        "heavy = ('infra.automation', 'infra.local', 'infra.alerts', 'infra.console', 'infra.config', "
        "'pydantic', 'rich.table', 'pulumi')\n"
        "print('LOADED', sorted(m for m in sys.modules if m.startswith(heavy)))"
    )
    result = subprocess.run([PY, "-c", probe], capture_output=True, text=True, cwd=PROJECT_ROOT, timeout=60)
    assert result.returncode == 0, result.stderr
    assert "LOADED []" in result.stdout, result.stdout.splitlines()[-1]
    listed = " ".join(result.stdout.split())  # help wraps long lines
    for name, (_, short) in cli.GROUPS.items():
        assert f"{name} {short}" in listed


COMPLETE = (
    "import atexit, sys\n"
    "atexit.register(lambda: print('HEAVY', sorted(m for m in sys.modules if m.split('.')[0] == 'pydantic' "
    "or m.startswith(('infra.config', 'infra.automation.rollout.controller', 'pulumi', 'numpy', 'asyncpg')))))\n"
    "from infra.cli import main; main()"
)


@pytest.mark.parametrize(
    ("line", "expected"),
    [
        ("streamgate ro", ["rollout"]),
        ("streamgate rollout st", ["status"]),
        ("streamgate debug probe s", ["set", "snapshots"]),
        ("streamgate history --li", ["--limit"]),
        ("streamgate rollout canary --stack local --ver", ["--version"]),
        ("streamgate plan --st", ["--stack"]),
    ],
)
def test_completion_imports_no_stack_model_nor_pydantic(line: str, expected: list[str]) -> None:
    """A TAB completion parses the line only: the group named is imported, its work and typer's pydantic
    adapters are not (each cost ~0.1 s, on every TAB)."""
    env = {
        "_STREAMGATE_COMPLETE": "complete_bash",
        "COMP_WORDS": line,
        "COMP_CWORD": str(len(line.split()) - 1),
    }
    result = subprocess.run(
        [PY, "-c", COMPLETE], capture_output=True, text=True, cwd=PROJECT_ROOT, env={**os.environ, **env}
    )
    *words, heavy = result.stdout.splitlines()
    assert words == expected, result.stderr
    assert heavy == "HEAVY []"


@pytest.mark.parametrize("group", sorted(cli.GROUPS))
def test_completing_inside_every_group_imports_none_of_its_work(group: str) -> None:
    """Every group, including ones added later: completing its commands loads the group's CLI module only."""
    line = f"streamgate {group} "
    env = {"_STREAMGATE_COMPLETE": "complete_bash", "COMP_WORDS": line, "COMP_CWORD": "2"}
    result = subprocess.run(
        [PY, "-c", COMPLETE], capture_output=True, text=True, cwd=PROJECT_ROOT, env={**os.environ, **env}
    )
    *words, heavy = result.stdout.splitlines()
    assert words, result.stderr  # the group's commands were offered
    assert heavy == "HEAVY []"


class Marker(Exception):
    pass


def test_a_group_added_to_groups_later_is_loaded_lazily(monkeypatch: pytest.MonkeyPatch) -> None:
    module = type(sys)("tests.cli.fake_group")
    module.app = clikit.command_group("fake", "A group registered by one line.")  # type: ignore[attr-defined]

    @module.app.command()  # type: ignore[attr-defined]
    def hello(stack: clikit.StackOpt) -> None:
        """Say hello.

        Example: streamgate fake hello --stack dev"""
        typer.echo(f"hello {stack}")

    @module.app.command()  # type: ignore[attr-defined]
    def bye() -> None:
        """Say bye."""

    monkeypatch.setitem(sys.modules, "tests.cli.fake_group", module)
    monkeypatch.setitem(cli.GROUPS, "fake", ("tests.cli.fake_group", "A fake group, one line."))
    runner = CliRunner()
    listing = runner.invoke(cli.app, ["--help"])
    assert "fake" in listing.stdout and "A fake group, one line." in listing.stdout
    result = runner.invoke(cli.app, ["fake", "hello", "--stack", "dev"])
    assert result.exit_code == 0 and result.stdout == "hello dev\n"
    assert "Exit codes: 0 ok" in runner.invoke(cli.app, ["fake", "bye", "--help"]).stdout


def test_every_command_takes_stack_as_an_option_and_shows_an_example_and_its_exit_codes() -> None:
    seen = []
    for path, command, _ in commands():
        seen.append(path)
        text = f"{command.help}\n{command.epilog}"
        assert "Example: streamgate " in text, f"{path}: no example in its help"
        example = text.split("Example: ", 1)[1].split()[: len(path.split())]
        assert " ".join(example) == path, f"{path}: its example runs {' '.join(example)}"
        assert "Exit codes" in text, f"{path}: no exit codes in its help"
        for param in command.params:
            if param.name in ("stack", "stack_opt"):
                assert "--stack" in param.opts or any("--stack" in p.opts for p in command.params), path
    assert {
        "streamgate plan",
        "streamgate history",
        "streamgate console",
        "streamgate rollout status",
    } <= set(seen)
    shown = CliRunner().invoke(cli.app, ["rollout", "status", "--help"]).stdout  # as rendered
    assert "Example: streamgate rollout status --stack prod" in shown and "Exit codes: 0 ok" in shown


def test_version() -> None:
    result = run("--version")
    assert result.returncode == 0 and result.stdout == f"streamgate {version('streamgate')}\n"


@pytest.mark.parametrize(
    ("args", "code", "says"),
    [
        (["rollout", "status", "--stack", "nosuch", "--json"], 2, "no such stack file"),
        (["rollout", "status", "--json"], 2, "--stack"),  # a usage error, raised before the command runs
        (["nosuch", "--json"], 2, "No such command"),
        (
            ["backup", "restore", "--stack", "local", "not-an-id", "--region", "local-a", "--json"],
            2,
            "not a backup id",
        ),
    ],
)
def test_errors_are_json_under_json(args: list[str], code: int, says: str) -> None:
    result = run(*args)
    assert result.returncode == code, result.stderr
    error = json.loads(result.stdout)["error"]
    assert error["exit_code"] == code and says in error["message"]
    assert result.stderr == ""


def test_errors_are_one_line_without_json() -> None:
    result = run("rollout", "status", "--stack", "nosuch")
    assert result.returncode == 2 and result.stdout == ""
    assert result.stderr.startswith("error: ") and "no such stack file" in result.stderr


def test_plan_takes_the_stack_as_option_or_argument_and_is_not_cut_when_piped() -> None:
    as_option = run("plan", "--stack", "dev")
    assert as_option.returncode == 0, as_option.stderr
    as_argument = run("plan", "dev")
    assert as_argument.stdout.splitlines()[:-1] == as_option.stdout.splitlines()[:-1]  # the last: its time
    types = {r["type"] for r in json.loads(run("plan", "dev", "--json").stdout)}
    longest = max(types, key=len)
    assert len(longest) > 60  # long enough that an 80-column table would have cut it
    table = as_option.stdout
    assert all(t in table for t in types), sorted(t for t in types if t not in table)
    assert max(len(line) for line in table.splitlines()) > 80


def test_a_package_of_an_extra_that_is_missing_names_the_extra() -> None:
    error = clikit.missing_extra(
        ModuleNotFoundError("No module named 'matplotlib'", name="matplotlib.pyplot")
    )
    assert error is not None and error.exit_code == 2 and "pip install 'streamgate[report]'" in str(error)
    assert clikit.missing_extra(ModuleNotFoundError("x", name="numpy")) is None


def test_confirmation_by_typing_the_stack_name(tmp_path: Path) -> None:
    app = clikit.command_group("t", "t")
    done: list[str] = []

    @app.command()
    def wipe(stack: clikit.StackOpt, yes: clikit.YesOpt = False) -> None:
        clikit.confirm_stack(stack, f"wipe {stack}", yes)
        done.append(stack)

    @app.command()
    def other() -> None:
        pass

    runner = CliRunner()
    declined = runner.invoke(app, ["wipe", "--stack", "prod"], input="yes\n")
    assert declined.exit_code == 3 and "nothing was changed" in declined.output and done == []
    assert runner.invoke(app, ["wipe", "--stack", "prod"], input="").exit_code == 3 and done == []
    assert runner.invoke(app, ["wipe", "--stack", "prod"], input="prod\n").exit_code == 0 and done == ["prod"]
    assert runner.invoke(app, ["wipe", "--stack", "prod", "--yes"]).exit_code == 0 and done == [
        "prod",
        "prod",
    ]


WATCH = """
import itertools, sys
from infra import clikit
counter = itertools.count(1)
values = iter([1, 1, 2, 3])
last = clikit.watch(lambda: next(values), lambda v: f"step {v}", lambda v: v == 3,
                    as_json=sys.argv[1] == "json", interval=0.05)
print("last", last)
"""


def test_watch_redraws_in_place_on_a_terminal_and_prints_changes_elsewhere() -> None:
    import pty

    pid, fd = pty.fork()
    if pid == 0:  # the child: a terminal on its stdout
        os.execv(PY, [PY, "-c", WATCH, "human"])
    chunks = []
    with contextlib.suppress(OSError):
        while chunk := os.read(fd, 4096):
            chunks.append(chunk)
    os.waitpid(pid, 0)
    drawn = b"".join(chunks).decode()
    assert drawn.count("\r\x1b[2K") >= 3  # back to the line's start and erase it: redrawn in place
    text = re.sub(r"\x1b\[[0-9;?]*[a-zA-Z]", "", drawn)
    assert "step 1" in text and "step 3" in text and "last 3" in text
    piped = subprocess.run([PY, "-c", WATCH, "human"], capture_output=True, text=True, cwd=PROJECT_ROOT)
    assert piped.stdout.splitlines() == ["step 1", "step 2", "step 3", "last 3"]  # each change once
    lines = subprocess.run([PY, "-c", WATCH, "json"], capture_output=True, text=True, cwd=PROJECT_ROOT)
    assert lines.stdout.splitlines() == ["1", "2", "3", "last 3"]
