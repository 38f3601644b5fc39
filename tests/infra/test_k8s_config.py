"""Bad workload and autoscaling sections stop `streamgate plan` with exit 2 and a message naming the key."""

from __future__ import annotations

import copy
import json
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from infra.config import load_stack, quantity_value, stack_file
from infra.errors import ConfigError

STREAMGATE = Path(sys.executable).parent / "streamgate"
BAD_SECTIONS = [
    (
        "min replicas above max",
        "streamgate:autoscaling",
        {"minReplicas": 10, "maxReplicas": 4},
        "streamgate:autoscaling: minReplicas (10) must be ≤ maxReplicas (4)",
    ),
    (
        "vpa controls cpu while the hpa scales on it",
        "streamgate:autoscaling",
        {"cpuTargetUtilization": 70, "vpa": {"mode": "Recreate", "controlledResources": ["cpu", "memory"]}},
        "they would fight; let VPA control memory only (controlledResources: memory), or set vpa.mode: Off",
    ),
    (
        "utilisation above 100",
        "streamgate:autoscaling",
        {"cpuTargetUtilization": 101},
        "streamgate:autoscaling.cpuTargetUtilization: Input should be less than or equal to 100",
    ),
    (
        "utilisation below 1",
        "streamgate:autoscaling",
        {"cpuTargetUtilization": 0},
        "streamgate:autoscaling.cpuTargetUtilization: Input should be greater than or equal to 1",
    ),
    (
        "no hpa metric at all",
        "streamgate:autoscaling",
        {"cpuTargetUtilization": None, "requestsPerSecondPerPod": None},
        "the HPA needs a metric",
    ),
    (
        "vpa bounds inverted",
        "streamgate:autoscaling",
        {"vpa": {"minAllowed": {"memory": "8Gi"}, "maxAllowed": {"memory": "1Gi"}}},
        "streamgate:autoscaling.vpa: minAllowed.memory (8Gi) must be ≤ maxAllowed.memory (1Gi)",
    ),
    (
        "unknown vpa mode",
        "streamgate:autoscaling",
        {"vpa": {"mode": "Sometimes"}},
        "streamgate:autoscaling.vpa.mode: Input should be 'Off', 'Initial', 'Recreate' or 'InPlaceOrRecreate'",
    ),
    (
        "request above limit",
        "streamgate:workload",
        {"cpuRequest": "4", "cpuLimit": "2"},
        "streamgate:workload: cpuRequest (4) must be ≤ cpuLimit (2)",
    ),
    (
        "not a quantity",
        "streamgate:workload",
        {"memoryLimit": "1 gigabyte"},
        "'1 gigabyte' is not a Kubernetes quantity",
    ),
    ("bad tag", "streamgate:workload", {"tag": "v1/../latest"}, "is not an image tag"),
    (
        "unknown color",
        "streamgate:workload",
        {"liveColor": "purple"},
        "streamgate:workload.liveColor: Input should be 'blue' or 'green'",
    ),
]


def _broken_stack(tmp_path: Path, key: str, section: dict[str, Any]) -> Path:
    doc = yaml.safe_load(stack_file("prod").read_text())
    merged = copy.deepcopy(doc["config"].get(key, {}))
    merged.update(section)
    doc["config"][key] = merged
    path = tmp_path / "Pulumi.broken.yaml"
    path.write_text(yaml.safe_dump(doc, allow_unicode=True))
    return path


@pytest.mark.parametrize(
    ("label", "key", "section", "expected"), BAD_SECTIONS, ids=[b[0] for b in BAD_SECTIONS]
)
def test_bad_section_is_rejected_naming_file_and_key(
    tmp_path: Path, label: str, key: str, section: dict[str, Any], expected: str
) -> None:
    path = _broken_stack(tmp_path, key, section)
    with pytest.raises(ConfigError) as err:
        load_stack("broken", path)
    assert str(err.value).startswith(f"{path}: {key}"), str(err.value)
    assert expected in str(err.value), str(err.value)


# One run of the real command per issue's "done when" case (each is a process start: keep the list short).
CLI_CASES = [
    c
    for c in BAD_SECTIONS
    if c[0]
    in {"min replicas above max", "vpa controls cpu while the hpa scales on it", "utilisation above 100"}
]


@pytest.mark.parametrize(("label", "key", "section", "expected"), CLI_CASES, ids=[c[0] for c in CLI_CASES])
def test_streamgate_plan_exits_2_on_a_bad_autoscaling_section(
    tmp_path: Path, label: str, key: str, section: dict[str, Any], expected: str
) -> None:
    path = _broken_stack(tmp_path, key, section)
    command = [str(STREAMGATE)] if STREAMGATE.exists() else [sys.executable, "-m", "infra.cli"]
    result = subprocess.run(
        [*command, "plan", "broken"],
        capture_output=True,
        text=True,
        env={"STREAMGATE_STACKS_DIR": str(path.parent), "PATH": "/usr/bin:/bin", "COLUMNS": "300"},
        timeout=60,
    )
    assert result.returncode == 2, (result.stdout, result.stderr)
    assert expected in result.stderr and str(path) in result.stderr, result.stderr
    assert "Traceback" not in result.stderr


def test_the_harness_accepts_an_unchanged_stack_file(tmp_path: Path) -> None:
    """Control for the exit-2 cases: the same command line and environment with an unchanged stack file
    passes validation (`stacks` validates exactly as `plan` does, without the slow plan behind it)."""
    shutil.copy(stack_file("prod"), tmp_path / "Pulumi.copy.yaml")
    command = [str(STREAMGATE)] if STREAMGATE.exists() else [sys.executable, "-m", "infra.cli"]
    result = subprocess.run(
        [*command, "stacks", "--json"],
        capture_output=True,
        text=True,
        env={"STREAMGATE_STACKS_DIR": str(tmp_path), "PATH": "/usr/bin:/bin", "COLUMNS": "300"},
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout) == [
        {
            "stack": "copy",
            "valid": True,
            "environment": "prod",
            "regions": ["us-east-1", "eu-west-1", "ap-southeast-1"],
            "error": None,
        }
    ]


def test_candidate_tag_runs_on_the_idle_color_only() -> None:
    wl = load_stack("dev").workload.model_copy(update={"candidate_tag": "0.2.0"})
    assert wl.tag_of(wl.live_color) == wl.tag and wl.tag_of(wl.idle_color) == "0.2.0"
    assert wl.idle_color != wl.live_color


@pytest.mark.parametrize(
    ("quantity", "value"),
    [("500m", 0.5), ("2", 2.0), ("512Mi", 512 * 2**20), ("1G", 1e9), ("1.5Gi", 1.5 * 2**30)],
)
def test_quantities_compare_by_value(quantity: str, value: float) -> None:
    assert quantity_value(quantity) == pytest.approx(value)
