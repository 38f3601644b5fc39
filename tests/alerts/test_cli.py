"""`alerts render`: prints what a stack deploys, in each format; bad input exits 2 with one line."""

from __future__ import annotations

import yaml
from typer.testing import CliRunner

from infra.alerts import rule_groups, rules_file
from infra.alerts.alertmanager import alertmanager_config
from infra.alerts.cli import app
from infra.config import load_stack

runner = CliRunner()


def test_render_rules_prints_the_rule_file() -> None:
    result = runner.invoke(app, ["render", "--stack", "staging"])
    assert result.exit_code == 0, result.output
    assert result.output == rules_file(load_stack("staging"))
    assert yaml.safe_load(result.output)["groups"] == rule_groups(load_stack("staging"))


def test_render_rules_for_one_region() -> None:
    result = runner.invoke(app, ["render", "--stack", "prod", "--format", "rules", "--region", "eu-west-1"])
    assert result.exit_code == 0, result.output
    assert yaml.safe_load(result.output)["groups"] == rule_groups(load_stack("prod"), "eu-west-1")


def test_render_prometheus_rule_prints_one_manifest_per_region() -> None:
    result = runner.invoke(app, ["render", "--stack", "prod", "--format", "prometheus-rule"])
    assert result.exit_code == 0, result.output
    docs = list(yaml.safe_load_all(result.output))
    assert [d["kind"] for d in docs] == ["PrometheusRule"] * 3
    regions = [{r["labels"]["region"] for g in d["spec"]["groups"] for r in g["rules"]} for d in docs]
    assert regions == [{"us-east-1"}, {"eu-west-1"}, {"ap-southeast-1"}]
    one = runner.invoke(app, ["render", "-s", "prod", "-f", "prometheus-rule", "-r", "ap-southeast-1"])
    assert list(yaml.safe_load_all(one.output)) == docs[2:]


def test_render_alertmanager() -> None:
    result = runner.invoke(app, ["render", "--stack", "dev", "--format", "alertmanager"])
    assert result.exit_code == 0, result.output
    assert result.output == alertmanager_config(load_stack("dev"))


def test_bad_input_exits_2_with_one_line() -> None:
    unknown_region = runner.invoke(app, ["render", "--stack", "prod", "--region", "mars-north-1"])
    assert unknown_region.exit_code == 2
    assert unknown_region.output.strip().splitlines() == [
        "error: region 'mars-north-1' is not in stack prod (regions: us-east-1, eu-west-1, ap-southeast-1)"
    ]
    unknown_stack = runner.invoke(app, ["render", "--stack", "nope"])
    assert unknown_stack.exit_code == 2
    assert "no such stack file" in unknown_stack.output
    bad_format = runner.invoke(app, ["render", "--stack", "prod", "--format", "json"])
    assert bad_format.exit_code == 2
    region_for_am = runner.invoke(app, ["render", "--stack", "prod", "-f", "alertmanager", "-r", "us-east-1"])
    assert region_for_am.exit_code == 2


def test_help() -> None:
    result = runner.invoke(app, ["render", "--help"])
    assert result.exit_code == 0
    assert "prometheus-rule" in result.output
