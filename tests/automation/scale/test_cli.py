"""`streamgate scale` on a cloud stack, as on-call runs it: the prod stack's outputs name each region's
cluster (a stand-in API server), whose Service proxy reaches a real Prometheus holding four weeks of
synthetic traffic and a real Pushgateway. Floors are the live color's HPA minReplicas."""

from __future__ import annotations

import json
import urllib.request
from pathlib import Path
from typing import Any

import pytest
import yaml
from typer.testing import CliRunner

from infra import cli
from infra.automation.adapters.eks import PREDICTIVE_FLOOR
from infra.config import PROJECT_ROOT
from infra.outputs import PROMETHEUS_SERVICE
from tests.automation.conftest import unused_url
from tests.automation.scale.conftest import Cluster, outputs_for

MERGE = "application/merge-patch+json"
PROD = ["us-east-1", "eu-west-1", "ap-southeast-1"]


def invoke(*argv: str) -> Any:
    cli.add_groups(["scale"])
    return CliRunner().invoke(cli.app, ["scale", *argv])


@pytest.fixture
def outputs(cluster: Cluster, plan_of: Any, tmp_path: Path) -> str:
    return str(outputs_for(plan_of("prod").resolved_outputs, cluster.kube, tmp_path / "outputs.json"))


def pushed(pushgateway: str) -> str:
    with urllib.request.urlopen(f"{pushgateway}/metrics", timeout=5) as response:
        return str(response.read().decode())


def test_forecast_shows_48_hours_per_region_and_changes_nothing(
    cluster: Cluster, outputs: str, tmp_path: Path
) -> None:
    png = tmp_path / "forecast.png"
    result = invoke("forecast", "--stack", "prod", "--outputs", outputs, "--json", "--png", str(png))
    assert result.exit_code == 0, result.output
    documents = json.loads(result.stdout)
    assert [d["region"] for d in documents] == PROD
    for doc in documents:
        hours = doc["forecast"]
        assert len(hours) == 48
        assert all(h["lower"] <= h["requests_per_second"] <= h["upper"] for h in hours)
        assert all(3 <= h["replicas"] <= 60 for h in hours)
        assert doc["pod_capacity"]["requests_per_second"] == 250.0
        # Four weeks: the weekly season is backtested (the daily one stands in for shorter histories).
        scores = {c["model"]: c["mape"] for c in doc["backtest"]}
        assert set(scores) == {"seasonal-naive", "holt-winters-weekly", "seasonal-mean"}
        # The model with the best backtest forecasts (the baseline only measures).
        assert doc["model"] == min(("holt-winters-weekly", "seasonal-mean"), key=lambda m: scores[m])
        assert doc["recent_mape"] is not None and doc["recent_mape"] < 0.10
        assert doc["history"]["hours"] >= 27 * 24 and doc["now"]["requests_per_second"] > 0
    by_region = {d["region"]: d for d in documents}
    assert by_region["us-east-1"]["history"]["hours_without_data"] >= 1  # the scrape gap
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and png.stat().st_size > 20_000
    assert not cluster.kube.patches


def test_apply_raises_the_live_colors_floor_to_the_plan_and_pushes_its_metrics(
    cluster: Cluster, outputs: str
) -> None:
    result = invoke("apply", "--stack", "prod", "--outputs", outputs, "--json")
    assert result.exit_code == 0, result.output
    documents = {d["region"]: d for d in json.loads(result.stdout)}
    # Every region's cluster here is the same stand-in: the last region's decision is what it holds.
    raised = [d for d in documents.values() if d["decision"]["action"] == "raise"]
    assert documents["ap-southeast-1"]["decision"]["action"] == "raise"  # it needs > 3 pods at any hour
    for doc in raised:
        assert doc["decision"]["target"] == doc["plan"]["floor_now"] > 3 and doc["decision"]["predictive"]
    last = documents[PROD[-1]]["decision"]["target"]
    hpa = cluster.hpa("blue")
    assert hpa["spec"]["minReplicas"] == last and hpa["metadata"]["annotations"][PREDICTIVE_FLOOR] == str(
        last
    )
    assert (
        cluster.hpa("green")["spec"]["minReplicas"] == 3
        and "annotations" not in cluster.hpa("green")["metadata"]
    )
    assert {ct for _, ct, _ in cluster.kube.patches} == {MERGE}
    assert {p for p, _, _ in cluster.kube.patches} == {
        "/apis/autoscaling/v2/namespaces/streamgate/horizontalpodautoscalers/gateway-blue"
    }
    metrics = pushed(cluster.pushgateway)
    for region in PROD:
        assert (
            f'streamgate_scale_predictive_active{{instance="",job="streamgate-scale",region="{region}",stack="prod"}} 1'
            in metrics
        )
        assert (
            f'streamgate_scale_forecast_error_ratio{{instance="",job="streamgate-scale",region="{region}",stack="prod"}}'
            in metrics
        )


