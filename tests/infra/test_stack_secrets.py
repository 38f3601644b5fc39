"""What a cloud stack must state before `pulumi up`: receivers for its alerts, the links they carry, and every
secret the program reads. Missing ones exit 2 naming the file, the key and the command that fixes it."""

from __future__ import annotations

import copy
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from infra.config import SECRET_KEYS, load_stack, stack_file
from infra.errors import ConfigError

SECURE = {"secure": "v1:AAAAAAAAAAAAAAAA:ciphertext"}


def _stack(name: str, tmp_path: Path, change: Any = None, secrets: tuple[str, ...] = ()) -> Path:
    doc = yaml.safe_load(stack_file(name).read_text())
    doc = copy.deepcopy(doc)
    if change is not None:
        change(doc["config"])
    for key in secrets:
        doc["config"][f"streamgate:{key}"] = SECURE
    path = tmp_path / f"Pulumi.{name}.yaml"
    path.write_text(yaml.safe_dump(doc))
    return path


def _drop(*path: str) -> Any:
    def apply(config: dict[str, Any]) -> None:
        node = config
        for part in path[:-1]:
            node = node[part]
        del node[path[-1]]

    return apply


@pytest.mark.parametrize(
    ("stack", "change", "expected"),
    [
        ("prod", _drop("streamgate:alerts", "receivers", "pagerduty"), "alerts.receivers.pagerduty"),
        ("dev", _drop("streamgate:alerts", "receivers", "slack"), "alerts.receivers.slack"),
        ("staging", _drop("streamgate:alerts", "runbookBaseUrl"), "alerts.runbookBaseUrl: set it"),
        ("prod", _drop("streamgate:alerts", "dashboardBaseUrl"), "alerts.dashboardBaseUrl: set it"),
    ],
    ids=["prod without pagerduty", "dev without slack", "no runbook url", "no dashboard url"],
)
def test_cloud_stacks_need_receivers_and_links(
    tmp_path: Path, stack: str, change: Any, expected: str
) -> None:
    path = _stack(stack, tmp_path, change)
    with pytest.raises(ConfigError) as err:
        load_stack(stack, path)
    assert str(err.value).startswith(f"{path}: streamgate:") and expected in str(err.value)
    assert err.value.exit_code == 2


def test_the_local_stack_needs_no_receivers_or_secrets() -> None:
    local = load_stack("local", require_secrets=True)
    assert local.required_secrets == ()


@pytest.mark.parametrize("stack", ["dev", "staging", "prod"])
def test_every_secret_a_stack_needs_is_required_before_an_update(tmp_path: Path, stack: str) -> None:
    cfg = load_stack(stack)
    needed = cfg.required_secrets
    assert {"redisAuthToken", "apiTokenSigningKey", "mfaPepper", "slackWebhookUrl"} <= set(needed)
    assert ("pagerDutyRoutingKey" in needed) == (cfg.alerts.receivers.pagerduty is not None)
    assert set(needed) <= set(SECRET_KEYS)
    complete = _stack(stack, tmp_path, secrets=needed)
    assert load_stack(stack, complete, require_secrets=True).stack == stack
    for missing in needed:
        path = _stack(stack, tmp_path, secrets=tuple(k for k in needed if k != missing))
        assert load_stack(stack, path).stack == stack  # an offline plan substitutes placeholders
        with pytest.raises(ConfigError) as err:
            load_stack(stack, path, require_secrets=True)
        (line,) = str(err.value).splitlines()
        assert line.startswith(f"{path}: streamgate:{missing}: required secret is not set")
        assert f"`pulumi config set --secret streamgate:{missing} " in line and line.endswith(f"-s {stack}`")


def test_plan_require_secrets_exits_2_with_the_commands(tmp_path: Path) -> None:
    path = _stack(
        "prod",
        tmp_path,
        secrets=("redisAuthToken", "apiTokenSigningKey", "mfaPepper", "grafanaAdminPassword"),
    )
    result = subprocess.run(
        [sys.executable, "-m", "infra.cli", "plan", "prod", "--require-secrets"],
        capture_output=True,
        text=True,
        env={"STREAMGATE_STACKS_DIR": str(path.parent), "PATH": "/usr/bin:/bin", "COLUMNS": "300"},
    )
    assert result.returncode == 2, result.stderr
    assert "streamgate:pagerDutyRoutingKey: required secret is not set" in result.stderr
    assert "pulumi config set --secret streamgate:slackWebhookUrl" in result.stderr
    assert "redisAuthToken" not in result.stderr and "Traceback" not in result.stderr
