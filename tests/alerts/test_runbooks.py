"""Every command a runbook tells on-call to run is one the CLI accepts: parsed by the CLI's own parser (an
unknown flag or a missing required option fails), acting on the alerting region, and on a cloud stack's
outputs file where the command reaches cloud resources."""

from __future__ import annotations

import functools
import re
import shlex
from pathlib import Path
from typing import Any

import pytest
import typer
from typer.core import TyperGroup

from infra import cli

RUNBOOKS = Path(__file__).resolve().parents[2] / "infra" / "alerts" / "runbooks"
COMMAND = re.compile(r"`(streamgate [^`]+)`")
# The placeholders runbooks use (infra/alerts/README.md), filled in as on-call would for a prod alert.
PLACEHOLDERS = {
    "<stack>": "prod",
    "<region>": "eu-west-1",
    "<healthy-region>": "us-east-1",
    "<region-with-replica>": "us-east-1",
}
# Groups whose commands act on cloud resources (and so need the stack's outputs on a cloud stack).
CLOUD_GROUPS = {"rollout", "failover", "backup", "scale"}


def commands() -> list[tuple[str, str]]:
    found = [
        (runbook.stem, command)
        for runbook in sorted(RUNBOOKS.glob("*.md"))
        for command in COMMAND.findall(runbook.read_text())
    ]
    assert len(found) > 40  # the extractor sees the runbooks' commands
    return found


@functools.cache
def streamgate() -> Any:
    """The `streamgate` command as click sees it, every group added (as `streamgate --help` does)."""
    cli.add_groups()
    return typer.main.get_command(cli.app)


def parse(argv: list[str]) -> list[Any]:
    """Parse argv as `streamgate` does (typer's own click), down to the leaf command; raise its usage
    error on bad input."""
    command = streamgate()
    contexts = []
    parent = None
    args = list(argv)
    while True:
        ctx = command.make_context(command.name or "streamgate", args, parent=parent)
        contexts.append(ctx)
        if not isinstance(command, TyperGroup):
            return contexts
        name, sub, args = command.resolve_command(ctx, [*ctx._protected_args, *ctx.args])
        assert sub is not None, name
        command, parent = sub, ctx


def fill(command: str) -> list[str]:
    for placeholder, value in PLACEHOLDERS.items():
        command = command.replace(placeholder, value)
    leftover = re.findall(r"<[^>]+>", command)
    assert not leftover, f"unknown placeholder {leftover} in `{command}` (see infra/alerts/README.md)"
    return shlex.split(command)[1:]


@pytest.mark.parametrize(("runbook", "command"), commands(), ids=lambda v: v if " " not in v else None)
def test_runbook_command_parses_and_names_region_and_outputs(runbook: str, command: str) -> None:
    argv = fill(command)
    leaf = parse(argv)[-1]
    params = {p.name for p in leaf.command.params}
    group = argv[0]
    if group in CLOUD_GROUPS:
        assert leaf.params.get("stack") == "prod", command
        assert leaf.params.get("outputs") == "outputs.json", f"{runbook}: `{command}` lacks --outputs"
        if "region" in params:
            region = leaf.params["region"]
            assert region in ("eu-west-1", ["eu-west-1"]), f"{runbook}: `{command}` lacks --region <region>"
        else:
            assert leaf.params.get("to") in ("us-east-1", "eu-west-1"), command


@pytest.mark.parametrize(
    "argv",
    [
        ["rollout", "status", "--stack", "prod", "--regoin", "eu-west-1"],  # a misspelt flag
        ["failover", "plan", "--stack", "prod"],  # --to is required
        ["backup", "frobnicate", "--stack", "prod"],  # no such command
    ],
)
def test_the_parser_rejects_what_the_cli_rejects(argv: list[str]) -> None:
    with pytest.raises(Exception) as err:  # typer's click: a usage error, exit 2
        parse(argv)
    assert getattr(err.value, "exit_code", None) == 2, err.value
