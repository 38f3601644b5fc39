"""The stacks the alert tests render, and their rules and promtool test files, written once per session."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import pytest

from infra.alerts.promql import Scope
from infra.alerts.render import rule_groups, rules_file, to_yaml
from infra.config import AlertsConfig, SloConfig, StackConfig, available_stacks, load_stack
from tests.alerts.scenarios import World, test_files
from tests.servers import require_binary


def local_stack() -> StackConfig:
    """The local platform's stack: the real file once it exists, else its shape (regions local-a/b)."""
    if "local" in available_stacks():
        return load_stack("local")
    return StackConfig.model_validate(
        {
            "stack": "local",
            "environment": "local",
            "target": "local",
            "domain": "local.streamgate.test",
            "regions": [
                {"name": "local-a", "vpcCidr": "10.0.0.0/16"},
                {"name": "local-b", "vpcCidr": "10.1.0.0/16"},
            ],
            "backup": {"intervalHours": 1},
        }
    )


def custom_stack() -> StackConfig:
    """Every threshold away from its default: a 28-day window derives other burn factors."""
    prod = load_stack("prod")
    return prod.model_copy(
        update={
            "stack": "custom",
            "slo": SloConfig(
                availability_target=0.995, latency_objective_seconds=0.25, latency_target=0.98, window_days=28
            ),
            "alerts": AlertsConfig(
                team="video-edge",
                runbook_base_url="https://runbooks.example.com/streamgate",
                replication_lag_rpo_seconds=2.5,
                cache_hit_ratio_floor=0.7,
                rate_limit_rejection_ratio=0.2,
                l2_errors_per_second=5,
                event_lag_seconds=45,
                events_shed_ratio=0.05,
                backup_grace_minutes=45,
            ),
            "backup": prod.backup.model_copy(update={"interval_hours": 12}),
        }
    )


def stacks() -> dict[str, StackConfig]:
    found = {name: load_stack(name) for name in ("dev", "staging", "prod")}
    return {**found, "local": local_stack(), "custom": custom_stack()}


# (stack, region, thorough): region None = one Prometheus for all regions (the local platform), else that
# region's cluster; thorough adds the burst and recovery cases of every SLO tier.
WORLDS = [
    ("dev", None, False),
    ("staging", None, False),
    ("prod", None, True),
    ("prod", "us-east-1", False),
    ("local", None, False),
    ("custom", "eu-west-1", True),
]


@dataclass
class Rendered:
    dir: Path
    rule_files: list[Path] = field(default_factory=list)  # full files, one per world
    generated_tests: list[Path] = field(default_factory=list)
    worlds: dict[str, World] = field(default_factory=dict)


@pytest.fixture(scope="session")
def promtool() -> str:
    return require_binary("promtool", "prometheus")


@pytest.fixture(scope="session")
def rendered(tmp_path_factory: pytest.TempPathFactory) -> Rendered:
    out = Rendered(tmp_path_factory.mktemp("alerts"))
    configs = stacks()
    for stack, region, thorough in WORLDS:
        cfg = configs[stack]
        tag = f"{stack}-{region or 'all'}"
        full = out.dir / f"{tag}.rules.yaml"
        full.write_text(rules_file(cfg, region))
        out.rule_files.append(full)
        # Each promtool test file loads only the group its cases test (same rendered group, less work).
        for rendered_group in rule_groups(cfg, region):
            name = rendered_group["name"]
            (out.dir / f"{tag}.{name}.rules.yaml").write_text(to_yaml({"groups": [rendered_group]}))
        world = World(Scope(cfg, region), thorough)
        out.worlds[tag] = world
        for (interval, group), doc in test_files(world, f"{tag}.{{}}.rules.yaml".format).items():
            path = out.dir / f"{tag}.{group}.{interval}s.test.yaml"
            path.write_text(to_yaml(doc))
            out.generated_tests.append(path)
    return out
