"""Least privilege, proven by enforcement: the roles the prod plan declares, created in moto's server with IAM
enforcement on, assumed, and used by the real code paths.

- The gateway (its IRSA role's policy from the plan): readiness, MFA enrollment and step-up, an admin PUT
  (with its CDN purge), a GET from the origin (writing the L3 copy) and a GET from L3.
- The automation (the stack's automation role): state and locks, every region's backups (create, list,
  verify, restore, prune), failover's DNS, CDN origin, health, node group, datastore and catalog (Aurora
  global database) adapters.

Both directions are checked: no call is denied and each is allowed by the declared statements (Action and
Resource, evaluated by tests/iam.py where moto cannot resolve resources), and every declared action is one
the code calls. Removing any statement makes a call fail with AccessDenied. ElastiCache's global datastore and
Aurora's global switchover/failover are not in moto: those calls go to botocore's Stubber, so only the
evaluator (not moto) judges them.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import os
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from unittest import mock

import boto3
import httpx
import pytest
from botocore.stub import Stubber

from infra.automation.backup.backups import Backups
from infra.automation.targets import aws as aws_target
from infra.automation.targets.aws import AwsTarget
from infra.config import load_stack
from infra.outputs import StackOutputs
from infra.plan import Plan
from tests.deployed import Deployed, deploy
from tests.gateway_spec import MFA_HEADER, admin_token, container, current_code, enroll_admin, environment
from tests.iam import CallRecorder, allowed, listed, matches, moto_view
from tests.kubeapi import FakeKubeApi, gateway_objects
from tests.servers import EnforcingMoto, RedisServer, enforcing_moto_server, moto_server

REGION = "eu-west-1"
CALLS: list[Any] = []
ROLE_NUMBER = itertools.count()
Statements = list[dict[str, Any]]


@dataclass
class Aws:
    moto: EnforcingMoto
    deployed: Deployed
    kube: FakeKubeApi
    plan: Plan


# moto (5.2) fails the signature of every GET of its REST services but S3 while it enforces IAM (it signs
# the parsed query as a body), so Route 53, CloudFront and EKS answer from a moto without enforcement
# (botocore's per-service endpoint variables): their calls are recorded and judged by the evaluator only.
UNENFORCED = ("AWS_ENDPOINT_URL_ROUTE_53", "AWS_ENDPOINT_URL_CLOUDFRONT", "AWS_ENDPOINT_URL_EKS")


@pytest.fixture(scope="module")
def aws(plan_of: Any) -> Iterator[Aws]:
    kube = FakeKubeApi(objects=gateway_objects())
    with (
        enforcing_moto_server() as moto,
        moto_server() as plain,
        kube.serving(),
        pytest.MonkeyPatch.context() as mp,
    ):
        mp.setenv("AWS_ENDPOINT_URL", moto.url)
        for variable in UNENFORCED:
            mp.setenv(variable, plain.url)
        mp.delenv("AWS_SESSION_TOKEN", raising=False)
        for name, value in moto.admin.items():
            mp.setenv(name, value)
        boto3.DEFAULT_SESSION = None  # it cached the credentials it found before
        plain.reset()  # in-process moto servers share their state: start from none
        plan = plan_of("prod")
        yield Aws(moto, deploy(plan, kube), kube, plan)


def declared(plan: Plan, policy_name: str) -> Statements:
    """The statements of the RolePolicy the plan declares under `policy_name`."""
    (policy,) = [p for p in plan.of_type("aws:iam/rolePolicy:RolePolicy") if p.name == policy_name]
    statements: Statements = json.loads(policy.inputs["policy"])["Statement"]
    return statements


def credentials(statements: Statements) -> dict[str, str]:
    """A role in moto holding `statements` (as moto can enforce them), assumed: its session credentials."""
    name = f"role-{next(ROLE_NUMBER)}"
    iam, sts = boto3.client("iam"), boto3.client("sts")
    admin = iam.get_user(UserName="admin")["User"]["Arn"]
    trust = {
        "Version": "2012-10-17",
        "Statement": [{"Effect": "Allow", "Principal": {"AWS": admin}, "Action": "sts:AssumeRole"}],
    }
    arn = iam.create_role(RoleName=name, AssumeRolePolicyDocument=json.dumps(trust))["Role"]["Arn"]
    document = {"Version": "2012-10-17", "Statement": moto_view(statements)}
    iam.put_role_policy(RoleName=name, PolicyName=name, PolicyDocument=json.dumps(document))
    creds = sts.assume_role(RoleArn=arn, RoleSessionName=name)["Credentials"]
    return {
        "AWS_ACCESS_KEY_ID": creds["AccessKeyId"],
        "AWS_SECRET_ACCESS_KEY": creds["SecretAccessKey"],
        "AWS_SESSION_TOKEN": creds["SessionToken"],
    }


@contextmanager
def as_role(creds: dict[str, str]) -> Iterator[None]:
    """Act with `creds`: boto3's default session caches the credentials it first found, so it is dropped on
    the way in and out (a process runs as one identity; these tests switch)."""
    with mock.patch.dict(os.environ, creds):
        boto3.DEFAULT_SESSION = None
        try:
            yield
        finally:
            boto3.DEFAULT_SESSION = None


def check_both_ways(statements: Statements, recorder: CallRecorder) -> None:
    """Every call allowed (none denied, each granted by a statement), and every statement used."""
    assert not recorder.denied(), recorder.denied()
    calls = [c for c in recorder.calls if c.service not in ("sts", "iam")]
    refused = [c for c in calls if not allowed(statements, c)]
    assert not refused, "\n".join(f"{c.action} on {c.resources}" for c in refused)
    declared_actions = {a for s in statements for a in listed(s["Action"])}
    called = {c.action for c in calls}
    assert declared_actions == called, (
        f"declared but never called: {sorted(declared_actions - called)}; "
        f"called but not declared: {sorted(called - declared_actions)}"
    )
    for statement in statements:
        for pattern in listed(statement["Resource"]):
            assert any(
                c.action in listed(statement["Action"]) and any(matches(pattern, r) for r in c.resources)
                for c in calls
            ), f"{statement['Sid']}: no call touches {pattern}"


# -- the gateway --------------------------------------------------------------------------------------------
def gateway_environment(aws: Aws, redis: RedisServer) -> dict[str, str]:
    env = environment(aws.deployed.map(container(aws.plan, REGION)))
    # The process's network: the plan's ElastiCache endpoint (TLS, AUTH) is a plain local Redis here; the
    # container test (test_container_spec.py) runs the TLS + AUTH path.
    env["STREAMGATE_REDIS__URL"] = redis.url
    env.pop("STREAMGATE_REDIS__PASSWORD")
    env["STREAMGATE_SERVER__HOST"] = "127.0.0.1"
    return env


async def gateway_paths(env: dict[str, str]) -> list[int]:
    """Serve, upload and read back through both tiers behind Redis; the HTTP statuses seen."""
    from runtime.service import create_app
    from runtime.service.settings import GatewaySettings

    statuses: list[int] = []
    subject = f"ops-{uuid.uuid4().hex[:8]}"
    with mock.patch.dict(os.environ, env):
        settings = GatewaySettings()
    app = create_app(settings)
    gateway = app.state.gateway
    await gateway.start()
    try:
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://gw") as client:
            ready = await client.get("/readyz")
            statuses.append(ready.status_code)
            try:
                secret = await enroll_admin(env, gateway.redis, gateway.kms, subject)
            except Exception:
                return [*statuses, 0]
            step_up = await client.post(
                "/v1/auth/step-up",
                headers={
                    "Authorization": f"Bearer {admin_token(env, subject)}",
                    MFA_HEADER: current_code(secret),
                },
            )
            statuses.append(step_up.status_code)
            token = (
                step_up.json().get("token", "") if step_up.status_code == 200 else admin_token(env, subject)
            )
            put = await client.put(
                "/v1/content/iam/segments/0",
                content=b"\x47" * 4096,
                headers={"Authorization": f"Bearer {token}", "Content-Type": "video/mp2t"},
            )
            statuses.append(put.status_code)
            statuses.append((await client.get("/v1/content/iam/segments/0")).status_code)
            await asyncio.sleep(0.5)  # the L3 copy is written behind the response
    finally:
        await gateway.stop()
    # A second instance with Redis emptied: the object comes from L3 (the region's encrypted copy).
    second = create_app(settings)
    await second.state.gateway.redis.flushall()
    await second.state.gateway.start()
    try:
        async with httpx.AsyncClient(
            transport=httpx.ASGITransport(app=second), base_url="http://gw"
        ) as client:
            statuses.append((await client.get("/v1/content/iam/segments/0")).status_code)
    finally:
        await second.state.gateway.stop()
    return statuses


@pytest.fixture
def gateway_statements(aws: Aws) -> Statements:
    statements = aws.deployed.map(declared(aws.plan, f"{REGION}-gateway-irsa"))
    assert isinstance(statements, list) and statements
    return statements


async def test_the_gateways_role_allows_exactly_what_it_calls(
    aws: Aws, redis: RedisServer, gateway_statements: Statements
) -> None:
    env = gateway_environment(aws, redis)
    creds = credentials(gateway_statements)
    recorder = CallRecorder()
    CALLS[:] = [recorder]
    with as_role(creds), recorder.recording():
        statuses = await gateway_paths(env)
    assert statuses == [200, 200, 200, 200, 200], statuses
    operations = {(c.service, c.operation) for c in recorder.calls}
    assert ("cloudfront", "CreateInvalidation") in operations  # the admin PUT purged the CDN
    assert any(c.action == "s3:GetObject" and "/l3-cache/" in c.resources[0] for c in recorder.calls)
    check_both_ways(gateway_statements, recorder)


@pytest.mark.parametrize(
    "sid", ["ListContent", "ReadWriteContent", "DropL3Copies", "EnvelopeKeys", "PurgeCdn"]
)
async def test_a_statement_removed_from_the_gateways_role_is_denied(
    aws: Aws, redis: RedisServer, gateway_statements: Statements, sid: str
) -> None:
    (removed,) = [s for s in gateway_statements if s["Sid"] == sid]
    kept = [s for s in gateway_statements if s["Sid"] != sid]
    recorder = CallRecorder()
    with as_role(credentials(kept)), recorder.recording():
        await gateway_paths(gateway_environment(aws, redis))
    refused = recorder.refused(kept)
    assert refused & set(listed(removed["Action"])), (sid, refused)


# -- the automation -----------------------------------------------------------------------------------------
@contextmanager
def stubbed_datastore(outputs: StackOutputs) -> Iterator[dict[str, Stubber]]:
    """ElastiCache and RDS's global database calls answered by Stubber in every region (moto has neither);
    the rest of boto3 goes to moto. Stubs are keyed by region, and `rds:<region>` for RDS."""
    clients = {r: boto3.client("elasticache", region_name=r) for r in outputs.regions}
    clients |= {f"rds:{r}": boto3.client("rds", region_name=r) for r in outputs.regions}
    stubs = {r: Stubber(c) for r, c in clients.items()}
    real = aws_target.aws_client

    def client(service: str, region: str | None = None) -> Any:
        if service == "rds":
            return clients[f"rds:{region}"]
        return clients[region or ""] if service == "elasticache" else real(service, region)

    with mock.patch.object(aws_target, "aws_client", client):
        for stub in stubs.values():
            stub.activate()
        yield stubs
        for stub in stubs.values():
            stub.assert_no_pending_responses()
            stub.deactivate()


def global_group(outputs: StackOutputs, primary: str) -> dict[str, Any]:
    members = [
        {
            "ReplicationGroupId": o.redis_replication_group_id,
            "ReplicationGroupRegion": r,
            "Role": "PRIMARY" if r == primary else "SECONDARY",
            "Status": "associated",
        }
        for r, o in outputs.regions.items()
    ]
    group = {
        "GlobalReplicationGroupId": outputs.global_datastore_id,
        "Status": "available",
        "Members": members,
    }
    return {"GlobalReplicationGroups": [group]}


def replication_group(outputs: StackOutputs, region: str, *, in_global: bool = True) -> dict[str, Any]:
    group: dict[str, Any] = {
        "ReplicationGroupId": outputs.regions[region].redis_replication_group_id,
        "Status": "available",
    }
    if in_global:
        group["GlobalReplicationGroupInfo"] = {
            "GlobalReplicationGroupId": outputs.global_datastore_id,
            "GlobalReplicationGroupMemberRole": "SECONDARY",
        }
    return {"ReplicationGroups": [group]}


def global_catalog(outputs: StackOutputs, writer: str) -> dict[str, Any]:
    members = [
        {"DBClusterArn": o.catalog_cluster_arn, "IsWriter": r == writer, "SynchronizationStatus": "connected"}
        for r, o in outputs.regions.items()
    ]
    cluster = {
        "GlobalClusterIdentifier": outputs.catalog_global_cluster_id,
        "Status": "available",
        "GlobalClusterMembers": members,
    }
    return {"GlobalClusters": [cluster]}


def queue_catalog(stubs: dict[str, Stubber], outputs: StackOutputs) -> None:
    """What the Aurora adapter asks, in order: the members, a switchover to eu-west-1, then a failover
    with data loss allowed to ap-southeast-1 (each request checked against RDS's API model)."""
    global_id = outputs.catalog_global_cluster_id
    describe = {"GlobalClusterIdentifier": global_id}
    stubs["rds:us-east-1"].add_response(
        "describe_global_clusters", global_catalog(outputs, "us-east-1"), describe
    )
    for r, o in outputs.regions.items():  # each region's cluster, asked in its own region
        arn = o.catalog_cluster_arn
        cluster = {"DBClusters": [{"DBClusterArn": arn, "Status": "available"}]}
        stubs[f"rds:{r}"].add_response("describe_db_clusters", cluster, {"DBClusterIdentifier": arn})
    eu, ap = stubs["rds:eu-west-1"], stubs["rds:ap-southeast-1"]
    eu.add_response("describe_global_clusters", global_catalog(outputs, "us-east-1"), describe)
    eu.add_response(
        "switchover_global_cluster",
        {"GlobalCluster": {"GlobalClusterIdentifier": global_id}},
        {
            "GlobalClusterIdentifier": global_id,
            "TargetDbClusterIdentifier": outputs.regions["eu-west-1"].catalog_cluster_arn,
        },
    )
    eu.add_response("describe_global_clusters", global_catalog(outputs, "eu-west-1"), describe)
    ap.add_response("describe_global_clusters", global_catalog(outputs, "eu-west-1"), describe)
    ap.add_response(
        "failover_global_cluster",
        {"GlobalCluster": {"GlobalClusterIdentifier": global_id}},
        {
            "GlobalClusterIdentifier": global_id,
            "TargetDbClusterIdentifier": outputs.regions["ap-southeast-1"].catalog_cluster_arn,
            "AllowDataLoss": True,
        },
    )
    ap.add_response("describe_global_clusters", global_catalog(outputs, "ap-southeast-1"), describe)


def queue_datastore(stubs: dict[str, Stubber], outputs: StackOutputs) -> None:
    """What the datastore adapter asks, in order: the replication status, a planned failover to eu-west-1,
    then an unplanned one that detaches ap-southeast-1; the catalog's Aurora global database alike."""
    queue_catalog(stubs, outputs)
    describe = {"GlobalReplicationGroupId": outputs.global_datastore_id, "ShowMemberInfo": True}
    stubs["us-east-1"].add_response(
        "describe_global_replication_groups", global_group(outputs, "us-east-1"), describe
    )
    for r, o in outputs.regions.items():
        stubs[r].add_response(
            "describe_replication_groups",
            replication_group(outputs, r, in_global=True),
            {"ReplicationGroupId": o.redis_replication_group_id},
        )
    eu = stubs["eu-west-1"]
    eu.add_response("describe_global_replication_groups", global_group(outputs, "us-east-1"), describe)
    eu.add_response(
        "failover_global_replication_group",
        {"GlobalReplicationGroup": {"GlobalReplicationGroupId": outputs.global_datastore_id}},
        {
            "GlobalReplicationGroupId": outputs.global_datastore_id,
            "PrimaryRegion": "eu-west-1",
            "PrimaryReplicationGroupId": outputs.regions["eu-west-1"].redis_replication_group_id,
        },
    )
    eu.add_response("describe_global_replication_groups", global_group(outputs, "eu-west-1"), describe)
    ap, group_id = stubs["ap-southeast-1"], outputs.regions["ap-southeast-1"].redis_replication_group_id
    ap.add_response(
        "describe_replication_groups",
        replication_group(outputs, "ap-southeast-1"),
        {"ReplicationGroupId": group_id},
    )
    ap.add_response(
        "disassociate_global_replication_group",
        {"GlobalReplicationGroup": {"GlobalReplicationGroupId": outputs.global_datastore_id}},
        {
            "GlobalReplicationGroupId": outputs.global_datastore_id,
            "ReplicationGroupId": group_id,
            "ReplicationGroupRegion": "ap-southeast-1",
        },
    )
    ap.add_response(
        "describe_replication_groups",
        replication_group(outputs, "ap-southeast-1", in_global=False),
        {"ReplicationGroupId": group_id},
    )


async def automation_paths(target: AwsTarget, outputs: StackOutputs, scratch: Path) -> None:
    """Every AWS adapter of the automation, as rollouts, failovers and backups use them."""
    store, key = target.state_store(), f"iam/{uuid.uuid4().hex}"
    store.save(key, {"ok": True})
    assert store.load(key) == {"ok": True}
    store.lock(key, "test_iam").release()
    regions = list(outputs.regions)
    for region in regions:
        (scratch / region).mkdir(parents=True, exist_ok=True)
        boto3_s3 = target.bucket(outputs.regions[region].content_bucket, region)
        await boto3_s3.put("content/iam/segments/0", b"segment")
        manifest = await Backups(target.backup(region)).create()
        # Verify and restore as later commands do: another process, no data key cached from the backup.
        backups = Backups(target.backup(region))
        assert manifest.backup_id in [b.backup_id for b in await backups.list()]
        assert (await backups.verify(manifest.backup_id, scratch=scratch / region)).ok
        await backups.restore(manifest.backup_id, to=backups.t.content, scratch=scratch / region)
        later = manifest.finished_at + 400 * 86400
        await backups.prune(retention_days=1, keep_last=1, incomplete_grace_hours=1, now=later)
        await backups.create()
        await backups.prune(retention_days=1, keep_last=1, incomplete_grace_hours=1, now=later)
    ports = target.failover_ports()
    assert set(await ports.health.health(regions)) == set(regions)
    await ports.datastore.replication()
    for router in ports.traffic:
        weights = await router.get_weights()
        await router.set_weights({r: (100 if r == "eu-west-1" else 0) for r in weights})
    for region in regions:
        await ports.capacity.capacity(region)
    await ports.capacity.raise_floor("eu-west-1", 12)
    await ports.datastore.promote("eu-west-1", planned=True)
    await ports.datastore.promote("ap-southeast-1", planned=False)


@pytest.fixture
def automation_statements(aws: Aws) -> Statements:
    statements = aws.deployed.map(declared(aws.plan, "automation-role"))
    assert isinstance(statements, list) and statements
    return statements


def automation_target(aws: Aws) -> tuple[AwsTarget, StackOutputs]:
    outputs = StackOutputs.model_validate(aws.deployed.outputs)
    target = AwsTarget(load_stack("prod"), outputs)
    return target, outputs


async def test_the_automation_role_allows_exactly_what_it_calls(
    aws: Aws, automation_statements: Statements, tmp_path: Path
) -> None:
    creds = credentials(automation_statements)
    target, outputs = automation_target(aws)
    recorder = CallRecorder()
    with as_role(creds), recorder.recording(), stubbed_datastore(outputs) as stubs:
        queue_datastore(stubs, outputs)
        with mock.patch("infra.automation.adapters.elasticache.time.sleep"):
            await automation_paths(target, outputs, tmp_path)
    check_both_ways(automation_statements, recorder)


@pytest.mark.parametrize(
    "sid", ["State", "Backups", "BackupKeys", "Dns", "Health", "CdnOrigins", "NodeFloors", "CatalogFailover"]
)
async def test_a_statement_removed_from_the_automation_role_is_denied(
    aws: Aws, automation_statements: Statements, tmp_path: Path, sid: str
) -> None:
    (removed,) = [s for s in automation_statements if s["Sid"] == sid]
    kept = [s for s in automation_statements if s["Sid"] != sid]
    creds = credentials(kept)
    target, outputs = automation_target(aws)
    recorder = CallRecorder()
    # Where moto enforces, the first denial ends the run; where only the evaluator judges, it runs on.
    with (
        as_role(creds),
        recorder.recording(),
        contextlib.suppress(Exception),
        stubbed_datastore(outputs) as stubs,
        mock.patch("infra.automation.adapters.elasticache.time.sleep"),
    ):
        queue_datastore(stubs, outputs)
        await automation_paths(target, outputs, tmp_path)
    refused = recorder.refused(kept)
    assert refused & set(listed(removed["Action"])), (sid, refused)
