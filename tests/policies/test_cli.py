"""`streamgate plan STACK --policy`, in-process (CliRunner; exit codes as the command returns them): the prod
stack passes (exit 0), a stack file that breaks mandatory policies fails (exit 1) and names them; what the
stack model can tell from the file alone it refuses before planning (exit 2)."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml
from rich.console import Console
from typer.testing import CliRunner

import infra.plan
from infra import cli, clikit
from infra.config import StackConfig, load_stack, stack_file
from infra.errors import ConfigError
from infra.plan import Plan
from policies.pack import POLICIES


@pytest.fixture
def wide(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(clikit._consoles, "console", Console(width=250))  # no wrapping inside the cells


def test_prod_passes_and_json_carries_plan_and_verdict(
    plan_of: Callable[[str], Plan], monkeypatch: pytest.MonkeyPatch, wide: None
) -> None:
    # The session's prod plan (the same `run_plan` output), so the test doesn't plan prod a second time.
    planned: list[str] = []

    def cached(cfg: StackConfig, program: Any = None) -> Plan:
        planned.append(cfg.stack)
        return plan_of(cfg.stack)

    monkeypatch.setattr(infra.plan, "run_plan", cached)
    runner = CliRunner()
    result = runner.invoke(cli.app, ["plan", "prod", "--policy", "--json"])
    assert result.exit_code == 0, result.output[-3000:]
    document = json.loads(result.stdout)
    assert {"type", "name", "urn", "inputs"} <= set(document["resources"][0])
    policy = document["policy"]
    assert policy["passed"] is True and policy["violations"] == []
    assert policy["stack"] == "prod" and policy["config"].endswith("policies/config/prod.json")
    assert policy["policies"] == [p.name for p in POLICIES]

    table = runner.invoke(cli.app, ["plan", "prod", "--policy"])
    assert table.exit_code == 0 and f"policies passed: {len(POLICIES)} policies" in table.stdout
    assert planned == ["prod", "prod"]


def test_a_stack_breaking_mandatory_policies_exits_1(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, wide: None
) -> None:
    """A stack the stack model accepts but the pack refuses: backups kept 5 days, below the pack's default
    minimum (7) for a stack without a policy config of its own."""
    document = yaml.safe_load(stack_file("dev").read_text())
    document["config"]["streamgate:backup"].update(retentionDays=5, coldStorageAfterDays=3)
    (tmp_path / "Pulumi.broken.yaml").write_text(yaml.safe_dump(document))
    monkeypatch.setenv("STREAMGATE_STACKS_DIR", str(tmp_path))

    result = CliRunner().invoke(cli.app, ["plan", "broken", "--policy"])
    out = result.stdout
    assert result.exit_code == 1, out[-3000:]
    assert "policy violations in broken" in out and "policies failed" in out
    for expected in (
        "backup-bucket-retention",
        "rule cold-then-expire expiration after 5 days < the minimum 7",
        "mandatory",
        "how to fix:",
        "backup-bucket-retention: Backup buckets need a lifecycle configuration",
    ):
        assert expected in out, (expected, out[-3000:])


def test_prod_policies_the_stack_model_knows_fail_at_load(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """What the prod policies would refuse after a plan, the stack model refuses first (exit 2), naming
    the policy: EKS endpoints open to the internet, single-node node groups, one-pod gateways."""
    document = yaml.safe_load(stack_file("prod").read_text())
    config = document["config"]
    for region in config["streamgate:regions"]:
        region["cluster"].update(publicAccessCidrs=["0.0.0.0/0"], minNodes=1, desiredNodes=1)
    config["streamgate:autoscaling"]["minReplicas"] = 1
    (tmp_path / "Pulumi.broken.yaml").write_text(yaml.safe_dump(document))
    monkeypatch.setenv("STREAMGATE_STACKS_DIR", str(tmp_path))

    with pytest.raises(ConfigError) as err:
        load_stack("broken")
    assert err.value.exit_code == 2
    for expected in (
        "streamgate:regions[0].cluster.publicAccessCidrs: 0.0.0.0/0 opens the prod API endpoint",
        "eks-public-endpoint-restricted",
        "streamgate:regions[1].cluster.minNodes: 1: a prod node group needs at least 2 nodes",
        "eks-node-group-min-size",
        "streamgate:autoscaling.minReplicas: 1: prod gateways need at least 2 replicas (policy gateway-autoscaled)",
    ):
        assert expected in str(err.value), (expected, str(err.value))