def test_a_floor_someone_else_raised_is_never_lowered_but_our_own_is(cluster: Cluster, outputs: str) -> None:
    hpa = cluster.hpa("blue")
    hpa["spec"]["minReplicas"] = 59  # failover raised it (no annotation)
    result = invoke("apply", "--stack", "prod", "--outputs", outputs, "--region", "eu-west-1", "--json")
    assert result.exit_code == 0, result.output
    (doc,) = json.loads(result.stdout)
    assert (
        doc["decision"]["action"] == "hold" and "not set by predictive scaling" in doc["decision"]["reason"]
    )
    assert hpa["spec"]["minReplicas"] == 59 and not cluster.kube.patches
    hpa["metadata"]["annotations"] = {PREDICTIVE_FLOOR: "59"}  # ours, from an earlier run
    result = invoke("apply", "--stack", "prod", "--outputs", outputs, "--region", "eu-west-1", "--json")
    (doc,) = json.loads(result.stdout)
    assert doc["decision"]["action"] == "lower"
    assert (
        cluster.hpa("blue")["spec"]["minReplicas"]
        == doc["decision"]["target"]
        == max(3, doc["plan"]["floor_now"])
    )
    again = invoke("apply", "--stack", "prod", "--outputs", outputs, "--region", "eu-west-1", "--json")
    assert json.loads(again.stdout)[0]["decision"]["action"] == "hold" and len(cluster.kube.patches) == 1


def test_dry_run_decides_but_changes_nothing(cluster: Cluster, outputs: str) -> None:
    result = invoke(
        "apply", "--stack", "prod", "--outputs", outputs, "--region", "ap-southeast-1", "--dry-run"
    )
    assert result.exit_code == 0, result.output
    assert "ap-southeast-1: would raise floor 3 → " in result.stdout
    assert not cluster.kube.patches and cluster.hpa("blue")["spec"]["minReplicas"] == 3


def test_a_forecast_error_over_the_bound_falls_back_to_reactive_scaling(
    cluster: Cluster, outputs: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    document = yaml.safe_load((PROJECT_ROOT / "stacks" / "Pulumi.prod.yaml").read_text())
    document["config"]["streamgate:scale"] = {"maxRecentMape": 0.001}  # no forecast is that good
    (tmp_path / "Pulumi.prod.yaml").write_text(yaml.safe_dump(document))
    monkeypatch.setenv("STREAMGATE_STACKS_DIR", str(tmp_path))
    hpa = cluster.hpa("blue")
    hpa["spec"]["minReplicas"] = 20
    hpa["metadata"]["annotations"] = {PREDICTIVE_FLOOR: "20"}  # raised by an earlier, healthier run
    result = invoke("apply", "--stack", "prod", "--outputs", outputs, "--region", "ap-southeast-1", "--json")
    assert result.exit_code == 0, result.output
    (doc,) = json.loads(result.stdout)
    assert doc["decision"]["predictive"] is False and doc["decision"]["action"] == "lower"
    assert "exceeds scale.maxRecentMape 0.1%: back to reactive scaling" in doc["decision"]["reason"]
    assert cluster.hpa("blue")["spec"]["minReplicas"] == 3  # autoscaling.minReplicas: the HPA alone
    metrics = pushed(cluster.pushgateway)
    assert (
        'streamgate_scale_predictive_active{instance="",job="streamgate-scale",region="ap-southeast-1",stack="prod"} 0'
        in metrics
    )


def test_prometheus_down_fails_and_changes_nothing(cluster: Cluster, outputs: str) -> None:
    cluster.kube.proxies[("monitoring", PROMETHEUS_SERVICE)] = unused_url()
    result = invoke("apply", "--stack", "prod", "--outputs", outputs)
    assert result.exit_code == 1, result.output
    assert "Prometheus at" in result.output and "failed" in result.output
    assert not cluster.kube.patches


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (
            ["--region", "us-west-2"],
            "--region us-west-2: stack prod has us-east-1, eu-west-1, ap-southeast-1",
        ),
        (["--hpa", "streamgate/gateway-blue"], "--hpa goes with --in-cluster"),
        (["--in-cluster"], "--in-cluster acts on the cluster it runs in: give one --region and --hpa"),
    ],
)
def test_bad_arguments_exit_2(cluster: Cluster, outputs: str, argv: list[str], message: str) -> None:
    result = invoke("apply", "--stack", "prod", "--outputs", outputs, *argv)
    assert result.exit_code == 2 and message in " ".join(result.output.split()), result.output
    assert not cluster.kube.patches


def test_a_region_with_too_little_history_stops_the_run_before_anything_changes(
    cluster: Cluster, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """In the cluster of a region that has served five days (the CronJob's way in: service account → here
    a kubeconfig), and for a region that never served."""
    document = yaml.safe_load((PROJECT_ROOT / "stacks" / "Pulumi.prod.yaml").read_text())
    regions = document["config"]["streamgate:regions"]
    regions[2]["name"] = "us-west-2"
    regions[1]["name"] = "ca-central-1"
    stacks = tmp_path / "stacks"
    stacks.mkdir()
    (stacks / "Pulumi.prod.yaml").write_text(yaml.safe_dump(document))
    monkeypatch.setenv("STREAMGATE_STACKS_DIR", str(stacks))
    monkeypatch.setenv("KUBECONFIG", str(cluster.kubeconfig(tmp_path / "kubeconfig")))
    for region, message in (
        ("us-west-2", "us-west-2: 5.0 days of request history, scale.minHistoryDays needs 14"),
        ("ca-central-1", "ca-central-1: no request history in Prometheus over the last 28 days"),
    ):
        result = invoke(
            "apply", "--stack", "prod", "--region", region, "--in-cluster", "--hpa", "streamgate/gateway-blue"
        )
        assert result.exit_code == 2, result.output
        assert message in " ".join(result.output.split())
    assert not cluster.kube.patches and cluster.hpa("blue")["spec"]["minReplicas"] == 3
