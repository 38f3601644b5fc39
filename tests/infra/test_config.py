"""The stack model: shipped stacks load; bad stack files are rejected naming file, key and fix."""

from __future__ import annotations

import copy
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from infra.config import Environment, available_stacks, load_stack, stack_file
from infra.errors import ConfigError


def test_shipped_stacks_load() -> None:
    assert {"dev", "staging", "prod"} <= set(available_stacks())
    dev, staging, prod = (load_stack(s) for s in ("dev", "staging", "prod"))
    assert [r.name for r in dev.regions] == ["us-east-1"]
    assert [r.name for r in staging.regions] == ["us-east-1", "eu-west-1"]
    assert [r.name for r in prod.regions] == ["us-east-1", "eu-west-1", "ap-southeast-1"]
    assert prod.primary.name == "us-east-1" and prod.environment is Environment.PROD
    assert prod.backup.object_lock and prod.cdn.segment_ttl_seconds > prod.cdn.manifest_ttl_seconds


def _prod() -> dict[str, Any]:
    return yaml.safe_load(stack_file("prod").read_text())


def _write(tmp_path: Path, doc: Any) -> Path:
    path = tmp_path / "Pulumi.broken.yaml"
    path.write_text(yaml.safe_dump(doc) if not isinstance(doc, str) else doc)
    return path


def _mutate(change: Any) -> dict[str, Any]:
    doc = copy.deepcopy(_prod())
    change(doc["config"])
    return doc


def _set(path: str, value: Any) -> Any:
    """A change that sets config key path 'streamgate:regions.0.cluster.minNodes' style."""

    def apply(config: dict[str, Any]) -> None:
        key, *rest = path.split(".")
        if not rest:
            config[key] = value
            return
        node = config[key]
        for part in rest[:-1]:
            node = node[int(part)] if part.isdigit() else node[part]
        last = rest[-1]
        node[int(last) if last.isdigit() else last] = value

    return apply


BAD_STACKS = [
    (
        "unknown key",
        _set("streamgate:regions.0.cluster.minNode", 3),
        "streamgate:regions[0].cluster.minNode: unknown key",
    ),
    ("unknown top-level key", _set("streamgate:colour", "blue"), "streamgate:colour: unknown key"),
    (
        "wrong type",
        _set("streamgate:redis.replicas", "two"),
        "streamgate:redis.replicas: Input should be a valid integer",
    ),
    (
        "prod with one region",
        _set("streamgate:regions", [{"name": "us-east-1"}]),
        "prod must span at least 2 regions",
    ),
    (
        "min > max nodes",
        _set("streamgate:regions.1.cluster.minNodes", 40),
        "streamgate:regions[1].cluster: minNodes (40) must be ≤ maxNodes (30)",
    ),
    (
        "retention shorter than transition",
        _set("streamgate:backup.retentionDays", 10),
        "streamgate:backup: retentionDays (10) must be greater than coldStorageAfterDays (30)",
    ),
    ("not a region", _set("streamgate:regions.2.name", "moon-base-1"), "'moon-base-1' is not an AWS region"),
    ("duplicate regions", _set("streamgate:regions.2.name", "us-east-1"), "names must be distinct"),
    (
        "bad price class",
        _set("streamgate:cdn.priceClass", "PriceClass_Cheap"),
        "streamgate:cdn.priceClass: Input should be 'PriceClass_100', 'PriceClass_200' or 'PriceClass_All'",
    ),
    (
        "hpa min > max",
        _set("streamgate:autoscaling.minReplicas", 100),
        "streamgate:autoscaling: minReplicas (100) must be ≤ maxReplicas (60)",
    ),
    (
        "hpa/vpa fight",
        _set("streamgate:autoscaling.vpa", {"mode": "Recreate", "controlledResources": ["cpu"]}),
        "they would fight",
    ),
    (
        "utilisation over 100",
        _set("streamgate:autoscaling.cpuTargetUtilization", 150),
        "streamgate:autoscaling.cpuTargetUtilization: Input should be less than or equal to 100",
    ),
    (
        "plain-text secret",
        _set("streamgate:redisAuthToken", "hunter2"),
        "streamgate:redisAuthToken: must be a secret; set it with `pulumi config set --secret",
    ),
    ("prod without object lock", _set("streamgate:backup.objectLock", False), "backup.objectLock"),
    ("vpc too small", _set("streamgate:regions.0.vpcCidr", "10.0.0.0/24"), "use a /20 or larger"),
    ("shared vpc cidr", _set("streamgate:regions.1.vpcCidr", "10.0.0.0/16"), "its own vpcCidr"),
    (
        "rollout steps not ending at 100",
        _set("streamgate:rollout.steps", [10, 50]),
        "the last step must be 100",
    ),
    ("missing domain", lambda c: c.pop("streamgate:domain"), "streamgate:domain: required key is missing"),
    (
        "bad public cidr",
        _set("streamgate:regions.0.cluster.publicAccessCidrs", ["300.1.1.1/8"]),
        "publicAccessCidrs",
    ),
    (
        "cors origin with a path",
        _set("streamgate:cors.allowOrigins", ["https://player.example.com/"]),
        "streamgate:cors.allowOrigins: 'https://player.example.com/' is not an origin",
    ),
    (
        "cors any port on cloudfront",
        _set("streamgate:cors.allowOrigins", ["https://player.example.com:*"]),
        "CloudFront takes exact origins or *",
    ),
]


@pytest.mark.parametrize(("label", "change", "expected"), BAD_STACKS, ids=[b[0] for b in BAD_STACKS])
def test_bad_stack_is_rejected_with_file_key_and_fix(
    tmp_path: Path, label: str, change: Any, expected: str
) -> None:
    path = _write(tmp_path, _mutate(change))
    with pytest.raises(ConfigError) as err:
        load_stack("broken", path)
    message = str(err.value)
    assert message.startswith(f"{path}: streamgate:"), message
    assert expected in message, message
    assert err.value.exit_code == 2


def test_not_yaml_and_not_a_stack(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="not valid YAML"):
        load_stack("broken", _write(tmp_path, "config: [unclosed"))
    with pytest.raises(ConfigError, match="expected a top-level `config:` mapping"):
        load_stack("broken", _write(tmp_path, {"streamgate:domain": "x.example.com"}))
    with pytest.raises(ConfigError, match="no such stack file"):
        load_stack("does-not-exist")


def test_other_namespaces_are_left_to_their_providers(tmp_path: Path) -> None:
    doc = _prod()
    doc["config"]["aws:skipMetadataApiCheck"] = True
    assert load_stack("ok", _write(tmp_path, doc)).stack == "ok"


def test_cli_reports_bad_stack_with_exit_2(tmp_path: Path) -> None:
    bad = _write(tmp_path, _mutate(_set("streamgate:backup.retentionDays", 10)))
    result = subprocess.run(
        [sys.executable, "-m", "infra.cli", "plan", "broken"],
        capture_output=True,
        text=True,
        env={"STREAMGATE_STACKS_DIR": str(bad.parent), "PATH": "/usr/bin:/bin", "COLUMNS": "200"},
    )
    assert result.returncode == 2, result.stderr
    assert "retentionDays (10) must be greater than coldStorageAfterDays" in result.stderr
    assert "Traceback" not in result.stderr
