"""Predictive scaling's settings and seams: the stack model refuses what cannot work (exit 2, naming the
key), the CronJob's ConfigMap is the stack as validated, the HPA patches are merge patches (failover's
too), the pushed metrics are the ones the alert and runbook read, and `streamgate plan` never imports
statsmodels."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from infra.alerts.exporters import exporter_of
from infra.automation.adapters.eks import PREDICTIVE_FLOOR, HpaFloor, HpaFloors
from infra.automation.scale import pushmetrics
from infra.config import available_stacks, load_stack, parse_stack, stack_document, stack_file
from infra.errors import ConfigError
from tests.automation.scale.conftest import Cluster

HPA = "/apis/autoscaling/v2/namespaces/streamgate/horizontalpodautoscalers/gateway-blue"


def rejected(tmp_path: Path, stack: str, **scale: Any) -> str:
    document = yaml.safe_load(stack_file(stack).read_text())
    section = {k: v for k, v in scale.items() if k != "autoscaling"}
    document["config"]["streamgate:scale"] = {**document["config"].get("streamgate:scale", {}), **section}
    if "autoscaling" in scale:
        document["config"]["streamgate:autoscaling"].update(scale["autoscaling"])
    path = tmp_path / "Pulumi.broken.yaml"
    path.write_text(yaml.safe_dump(document))
    with pytest.raises(ConfigError) as err:
        load_stack("broken", path)
    assert err.value.exit_code == 2
    return str(err.value)


@pytest.mark.parametrize(
    ("stack", "scale", "message"),
    [
        (
            "prod",
            {"minHistoryDays": 30, "historyDays": 21},
            "streamgate:scale.minHistoryDays: 30 is more than scale.historyDays (21)",
        ),
        ("prod", {"stepSeconds": 420}, "streamgate:scale.stepSeconds: 420 does not divide an hour"),
        (
            "prod",
            {"stepSeconds": 180, "historyDays": 35},
            "16800 points; Prometheus answers at most 11000 per query: raise stepSeconds to 275",
        ),
        ("prod", {"scheduleMinutes": 7}, "streamgate:scale.scheduleMinutes: 7 does not divide an hour"),
        (
            "prod",
            {"image": "ghcr.io/streamgate/automation:1.0"},
            "streamgate:scale.image: 'ghcr.io/streamgate/automation:1.0' is not an image repository",
        ),
        (
            "local",
            {"autoscaling": {"maxReplicas": 4}},
            "streamgate:autoscaling.maxReplicas: 4: the local platform runs at most 3 gateway processes per color",
        ),
        (
            "prod",
            {"podStartupSeconds": "180"},
            "streamgate:scale.podStartupSeconds: Input should be a valid integer",
        ),
    ],
)
def test_settings_that_cannot_work_are_refused_by_key(
    tmp_path: Path, stack: str, scale: dict[str, Any], message: str
) -> None:
    assert message in rejected(tmp_path, stack, **scale)


@pytest.mark.parametrize("stack", available_stacks())
def test_the_cronjobs_stack_document_is_the_stack_as_validated(stack: str, tmp_path: Path) -> None:
    cfg = load_stack(stack)
    document = stack_document(cfg)
    text = yaml.safe_dump(document, sort_keys=False)
    assert "secure" not in text and "apiTokenSigningKey" not in text  # no secret, not even ciphertext
    assert parse_stack(stack, yaml.safe_load(text), tmp_path / f"Pulumi.{stack}.yaml") == cfg


def test_hpa_floors_are_merge_patches_for_predictive_scaling_and_failover(cluster: Cluster) -> None:
    from kubernetes import config

    api = config.new_client_from_config_dict(cluster.kube.kubeconfig("test"))
    knob = HpaFloor(api, "streamgate", "gateway-blue", "eu-west-1")
    import asyncio

    state = asyncio.run(knob.read())
    assert (state.floor, state.owned) == (3, False)  # `pulumi up` set it
    after = asyncio.run(knob.set(7))
    assert (after.floor, after.owned) == (7, True)
    assert cluster.hpa()["metadata"]["annotations"][PREDICTIVE_FLOOR] == "7"
    # Failover's floors go through the same API: a merge patch (the client would send a dict as JSON
    # Patch, which an API server refuses, as the stand-in does with 415).
    HpaFloors({"eu-west-1": api}, "streamgate", "gateway-blue").raise_to("eu-west-1", 12)
    assert cluster.hpa()["spec"]["minReplicas"] == 12
    assert [(p, ct) for p, ct, _ in cluster.kube.patches] == [(HPA, "application/merge-patch+json")] * 2


def test_the_pushed_metrics_are_declared_where_rules_and_runbooks_look_them_up() -> None:
    names = {metric.name for metric in pushmetrics.REGISTRY.collect()}
    assert {pushmetrics.ERROR, pushmetrics.ACTIVE, "streamgate_scale_last_run_timestamp_seconds"} <= names
    for name in (pushmetrics.ERROR, pushmetrics.ACTIVE, "streamgate_scale_last_run_timestamp_seconds"):
        assert exporter_of(name) == "pushgateway (streamgate batch jobs)", name


def test_plan_and_the_cli_help_do_not_import_statsmodels() -> None:
    """statsmodels takes about a second to import: only forecasting may pay it."""
    probe = (
        "import sys; from infra import cli; cli.add_groups(); import infra.k8s.scaling; "
        "print('statsmodels' in sys.modules)"
    )
    found = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True)
    assert found.stdout.strip() == "False", found.stderr
    timed = subprocess.run(
        [sys.executable, "-X", "importtime", "-m", "infra.cli", "plan", "dev"],
        capture_output=True,
        text=True,
        check=True,
    )
    imported = [line for line in timed.stderr.splitlines() if "import time:" in line]
    assert len(imported) > 500 and not [line for line in imported if "statsmodels" in line]


def test_the_clusters_prometheus_keeps_what_the_weekly_model_needs(plan_of: Any) -> None:
    def spec(stack: str) -> dict[str, Any]:
        (release,) = [
            r
            for r in plan_of(stack).of_type("kubernetes:helm.sh/v3:Release")
            if r.inputs["name"] == "kube-prometheus-stack" and r.region == "us-east-1"
        ]
        return dict(release.inputs["values"]["prometheus"]["prometheusSpec"])

    scale = load_stack("prod").scale
    assert spec("prod")["retention"] == f"{scale.min_history_days + scale.backtest_days + 1}d"
    assert spec("prod")["retentionSize"] == "10GB"  # an emptyDir: weeks of data must not fill the node
    assert spec("dev")["retention"] == "3d" and "retentionSize" not in spec("dev")
    assert not plan_of("dev").of_type("kubernetes:batch/v1:CronJob")
