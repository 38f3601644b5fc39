"""Saved plans (`streamgate plan STACK --save FILE`, `--diff FILE`) and the plan command's bad input, in
process (CliRunner). Planning is the session's cached plans, so these tests exercise the command, not the
mocks again."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

import policies.offline
from infra import cli
from infra.config import load_stack
from infra.preview import saved, snapshot
from tests.infra.preview_support import document_of_config, shipped_document, use_cached_plans

PLAN_DOCUMENT = snapshot.plan_document


@pytest.fixture(autouse=True)
def cached_plans(monkeypatch: pytest.MonkeyPatch) -> None:
    use_cached_plans(monkeypatch)


def invoke(*args: str) -> Any:
    return CliRunner().invoke(cli.app, ["plan", *args])


def test_a_saved_plan_records_where_it_came_from_and_diffs_to_nothing(tmp_path: Path) -> None:
    path = tmp_path / "prod.plan.json"
    result = invoke("prod", "--save", str(path))
    assert result.exit_code == 0, result.output[-2000:]
    document = json.loads(path.read_text())
    assert (document["format"], document["version"], document["stack"]) == ("streamgate-plan", 1, "prod")
    assert len(document["commit"]) == 40 and isinstance(document["dirty"], bool)
    assert document["tools"]["pulumi-aws"] and document["tools"]["streamgate"]
    assert document["policy"]["passed"] is True
    assert len(document["resources"]) == len(shipped_document("prod")["resources"])

    again = invoke("prod", "--diff", str(path), "--format", "json", "--expect-no-changes")
    assert again.exit_code == 0, again.output[-2000:]
    diff = json.loads(again.stdout)
    assert diff["changes"] == [] and diff["base"].startswith("prod.plan.json (")


def test_a_change_since_the_saved_plan_shows_and_fails_expect_no_changes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "prod.plan.json"
    assert invoke("prod", "--save", str(path)).exit_code == 0
    cfg = load_stack("prod")
    changed = document_of_config(
        cfg.model_copy(update={"waf": cfg.waf.model_copy(update={"rate_per_five_minutes": 100})})
    )
    monkeypatch.setattr(snapshot, "plan_document", lambda stack: changed)

    table = invoke("prod", "--diff", str(path))
    assert table.exit_code == 0, table.output[-2000:]
    assert "aws:wafv2/webAcl:WebAcl::waf-acl" in table.stdout and "1 to update" in table.stdout
    assert "5000" in table.stdout and "100" in table.stdout
    strict = invoke("prod", "--diff", str(path), "--expect-no-changes")
    assert strict.exit_code == 1 and "--expect-no-changes: prod would change" in strict.output


def test_every_stack_saved_to_a_directory_and_diffed_against_it(tmp_path: Path) -> None:
    assert invoke("--all", "--save", str(tmp_path / "plans"), "--json").exit_code == 0
    assert sorted(p.name for p in (tmp_path / "plans").iterdir()) == [
        "dev.plan.json",
        "prod.plan.json",
        "staging.plan.json",
    ]
    result = invoke("--all", "--diff", str(tmp_path / "plans"), "--format", "json")
    assert result.exit_code == 0, result.output[-2000:]
    assert [(d["stack"], d["changes"]) for d in json.loads(result.stdout)["stacks"]] == [
        ("dev", []),
        ("prod", []),
        ("staging", []),
    ]
    (tmp_path / "plans" / "staging.plan.json").unlink()
    missing = invoke("--all", "--diff", str(tmp_path / "plans"))
    assert missing.exit_code == 2 and "no saved plan staging.plan.json for stack staging" in missing.output


def write(path: Path, document: dict[str, Any]) -> str:
    path.write_text(json.dumps(document))
    return str(path)


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (
            {"format": saved.FORMAT, "version": saved.VERSION, "stack": "dev", "resources": [], "policy": {}},
            "a saved plan of stack 'dev', not 'prod': give the plan saved for prod",
        ),
        (
            {"format": saved.FORMAT, "version": 0, "stack": "prod", "resources": [], "policy": {}},
            "an older saved-plan format (version 0; this streamgate reads version 1): save it again with "
            "`streamgate plan prod --save FILE`",
        ),
        ({"version": 1, "resources": []}, "not a streamgate saved plan"),
        ("{not json", "cannot read a saved plan"),
    ],
)
def test_an_unusable_saved_plan_is_bad_input(tmp_path: Path, content: Any, message: str) -> None:
    path = tmp_path / "base.json"
    if isinstance(content, str):
        path.write_text(content)
    else:
        write(path, content)
    result = invoke("prod", "--diff", str(path))
    assert result.exit_code == 2, result.output[-2000:]
    assert message in result.output.replace("\n", " ") and str(path) in result.output.replace("\n", "")


@pytest.mark.parametrize(
    ("args", "message"),
    [
        ((), "give a stack (STACK or --stack STACK) or --all"),
        (("prod", "--all"), "--all plans every stack: drop prod, or drop --all"),
        (("prod", "--stack", "dev"), "two stacks given (prod and --stack dev)"),
        (("prod", "--diff", "HEAD", "--against", "x.json"), "--diff and --against both give a base"),
        (("prod", "--format", "markdown"), "need a diff: add --diff BASE or --against FILE"),
        (("prod", "--json", "--format", "markdown"), "--json and --format markdown ask for two outputs"),
        (("--all", "--against", "x.json"), "--against compares one stack with its export"),
        (("nosuchstack", "--diff", "HEAD"), "no such stack file"),
    ],
)
def test_bad_arguments_exit_2_with_one_line(args: tuple[str, ...], message: str) -> None:
    result = invoke(*args)
    assert result.exit_code == 2, result.output[-2000:]
    assert message in result.output.replace("\n", " ")


def test_the_stack_as_an_option_plans_like_the_argument() -> None:
    by_option = invoke("--stack", "dev", "--json")
    by_argument = invoke("dev", "--json")
    assert by_option.exit_code == by_argument.exit_code == 0
    assert by_option.stdout == by_argument.stdout


def test_a_broken_policy_config_is_bad_input_in_a_diff_too(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "prod.plan.json"
    assert invoke("prod", "--save", str(path)).exit_code == 0
    (tmp_path / "config").mkdir()
    (tmp_path / "config" / "prod.json").write_text('{"no-such-policy": "mandatory"}')
    monkeypatch.setattr(policies.offline, "CONFIG_DIR", tmp_path / "config")
    monkeypatch.setattr(snapshot, "plan_document", PLAN_DOCUMENT)  # the real one, over the cached plan
    result = invoke("prod", "--diff", str(path))
    assert result.exit_code == 2, result.output[-2000:]
    assert "no-such-policy: no such policy" in result.output.replace("\n", " ")
