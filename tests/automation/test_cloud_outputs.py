"""The automation on a cloud stack, found through nothing but its outputs file.

The outputs come from the mocked prod plan (what the program exports), "deployed" into moto's server
(tests/deployed.py maps the plan's made-up ids to moto's); each region's kubeconfig points at a FakeKubeApi
that forwards the Service proxy to a real Prometheus and Pushgateway. ElastiCache's global datastore is not in
moto: botocore's Stubber answers it, checking every request against AWS's API model. Then the commands run
exactly as on-call types them: `failover plan`, `rollout canary --dry-run`, `backup create|list`.
"""

from __future__ import annotations

import json
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.stub import Stubber
from typer.testing import CliRunner

from infra import cli
from infra.automation.targets import aws as aws_target
from infra.automation.targets import for_stack
from infra.aws.catalog import catalog_regions, global_catalog
from infra.config import available_stacks, load_stack
from infra.errors import ConfigError
from infra.outputs import PROMETHEUS_SERVICE, PUSHGATEWAY_SERVICE, StackOutputs, load_outputs
from infra.plan import Plan
from tests.automation.backup_contract import check_backup_target
from tests.deployed import Deployed, deploy
from tests.kubeapi import FakeKubeApi, gateway_objects
from tests.servers import LOOPBACK, free_port, moto_server, require_binary, wait_until

PlanOf = Any


@pytest.mark.parametrize("stack", [s for s in available_stacks() if s != "local"])
def test_the_programs_outputs_are_what_the_automation_reads(plan_of: PlanOf, stack: str) -> None:
    plan: Plan = plan_of(stack)
    outputs = StackOutputs.model_validate(plan.resolved_outputs)
    cfg = load_stack(stack)
    assert outputs.stack == stack and list(outputs.regions) == [r.name for r in cfg.regions]
    assert (outputs.global_datastore_id is None) == (len(cfg.regions) == 1)
    serving = catalog_regions(cfg)
    assert (outputs.catalog_global_cluster_id is not None) == global_catalog(cfg)
    for name, region in outputs.regions.items():
        # Every output is set: nothing the automation needs is left for an operator to find (the catalog's
        # only where the region serves it).
        values = region.model_dump()
        catalog = {k: values.pop(k) for k in ("catalog_cluster_arn", "catalog_proxy_endpoint")}
        assert all(v not in ("", None) for v in values.values()), name
        assert all((v is not None) == (name in serving) for v in catalog.values()), (name, catalog)
        assert json.loads(region.kubeconfig)["clusters"][0]["cluster"]["server"] == region.cluster_endpoint
    (role,) = [r for r in plan.of_type("aws:iam/role:Role") if r.arn == outputs.automation_role_arn]
    assert role.name == "automation-role"
    (state,) = [
        b for b in plan.of_type("aws:s3/bucket:Bucket") if b.arn == f"arn:aws:s3:::{outputs.state_bucket}"
    ]
    assert state.region == cfg.regions[0].name


