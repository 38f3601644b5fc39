"""The GitHub workflows: actionlint passes on every one, they are wired as the design says (a matrix over the
stacks Pulumi deploys, one comment per stack, the cloud preview only where configured, prod behind an
approval applying the reviewed plan), and every command they run parses with this code's CLIs."""

from __future__ import annotations

import importlib
import json
import re
import shlex
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import typer
import yaml

from infra import cli
from infra.ci import comment, smoke
from infra.config import PROJECT_ROOT
from infra.preview.snapshot import cloud_stacks

WORKFLOWS = PROJECT_ROOT / ".github" / "workflows"
ACTIONLINT = Path(sys.executable).with_name("actionlint")  # from the actionlint wheel in the dev extra


def workflow(name: str) -> dict[str, Any]:
    document = yaml.safe_load((WORKFLOWS / name).read_text())
    document["on"] = document.pop(True)  # YAML 1.1 reads the key `on` as true
    return dict(document)


def steps(job: dict[str, Any]) -> list[dict[str, Any]]:
    return list(job["steps"])


def test_actionlint_passes_on_every_workflow() -> None:
    files = sorted(WORKFLOWS.glob("*.yml"))
    assert [f.name for f in files] == ["ci.yml", "deploy.yml", "preview.yml"]
    assert ACTIONLINT.is_file(), "actionlint is missing: `make setup` installs the dev extra"
    done = subprocess.run(
        [str(ACTIONLINT), "-no-color", *map(str, files)], cwd=PROJECT_ROOT, capture_output=True, text=True
    )
    assert done.returncode == 0, done.stdout + done.stderr


def test_actionlint_catches_a_broken_workflow(tmp_path: Path) -> None:
    """The check above can fail: an undefined step output and an unknown `needs` are reported."""
    broken = tmp_path / "broken.yml"
    broken.write_text(
        "on: push\njobs:\n  a:\n    runs-on: ubuntu-24.04\n    needs: nosuchjob\n    steps:\n"
        "      - run: echo ${{ steps.nope.outputs.x }}\n"
    )
    done = subprocess.run([str(ACTIONLINT), "-no-color", str(broken)], capture_output=True, text=True)
    assert done.returncode == 1 and "nosuchjob" in done.stdout and "nope" in done.stdout


def test_preview_plans_each_stack_and_comments_once_per_stack() -> None:
    preview = workflow("preview.yml")
    assert "pull_request" in preview["on"]
    jobs = preview["jobs"]
    assert jobs["stacks"]["steps"][-1]["run"].endswith(
        '$(.venv/bin/python -m infra.ci.matrix)" >> "$GITHUB_OUTPUT"'
    )
    offline = jobs["offline"]
    assert offline["strategy"]["matrix"]["stack"] == "${{ fromJSON(needs.stacks.outputs.stacks) }}"
    assert offline["permissions"] == {"contents": "read", "pull-requests": "write"}
    assert offline["steps"][0]["with"]["fetch-depth"] == 0  # the base commit must be there
    uses = [s.get("uses", "") for s in steps(offline)]
    assert any(u.startswith("astral-sh/setup-uv@") for u in uses)
    setup = next(s for s in steps(offline) if s.get("uses", "").startswith("astral-sh/setup-uv@"))
    assert setup["with"]["enable-cache"] is True
    runs = "\n".join(s.get("run", "") for s in steps(offline))
    assert '--diff "$BASE_SHA" --policy --out-dir plan' in runs
    assert 'cat "plan/$STACK.md" >> "$GITHUB_STEP_SUMMARY"' in runs
    assert "-m infra.ci.comment" in runs
    assert any(u.startswith("actions/upload-artifact@") for u in uses)
    verdict = steps(offline)[-1]
    assert verdict["if"] == "steps.plan.outputs.exit != '0'" and "exit 1" in verdict["run"]

    cloud = jobs["cloud"]
    assert cloud["if"] == "vars.AWS_PREVIEW_ROLE_ARN != '' && vars.PULUMI_BACKEND_URL != ''"
    assert cloud["permissions"]["id-token"] == "write"
    pulumi = next(s for s in steps(cloud) if s.get("uses", "").startswith("pulumi/actions@"))
    assert pulumi["with"]["command"] == "preview" and pulumi["with"]["diff"] is True
    assert pulumi["with"]["policyPacks"] == "policies"


