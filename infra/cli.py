"""The `streamgate` command. Exit codes: 0 ok, 1 failed, 2 bad input or config, 3 aborted or rolled back.

Start-up is kept to typer and this module: `--help` and TAB completion answer in well under 0.3 s
(tests/benchmarks/bench_cli.py). Groups load lazily (GROUPS) and the top-level commands import their work
when they run.
"""

from __future__ import annotations

import gc
import json
import sys
import time
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from infra import clikit
from infra.clikit import JsonOpt, LazyGroup, command_group, emit_json, load_group, report_error, reported
from infra.errors import ConfigError, StreamgateError

if TYPE_CHECKING:
    from infra.plan import Plan
    from policies.offline import PolicyReport

# Each area keeps its commands in its own module (an `app`), imported only when the command line names it:
# `--help` and completion list a group by the one line here, so a new group is this one line.
GROUPS = {
    "local": ("infra.local.cli", "The local platform: the whole system on this machine."),
    "alerts": ("infra.alerts.cli", "Alert and recording rules, and the Alertmanager config."),
    "rollout": ("infra.automation.rollout.cli", "Canary and blue-green rollouts gated on Prometheus."),
    "failover": ("infra.automation.failover.cli", "Regional failover: readiness plan, switchover, RTO/RPO."),
    "backup": ("infra.automation.backup.cli", "Encrypted backups: create, list, verify, restore, prune."),
    "drill": ("infra.automation.drill.cli", "Failover drills under load that measure RTO and RPO."),
    "history": ("infra.automation.audit.cli", "The audit trail: who changed what, why, and how it ended."),
    "console": ("infra.console.cli", "A live web console of a stack: regions, weights, rollouts, alerts."),
    "profile": ("infra.profiles.cli", "Continuous CPU profiles of the gateways: list, flame graphs, diffs."),
    "debug": ("infra.debug.cli", "Debug probes on the gateways' hot paths: arm, list, clear, snapshots."),
    "scale": (
        "infra.automation.scale.cli",
        "Predictive scaling: forecast demand, raise capacity ahead of it.",
    ),
    "catalog": ("infra.catalog.cli", "The content catalog's database: migrations, their linter, seed data."),
}


class Streamgate(LazyGroup):
    lazy = GROUPS


app = command_group(
    "streamgate",
    "StreamGate Platform: offline plans, the local platform, rollouts, failover and backups.",
    cls=Streamgate,
)


def _version(value: bool) -> None:
    if value:
        from importlib.metadata import version

        typer.echo(f"streamgate {version('streamgate')}")
        raise typer.Exit()


@app.callback()
def _streamgate(
    version: Annotated[
        bool,
        typer.Option("--version", callback=_version, is_eager=True, help="Print the version and exit."),
    ] = False,
) -> None:
    """StreamGate Platform: offline plans, the local platform, rollouts, failover and backups."""


def add_groups(names: list[str] | None = None) -> None:
    """Import these groups now (default: all), e.g. to see what loading them costs or imports."""
    for name in GROUPS if names is None else names:
        module, short = GROUPS[name]
        load_group(name, module, short)


@app.command()
def stacks(as_json: JsonOpt = False) -> None:
    """List the stacks and whether each stack file is valid.

    Example: streamgate stacks --json"""
    from rich.table import Table

    from infra.config import available_stacks, load_stack

    rows: list[dict[str, Any]] = []
    for name in available_stacks():
        row: dict[str, Any] = {
            "stack": name,
            "valid": True,
            "environment": None,
            "regions": [],
            "error": None,
        }
        try:
            cfg = load_stack(name)
            row.update(environment=cfg.environment.value, regions=[r.name for r in cfg.regions])
        except StreamgateError as exc:
            row.update(valid=False, error=str(exc))
        rows.append(row)
    if as_json:
        emit_json(rows)
        return
    table = Table("stack", "environment", "regions", "status")
    for row in rows:
        status = "ok" if row["valid"] else f"[red]{row['error']}[/red]"
        table.add_row(row["stack"], row["environment"] or "-", ", ".join(row["regions"]), status)
    clikit.console.print(table)
    if not all(r["valid"] for r in rows):
        raise typer.Exit(2)


class Format(StrEnum):
    TABLE = "table"
    JSON = "json"
    MARKDOWN = "markdown"