@pytest.fixture(scope="module")
def pushgateway(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    binary = require_binary("prometheus-pushgateway", "prometheus-pushgateway")
    port = free_port()
    proc = subprocess.Popen(
        [binary, f"--web.listen-address={LOOPBACK}:{port}"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"http://{LOOPBACK}:{port}"
    try:
        wait_until(lambda: _ok(f"{url}/-/ready"), 15, "pushgateway")
        yield url
    finally:
        proc.kill()
        proc.wait()


def _ok(url: str) -> bool:
    import urllib.request

    with urllib.request.urlopen(url, timeout=1) as response:
        return response.status == 200


@pytest.fixture(scope="module")
def cloud(
    plan_of: PlanOf, pushgateway: str, synthetic_prometheus: Any, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[Deployed, Path, FakeKubeApi]]:
    kube = FakeKubeApi(objects=gateway_objects())
    kube.proxies = {
        ("monitoring", PROMETHEUS_SERVICE): synthetic_prometheus.url,
        ("monitoring", PUSHGATEWAY_SERVICE): pushgateway,
    }
    with moto_server() as moto, kube.serving(), pytest.MonkeyPatch.context() as mp:
        mp.setenv("AWS_ENDPOINT_URL", moto.url)
        moto.reset()  # in-process moto servers share their state: start from none
        deployed = deploy(plan_of("prod"), kube)
        path = deployed.write(tmp_path_factory.mktemp("outputs") / "outputs.json")
        yield deployed, path, kube


def invoke(*argv: str) -> Any:
    cli.add_groups([argv[0]])
    return CliRunner().invoke(cli.app, list(argv))


def global_group(outputs: StackOutputs, primary: str) -> dict[str, Any]:
    return {
        "GlobalReplicationGroups": [
            {
                "GlobalReplicationGroupId": outputs.global_datastore_id,
                "Status": "available",
                "Members": [
                    {
                        "ReplicationGroupId": o.redis_replication_group_id,
                        "ReplicationGroupRegion": r,
                        "Role": "PRIMARY" if r == primary else "SECONDARY",
                        "Status": "associated",
                    }
                    for r, o in outputs.regions.items()
                ],
            }
        ]
    }


@pytest.fixture
def stubbed_elasticache(
    cloud: tuple[Deployed, Path, FakeKubeApi], monkeypatch: pytest.MonkeyPatch
) -> Iterator[tuple[StackOutputs, dict[str, Stubber]]]:
    """ElastiCache clients answered by Stubber (moto lacks the global datastore); every other client is
    boto3's, on moto."""
    outputs = StackOutputs.model_validate(cloud[0].outputs)
    clients = {r: boto3.client("elasticache", region_name=r) for r in outputs.regions}
    stubs = {r: Stubber(c) for r, c in clients.items()}
    for stub in stubs.values():
        stub.activate()
    real = aws_target.aws_client

    def client(service: str, region: str | None = None) -> Any:
        return clients[region or ""] if service == "elasticache" else real(service, region)

    monkeypatch.setattr(aws_target, "aws_client", client)
    yield outputs, stubs
    for stub in stubs.values():
        stub.assert_no_pending_responses()
        stub.deactivate()


def test_failover_plan_reads_every_cloud_resource_through_the_outputs(
    cloud: tuple[Deployed, Path, FakeKubeApi], stubbed_elasticache: tuple[StackOutputs, dict[str, Stubber]]
) -> None:
    _, path, kube = cloud
    outputs, stubs = stubbed_elasticache
    describe = {"GlobalReplicationGroupId": outputs.global_datastore_id, "ShowMemberInfo": True}
    stubs["us-east-1"].add_response(
        "describe_global_replication_groups", global_group(outputs, "us-east-1"), describe
    )
    for r, o in outputs.regions.items():
        group = {
            "ReplicationGroupId": o.redis_replication_group_id,
            "Status": "available",
            "GlobalReplicationGroupInfo": {
                "GlobalReplicationGroupId": outputs.global_datastore_id,
                "GlobalReplicationGroupMemberRole": "PRIMARY" if r == "us-east-1" else "SECONDARY",
            },
        }
        stubs[r].add_response(
            "describe_replication_groups",
            {"ReplicationGroups": [group]},
            {"ReplicationGroupId": o.redis_replication_group_id},
        )
    result = invoke(
        "failover", "plan", "--stack", "prod", "--to", "eu-west-1", "--outputs", str(path), "--json"
    )
    assert result.exit_code in (0, 1), result.output
    plan = json.loads(result.stdout)
    assert plan["target"] == "eu-west-1" and plan["stack"] == "prod"
    checks = {c["name"]: c for c in plan["checks"]}
    assert checks, plan
    # Capacity came from EKS (moto) and the live color's HPA (through the cluster's API server).
    assert any(p.endswith("/horizontalpodautoscalers/gateway-blue") for _, p in kube.requests), kube.requests


def test_rollout_canary_dry_run_reads_router_deployer_and_state(
    cloud: tuple[Deployed, Path, FakeKubeApi],
) -> None:
    _, path, kube = cloud
    result = invoke(
        "rollout", "canary", "--stack", "prod", "--version", "0.2.0", "--region", "eu-west-1",
        "--outputs", str(path), "--dry-run", "--json",
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    plan = json.loads(result.stdout)
    assert plan["weights"] == {"blue": 100, "green": 0}
    assert plan["stable"] == {"color": "blue", "version": "0.1.0"}
    assert plan["candidate"] == {"color": "green", "version": "0.2.0"}
    assert plan["router"] == "ingress-nginx streamgate/gateway-canary"
    assert not kube.patches  # a dry run changes nothing


def test_backup_create_and_list_use_the_outputs_buckets_and_keys(
    cloud: tuple[Deployed, Path, FakeKubeApi], pushgateway: str
) -> None:
    deployed, path, _ = cloud
    outputs = StackOutputs.model_validate(deployed.outputs)
    region = outputs.regions["eu-west-1"]
    boto3.client("s3", region_name="eu-west-1").put_object(
        Bucket=region.content_bucket, Key="content/title/segments/0", Body=b"segment bytes"
    )
    created = invoke(
        "backup", "create", "--stack", "prod", "--region", "eu-west-1", "--outputs", str(path), "--json"
    )
    assert created.exit_code == 0, created.output
    (row,) = json.loads(created.stdout)
    assert row["bucket"] == region.backup_bucket and row["objects"] == 1 and row["pushed"] is True
    import urllib.request

    pushed = urllib.request.urlopen(f"{pushgateway}/metrics", timeout=5).read().decode()
    assert "streamgate_backup_last_success_timestamp_seconds{" in pushed and 'region="eu-west-1"' in pushed
    listed = invoke(
        "backup", "list", "--stack", "prod", "--region", "eu-west-1", "--outputs", str(path), "--json"
    )
    assert listed.exit_code == 0, listed.output
    backups = json.loads(listed.stdout)
    assert [b["backup_id"] for b in backups] == [row["backup_id"]]


async def test_the_cloud_target_passes_the_backup_contract(cloud: tuple[Deployed, Path, FakeKubeApi]) -> None:
    await check_backup_target(for_stack(load_stack("prod"), cloud[1]), "eu-west-1")


async def test_prometheus_is_reached_through_the_clusters_api_server(
    cloud: tuple[Deployed, Path, FakeKubeApi], synthetic_prometheus: Any
) -> None:
    _, path, kube = cloud
    target = for_stack(load_stack("prod"), path)
    metrics = target.metrics("us-east-1")
    import datetime as dt

    value = await metrics.query('count(up{job=~".+"})', dt.datetime.now(dt.UTC))
    assert value is not None and value >= 1
    assert any(
        "/services/kube-prometheus-stack-prometheus:9090/proxy/api/v1/query" in p for _, p in kube.requests
    )


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        (lambda d: d.update(stack="staging"), "outputs of stack staging, not prod"),
        (lambda d: d["regions"].pop("ap-southeast-1"), "no outputs for region(s) ap-southeast-1"),
        (
            lambda d: d["regions"]["eu-west-1"].update(kubeconfig="[secret]"),
            "write the file with --show-secrets",
        ),
        (lambda d: d.pop("stateBucket"), "not the outputs of this program (stateBucket"),
    ],
    ids=["another stack", "a region missing", "secrets hidden", "an older program"],
)
def test_bad_outputs_are_refused_naming_the_file_and_fix(
    cloud: tuple[Deployed, Path, FakeKubeApi], tmp_path: Path, change: Any, expected: str
) -> None:
    document = json.loads(cloud[1].read_text())
    change(document)
    bad = tmp_path / "outputs.json"
    bad.write_text(json.dumps(document))
    with pytest.raises(ConfigError) as err:
        load_outputs(load_stack("prod"), bad)
    assert str(err.value).startswith(f"{bad}: ") and expected in str(err.value)
    result = invoke("backup", "list", "--stack", "prod", "--outputs", str(bad))
    assert result.exit_code == 2 and expected in result.output


def test_a_cloud_command_without_outputs_says_how_to_get_them() -> None:
    result = invoke("rollout", "status", "--stack", "prod")
    assert result.exit_code == 2
    assert "pulumi stack output --json --show-secrets -s prod > outputs.json" in result.output