def test_deploy_goes_staging_then_prod_behind_approval_with_the_reviewed_plan() -> None:
    deploy = workflow("deploy.yml")
    assert deploy["on"]["push"]["branches"] == ["main"]
    assert deploy["concurrency"]["cancel-in-progress"] is False
    jobs = deploy["jobs"]
    assert jobs["prod-plan"]["needs"] == "staging" and jobs["prod"]["needs"] == "prod-plan"
    assert jobs["prod"]["environment"] == "production"
    pulumi = {
        (name, s["with"]["command"]): s["with"]
        for name, job in jobs.items()
        for s in steps(job)
        if s.get("uses", "").startswith("pulumi/actions@")
    }
    assert (
        pulumi[("prod-plan", "preview")]["plan"] == pulumi[("prod", "up")]["plan"] == "prod.update-plan.json"
    )
    assert pulumi[("staging", "preview")]["plan"] == pulumi[("staging", "up")]["plan"]
    assert deploy["env"]["PULUMI_EXPERIMENTAL"] == "true"
    prod_runs = "\n".join(s.get("run", "") for s in steps(jobs["prod"]))
    order = [prod_runs.index(k) for k in ("--expect-no-changes", "alerts render", "infra.ci.smoke")]
    assert order == sorted(order)
    names = [s.get("name", s.get("uses", "")) for s in steps(jobs["prod"])]
    assert names.index("pulumi up (only what the reviewed plan allows)") < names.index(
        "Alert rules and Alertmanager config as deployed"
    )


def test_ci_runs_what_ci_run_runs() -> None:
    ci = workflow("ci.yml")
    runs = [s.get("run") for s in steps(ci["jobs"]["check"])]
    assert runs[-1] == ".ci/run"
    assert "sudo make system-packages" in runs
    assert "make setup" in (PROJECT_ROOT / ".ci" / "run").read_text()


def commands() -> list[list[str]]:
    """Every `streamgate` and `python -m infra.ci.*` command line in the workflows, `$VAR`s as `1`."""
    found = []
    for path in sorted(WORKFLOWS.glob("*.yml")):
        for job in yaml.safe_load(path.read_text())["jobs"].values():
            for step in job["steps"]:
                script = step.get("run", "").replace("\\\n", " ")
                lines = script.splitlines()
                lines += [inner for line in lines for inner in re.findall(r"\$\(([^)]*)\)", line)]
                for line in lines:
                    line = re.sub(r"\$\(([^)]*)\)", "1", line)  # command substitutions, scanned above
                    line = re.sub(r"\$\{?[A-Za-z_]+\}?|\$\{\{[^}]*\}\}", "1", line)
                    words = shlex.split(line.split(">")[0])
                    for i, word in enumerate(words):
                        if word.endswith("bin/streamgate"):
                            found.append(["streamgate", *words[i + 1 :]])
                        elif word == "-m" and words[i + 1].startswith("infra.ci."):
                            found.append([words[i + 1], *words[i + 2 :]])
    return found


def parse_streamgate(args: list[str]) -> None:
    module = cli.GROUPS[args[0]][0] if args[0] in cli.GROUPS else None
    app = importlib.import_module(module).app if module else cli.app
    command = typer.main.get_command(app)
    rest = args[1:] if module else args
    name = "streamgate"
    while hasattr(command, "commands"):  # a group; ours take no options of their own
        name, *rest = rest
        command = command.commands[name]
    command.make_context(name, list(rest))  # raises a usage error on an unknown option or a bad value


def test_every_command_the_workflows_run_parses() -> None:
    found = commands()
    scripts = {args[0] for args in found if args[0].startswith("infra.ci.")}
    assert scripts == {"infra.ci.matrix", "infra.ci.comment", "infra.ci.smoke"}
    assert sum(1 for args in found if args[0] == "streamgate") >= 6
    for args in found:
        if args[0] == "streamgate":
            parse_streamgate(args[1:])
        elif args[0] == "infra.ci.comment":
            comment.parser().parse_args(args[1:])
        elif args[0] == "infra.ci.smoke":
            smoke.parser().parse_args(args[1:])


def test_an_unknown_option_would_be_caught() -> None:
    with pytest.raises(Exception, match="No such option: --no-such-option"):
        parse_streamgate(["plan", "prod", "--no-such-option"])
    with pytest.raises(Exception, match="'yaml' is not one of"):
        parse_streamgate(["alerts", "render", "--stack", "prod", "--format", "yaml"])


def test_the_matrix_is_the_stacks_pulumi_deploys() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "infra.ci.matrix"],
        cwd=PROJECT_ROOT,
        capture_output=True,
        text=True,
        check=True,
    )
    assert json.loads(done.stdout) == cloud_stacks() == ["dev", "prod", "staging"]
