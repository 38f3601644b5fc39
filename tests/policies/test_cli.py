"""`streamgate plan STACK --policy`, in-process (CliRunner; exit codes as the command returns them): the prod
stack passes (exit 0), a stack file that breaks mandatory policies fails (exit 1) and names them."""

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
from infra import cli
from infra.config import StackConfig, stack_file
from infra.plan import Plan
from policies.pack import POLICIES


@pytest.fixture
def wide(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(cli, "console", Console(width=250))  # no wrapping inside the table's cells


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
    """A prod stack the stack model accepts but the policies refuse: EKS endpoints open to the internet,
    single-node node groups, gateway HPAs that may shrink to one pod."""
    document = yaml.safe_load(stack_file("prod").read_text())
    config = document["config"]
    config["streamgate:regions"] = config["streamgate:regions"][:2]
    for region in config["streamgate:regions"]:
        region["cluster"].update(publicAccessCidrs=["0.0.0.0/0"], minNodes=1, desiredNodes=1)
    config["streamgate:autoscaling"]["minReplicas"] = 1
    (tmp_path / "Pulumi.broken.yaml").write_text(yaml.safe_dump(document))
    monkeypatch.setenv("STREAMGATE_STACKS_DIR", str(tmp_path))

    result = CliRunner().invoke(cli.app, ["plan", "broken", "--policy"])
    out = result.stdout
    assert result.exit_code == 1, out[-3000:]
    assert "policy violations in broken" in out and "policies failed" in out
    for expected in (
        "eks-public-endpoint-restricted",
        "the public endpoint is open to 0.0.0.0/0",
        "eks-node-group-min-size",
        "aws:eks/nodeGroup:NodeGroup::us-east-1-cluster-nodes",
        "scaling_config.min_size is 1, below 2",
        "mandatory",
        "how to fix:",
        "eks-node-group-min-size: Prod node groups must keep at least minNodes nodes: raise cluster.minNodes",
    ):
        assert expected in out, (expected, out[-3000:])
    if "kubernetes:" in out or "streamgate:k8s" in out:  # once the Kubernetes layer is in the plan
        assert "gateway-autoscaled" in out and "shrink to 1 replica(s), below 2" in out