@app.command()
def plan(
    stack: Annotated[
        str | None, typer.Argument(help="Stack name: a stacks/Pulumi.<stack>.yaml file.", show_default=False)
    ] = None,
    stack_opt: Annotated[
        str | None, typer.Option("--stack", "-s", help="The stack, as an option (same as STACK).")
    ] = None,
    all_stacks: Annotated[
        bool, typer.Option("--all", help="Every stack Pulumi deploys (target aws), in one process.")
    ] = False,
    as_json: JsonOpt = False,
    fmt: Annotated[
        Format,
        typer.Option(
            "--format", "-f", help="table, json (as --json) or markdown (a diff, for a pull-request comment)."
        ),
    ] = Format.TABLE,
    policy: Annotated[
        bool,
        typer.Option(
            "--policy",
            help="Also run the policy pack (policies/, config policies/config/STACK.json) over the plan; "
            "exit 1 on a mandatory violation. With --json: {resources, policy}.",
        ),
    ] = False,
    require_secrets: Annotated[
        bool,
        typer.Option(
            "--require-secrets",
            help="Fail (exit 2) unless every secret the stack needs is set in its stack file, as `pulumi "
            "up` requires; the offline plan itself uses placeholders.",
        ),
    ] = False,
    diff: Annotated[
        str | None,
        typer.Option(
            "--diff",
            metavar="BASE",
            help="Compare with BASE: a git ref (planned from a temporary worktree of it) or a saved plan "
            "(--save; with --all a directory of STACK.plan.json). Policy verdicts of both sides included.",
        ),
    ] = None,
    against: Annotated[
        Path | None,
        typer.Option(
            "--against",
            metavar="EXPORT",
            help="Compare with what is deployed: the JSON of `pulumi stack export` (no Pulumi CLI needed).",
        ),
    ] = None,
    save: Annotated[
        Path | None,
        typer.Option(
            "--save",
            metavar="PATH",
            help="Save the plan (with commit, stack and tool versions) to PATH; with --all, PATH is a "
            "directory of STACK.plan.json files.",
        ),
    ] = None,
    out_dir: Annotated[
        Path | None,
        typer.Option("--out-dir", help="With a diff, also write DIR/STACK.md (bounded) and DIR/STACK.json."),
    ] = None,
    artifact: Annotated[
        str | None,
        typer.Option("--artifact", help="Where the full diff is kept, named in the markdown's cut note."),
    ] = None,
    expect_no_changes: Annotated[
        bool, typer.Option("--expect-no-changes", help="With a diff: exit 1 if anything would change.")
    ] = False,
) -> None:
    """Offline plan of STACK: run the Pulumi program under Pulumi's mocks (no cloud, no credentials, no
    Pulumi CLI) and list what it would declare, grouped by region and component; with --diff or
    --against, what would change.

    Example: streamgate plan --stack prod --policy"""
    with reported():
        names = _plan_stacks(stack, stack_opt, all_stacks, require_secrets)
        if as_json and fmt not in (Format.TABLE, Format.JSON):
            raise ConfigError(f"--json and --format {fmt.value} ask for two outputs: give one")
        chosen = Format.JSON if as_json else fmt
        if diff is not None or against is not None:
            _preview(
                names, all_stacks, chosen, policy, diff, against, save, out_dir, artifact, expect_no_changes
            )
            return
        if out_dir is not None or chosen is Format.MARKDOWN or expect_no_changes:
            raise ConfigError(
                "--format markdown, --out-dir and --expect-no-changes need a diff: add --diff BASE or --against FILE"
            )
        _plain_plan(names, all_stacks, chosen is Format.JSON, policy, save)


def _plan_stacks(
    stack: str | None, stack_opt: str | None, all_stacks: bool, require_secrets: bool = False
) -> list[str]:
    from infra.config import load_stack

    if stack and stack_opt and stack != stack_opt:
        raise ConfigError(f"two stacks given ({stack} and --stack {stack_opt}): give one")
    name = stack or stack_opt
    if all_stacks:
        if name:
            raise ConfigError(f"--all plans every stack: drop {name}, or drop --all")
        from infra.preview.snapshot import cloud_stacks

        names = cloud_stacks()
        for each in names:
            load_stack(each, require_secrets=require_secrets)
        return names
    if not name:
        raise ConfigError("give a stack (STACK or --stack STACK) or --all")
    load_stack(name, require_secrets=require_secrets)  # a broken stack file is reported before planning
    return [name]


def _plain_plan(names: list[str], many: bool, as_json: bool, policy: bool, save: Path | None) -> None:
    from rich.table import Table

    from infra.config import load_stack
    from infra.plan import run_plan, summarize

    documents: dict[str, Any] = {}
    failed = False
    for name in names:
        cfg = load_stack(name)
        started = time.perf_counter()
        with clikit.err_console.status(f"planning {name} under mocks…", spinner="dots"):
            result = run_plan(cfg)
        elapsed = time.perf_counter() - started
        report = _policy_report(result) if policy or save else None
        if save is not None:
            assert report is not None
            _save(name, result, report, save, many)
        failed |= policy and report is not None and not report.passed
        if as_json:
            resources = [r.to_json() for r in result.resources]
            documents[name] = (
                {"resources": resources, "policy": report.to_json()} if policy and report else resources
            )
            continue
        table = Table("region", "component", "type", "count", title=f"offline plan of {name}")
        last_region = None
        for region, component, typ, count in summarize(result):
            table.add_row(region if region != last_region else "", component, typ, str(count))
            last_region = region
        clikit.console.print(table)
        custom = sum(1 for r in result.resources if r.custom)
        clikit.console.print(
            f"{custom} resources in {len(result.regions)} region(s) "
            f"({', '.join(result.regions)}) + global; planned in {elapsed:.1f}s"
        )
        if policy and report is not None:
            _print_policy_report(report)
    # The process ends after printing: spare the interpreter's shutdown a ~1.7 s scan of the plans' heap.
    # After the loop: a frozen heap would keep the next plan from aging its own (infra.plan._age_heap).
    gc.freeze()
    if as_json:
        emit_json(documents if many else documents[names[0]])
    if failed:
        raise typer.Exit(1)


