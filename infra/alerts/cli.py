"""`streamgate alerts`: print the alert rules and Alertmanager config a stack would deploy."""

from __future__ import annotations

import sys
from enum import StrEnum
from typing import Annotated

import typer

from infra.clikit import command_group
from infra.errors import StreamgateError

app = command_group(
    "alerts",
    "Alert rules as code: render what a stack deploys (PrometheusRule, rule file, Alertmanager config).",
)


class Format(StrEnum):
    PROMETHEUS_RULE = "prometheus-rule"
    RULES = "rules"
    ALERTMANAGER = "alertmanager"


@app.callback()
def _alerts() -> None:
    """Alert rules as code."""


@app.command()
def render(
    stack: Annotated[
        str, typer.Option("--stack", "-s", help="Stack name: a stacks/Pulumi.<stack>.yaml file.")
    ],
    fmt: Annotated[
        Format,
        typer.Option(
            "--format",
            "-f",
            help="prometheus-rule: one PrometheusRule per region's cluster; rules: a plain Prometheus rule "
            "file; alertmanager: the Alertmanager config.",
        ),
    ] = Format.RULES,
    region: Annotated[
        str | None,
        typer.Option(
            "--region",
            "-r",
            help="Only this region's rules (as its cluster's Prometheus evaluates them). Default: "
            "prometheus-rule renders every region; rules renders one file for a Prometheus that sees all.",
        ),
    ] = None,
) -> None:
    """Print the rules or config STACK would deploy, for review (YAML on stdout).

    Example: streamgate alerts render --stack prod --format alertmanager"""
    try:
        # here, not at the top: completing `streamgate alerts <TAB>` imports this module (bench_cli.py)
        from infra.alerts.alertmanager import alertmanager_config
        from infra.alerts.render import prometheus_rule, rules_file, to_yaml
        from infra.config import load_stack

        cfg = load_stack(stack)
        if fmt is Format.ALERTMANAGER:
            if region is not None:
                raise typer.BadParameter("--region does not apply to the Alertmanager config")
            text = alertmanager_config(cfg)
        elif fmt is Format.RULES:
            text = rules_file(cfg, region)
        else:
            regions = [region] if region is not None else [r.name for r in cfg.regions]
            text = "---\n".join(to_yaml(prometheus_rule(cfg, name)) for name in regions)
    except StreamgateError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(exc.exit_code) from None
    sys.stdout.write(text)
