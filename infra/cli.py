"""The `streamgate` command. Exit codes: 0 ok, 1 failed, 2 bad input or config, 3 aborted or rolled back."""

from __future__ import annotations

import gc
import importlib
import sys
import time
from collections.abc import Iterable
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.table import Table

from infra.clikit import JsonOpt, command_group, console, emit_json, err_console, report_error
from infra.config import available_stacks, load_stack
from infra.errors import StreamgateError

if TYPE_CHECKING:
    from infra.plan import Plan
    from policies.offline import PolicyReport

app = command_group(
    "streamgate",
    "StreamGate Platform: offline plans, the local platform, rollouts, failover and backups.",
)

# Each area keeps its commands in its own module (an `app`); `streamgate <area> --help` lists them. They are
# imported only when named on the command line (all of them for `--help`): `streamgate plan` should not pay
# for importing the automation's dependencies.
GROUPS = {
    "local": ("infra.local.cli", "The local platform: the whole system on this machine."),
    "alerts": ("infra.alerts.cli", "Alert and recording rules, and the Alertmanager config."),
    "rollout": ("infra.automation.rollout_cli", "Canary and blue-green rollouts gated on Prometheus."),
    "failover": ("infra.automation.failover_cli", "Regional failover: readiness plan, switchover, RTO/RPO."),
    "backup": ("infra.automation.backup_cli", "Encrypted backups: create, list, verify, restore, prune."),
    "drill": ("infra.automation.drill_cli", "Failover drills under load that measure RTO and RPO."),
}


def add_groups(names: Iterable[str] = GROUPS) -> None:
    for name in names:
        module, help_text = GROUPS[name]
        app.add_typer(importlib.import_module(module).app, name=name, help=help_text)


StackArg = Annotated[str, typer.Argument(help="Stack name: a stacks/Pulumi.<stack>.yaml file.")]


@app.command()
def stacks(as_json: JsonOpt = False) -> None:
    """List the stacks and whether each stack file is valid."""
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
    console.print(table)
    if not all(r["valid"] for r in rows):
        raise typer.Exit(2)


@app.command()
def plan(
    stack: StackArg,
    as_json: JsonOpt = False,
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
) -> None:
    """Offline plan of STACK: run the Pulumi program under Pulumi's mocks (no cloud, no credentials, no
    Pulumi CLI) and list what it would declare, grouped by region and component."""
    from infra.plan import run_plan, summarize

    cfg = load_stack(stack, require_secrets=require_secrets)
    started = time.perf_counter()
    with err_console.status(f"planning {stack} under mocks…", spinner="dots"):
        result = run_plan(cfg)
    elapsed = time.perf_counter() - started
    # The process ends after printing: spare the interpreter's shutdown a ~1.7 s scan of the plan's heap.
    gc.freeze()
    report = _policy_report(result) if policy else None
    if as_json:
        if report is None:
            emit_json([r.to_json() for r in result.resources])
            return
        emit_json({"resources": [r.to_json() for r in result.resources], "policy": report.to_json()})
        if not report.passed:
            raise typer.Exit(1)
        return
    table = Table("region", "component", "type", "count", title=f"offline plan of {stack}")
    last_region = None
    for region, component, typ, count in summarize(result):
        table.add_row(region if region != last_region else "", component, typ, str(count))
        last_region = region
    console.print(table)
    custom = sum(1 for r in result.resources if r.custom)
    console.print(
        f"{custom} resources in {len(result.regions)} region(s) "
        f"({', '.join(result.regions)}) + global; planned in {elapsed:.1f}s"
    )
    if report is not None:
        _print_policy_report(report)
        if not report.passed:
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
    if report.violations:
        table = Table(title=f"policy violations in {report.stack}")
        table.add_column("resource", overflow="fold")
        for column in ("policy", "message", "level"):
            table.add_column(column)
        for v in report.violations:
            level = f"[red]{v.level}[/red]" if v.level == "mandatory" else f"[yellow]{v.level}[/yellow]"
            table.add_row(v.resource, v.policy, v.message, level)
        console.print(table)
        console.print("how to fix:")
        for name, description in dict.fromkeys((v.policy, v.description) for v in report.violations):
            console.print(f"  [bold]{name}[/bold]: {description}", highlight=False)
    verdict = "[green]passed[/green]" if report.passed else "[red]failed[/red]"
    console.print(
        f"policies {verdict}: {len(report.policies)} policies ({report.config}), "
        f"{len(report.mandatory)} mandatory and {len(report.violations) - len(report.mandatory)} advisory "
        "violation(s)"
    )


def _backend_errors() -> tuple[type[BaseException], ...]:
    """The errors of the backends this command used. A client never imported raised nothing, so `plan`
    need not import redis and boto3 (0.3 s) just to name their errors."""
    errors: list[type[BaseException]] = [OSError]
    for module, name in (("redis.exceptions", "RedisError"), ("runtime.storage.errors", "StorageError")):
        if module in sys.modules:
            errors.append(getattr(sys.modules[module], name))
    return tuple(errors)


def main() -> None:
    named = next((arg for arg in sys.argv[1:] if not arg.startswith("-")), None)
    add_groups([named] if named in GROUPS else [] if named in {"plan", "stacks"} else GROUPS)
    try:
        app()
    except StreamgateError as exc:
        report_error(exc)
        sys.exit(exc.exit_code)
    except Exception as exc:
        if not isinstance(exc, _backend_errors()):
            raise
        # A backend the command needs (object store, Redis, a local server) is unreachable: one line,
        # exit 1, instead of a traceback.
        report_error(f"{exc} (is the platform up? `streamgate local status`)")
        sys.exit(1)
    except KeyboardInterrupt:
        err_console.print("interrupted")
        sys.exit(3)


if __name__ == "__main__":
    main()