def _save(name: str, result: Plan, report: PolicyReport, path: Path, many: bool) -> None:
    from infra.preview import saved
    from infra.preview.compare import saved_name
    from infra.preview.snapshot import document

    target = path / saved_name(name) if many else path
    saved.write(target, document(result, report), saved.provenance())
    clikit.err_console.print(f"saved the plan of {name} to {target}", highlight=False)


def _preview(
    names: list[str],
    many: bool,
    fmt: Format,
    policy: bool,
    diff: str | None,
    against: Path | None,
    save: Path | None,
    out_dir: Path | None,
    artifact: str | None,
    expect_no_changes: bool,
) -> None:
    """Plan the head and compare it with the base (a git ref, a saved plan or a stack export)."""
    from infra.preview import compare, markdown, saved
    from infra.preview.table import print_diff

    if diff is not None and against is not None:
        raise ConfigError("--diff and --against both give a base: choose one")
    from policies.offline import PolicyConfigError

    if against is not None and many:
        raise ConfigError("--against compares one stack with its export: give STACK, not --all")
    origin = saved.provenance()
    with clikit.err_console.status(f"planning {', '.join(names)} and the base under mocks…", spinner="dots"):
        try:
            if against is not None:
                heads, diffs = compare.against_export(against, names[0], origin)
            elif diff is not None and compare.is_saved(diff):
                heads, diffs = compare.against_saved(Path(diff), names, origin)
            else:
                assert diff is not None
                heads, diffs = compare.against_ref(diff, names, many, origin)
        except PolicyConfigError as exc:  # a broken policies/config/STACK.json: bad input, as in a plan
            raise ConfigError(str(exc)) from None
    gc.freeze()  # see _plain_plan
    for name, head in heads.items():
        if save is not None:
            target = save / compare.saved_name(name) if many else save
            saved.write(target, head, origin)
    if out_dir is not None:
        out_dir.mkdir(parents=True, exist_ok=True)
        for d in diffs:
            (out_dir / f"{d.stack}.md").write_text(markdown.render(d, artifact))
            (out_dir / f"{d.stack}.json").write_text(json.dumps(d.to_json(), indent=1) + "\n")
    if fmt is Format.JSON:
        emit_json({"stacks": [d.to_json() for d in diffs]} if many else diffs[0].to_json())
    elif fmt is Format.MARKDOWN:
        limit = markdown.LIMIT // max(1, len(diffs))
        sys.stdout.write("\n---\n\n".join(markdown.render(d, artifact, limit) for d in diffs))
    else:
        for d in diffs:
            print_diff(d, clikit.console)
    if policy and not all(head["policy"].get("passed", True) for head in heads.values()):
        raise typer.Exit(1)
    if expect_no_changes and not all(d.empty for d in diffs):
        changed = ", ".join(d.stack for d in diffs if not d.empty)
        report_error(f"--expect-no-changes: {changed} would change")
        raise typer.Exit(1)


def _policy_report(result: Plan) -> PolicyReport:
    """The policy pack over a plan; a broken policy config file is bad input (exit 2)."""
    from policies.offline import PolicyConfigError, run_policies

    try:
        return run_policies(result)
    except PolicyConfigError as exc:
        report_error(exc)
        raise typer.Exit(2) from None


def _print_policy_report(report: PolicyReport) -> None:
    from rich.table import Table

    if report.violations:
        table = Table(title=f"policy violations in {report.stack}")
        table.add_column("resource", overflow="fold")
        for column in ("policy", "message", "level"):
            table.add_column(column)
        for v in report.violations:
            level = f"[red]{v.level}[/red]" if v.level == "mandatory" else f"[yellow]{v.level}[/yellow]"
            table.add_row(v.resource, v.policy, v.message, level)
        clikit.console.print(table)
        clikit.console.print("how to fix:")
        for name, description in dict.fromkeys((v.policy, v.description) for v in report.violations):
            clikit.console.print(f"  [bold]{name}[/bold]: {description}", highlight=False)
    verdict = "[green]passed[/green]" if report.passed else "[red]failed[/red]"
    clikit.console.print(
        f"policies {verdict}: {len(report.policies)} policies ({report.config}), "
        f"{len(report.mandatory)} mandatory and {len(report.violations) - len(report.mandatory)} advisory "
        "violation(s)"
    )


def main() -> None:
    clikit.set_json_errors(sys.argv[1:])
    typer.main.get_command(app).main(prog_name="streamgate")


if __name__ == "__main__":
    main()
