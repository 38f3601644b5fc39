"""Cloud failover adapters: ElastiCache global datastore calls through botocore's Stubber (moto lacks them;
every request is checked against AWS's API model), Route 53 failover records, CloudFront origin groups and
EKS node groups against moto's server. The HPA floor needs a Kubernetes API server: only its patch is
tested (pure)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from botocore.stub import ANY, Stubber

from infra.automation.adapters.eks import EksNodeGroups, NodeScaling, hpa_floor_patch, raised
from infra.automation.adapters.elasticache import ElastiCacheGlobalStore
from infra.automation.adapters.route53_failover import (
    Route53FailoverRouter,
    Route53Health,
    chain_records,
)
from tests.servers import MotoServer

GLOBAL = "ldgnf-streamgate-prod"
GROUPS = {"us-east-1": "sg-prod-use1", "eu-west-1": "sg-prod-euw1"}


def global_group(
    primary: str, status: str = "available", member_status: str = "associated"
) -> dict[str, Any]:
    return {
        "GlobalReplicationGroups": [
            {
                "GlobalReplicationGroupId": GLOBAL,
                "Status": status,
                "Members": [
                    {
                        "ReplicationGroupId": GROUPS[r],
                        "ReplicationGroupRegion": r,
                        "Role": "PRIMARY" if r == primary else "SECONDARY",
                        "Status": member_status,
                    }
                    for r in GROUPS
                ],
            }
        ]
    }


def replication_group(region: str, *, in_global: bool = True, status: str = "available") -> dict[str, Any]:
    group: dict[str, Any] = {"ReplicationGroupId": GROUPS[region], "Status": status}
    if in_global:
        group["GlobalReplicationGroupInfo"] = {
            "GlobalReplicationGroupId": GLOBAL,
            "GlobalReplicationGroupMemberRole": "SECONDARY",
        }
    return {"ReplicationGroups": [group]}


@pytest.fixture
def stubbed() -> Iterator[tuple[ElastiCacheGlobalStore, dict[str, Stubber], Stubber]]:
    clients = {r: boto3.client("elasticache", region_name=r) for r in GROUPS}
    cloudwatch = boto3.client("cloudwatch", region_name="eu-west-1")
    stubs = {r: Stubber(c) for r, c in clients.items()}
    cw = Stubber(cloudwatch)
    for s in [*stubs.values(), cw]:
        s.activate()
    store = ElastiCacheGlobalStore(GLOBAL, GROUPS, clients, {"eu-west-1": cloudwatch}, poll_seconds=0)
    yield store, stubs, cw
    for s in [*stubs.values(), cw]:
        s.assert_no_pending_responses()
        s.deactivate()


@pytest.fixture
def calls(stubbed: tuple[ElastiCacheGlobalStore, dict[str, Stubber], Stubber]) -> list[tuple[str, str]]:
    """(region, API operation) of every ElastiCache request the store sends, in order."""
    store, _, _ = stubbed
    seen: list[tuple[str, str]] = []
    for region, client in store.clients.items():
        client.meta.events.register(
            "before-parameter-build.elasticache",
            lambda model, region=region, **_: seen.append((region, model.name)),
        )
    return seen


async def test_elasticache_replication_reads_roles_and_cloudwatch_lag(
    stubbed: tuple[ElastiCacheGlobalStore, dict[str, Stubber], Stubber],
) -> None:
    store, stubs, cw = stubbed
    describe = {"GlobalReplicationGroupId": GLOBAL, "ShowMemberInfo": True}
    stubs["us-east-1"].add_response("describe_global_replication_groups", global_group("us-east-1"), describe)
    for r in GROUPS:
        stubs[r].add_response(
            "describe_replication_groups", replication_group(r), {"ReplicationGroupId": GROUPS[r]}
        )
    now = dt.datetime.now(dt.UTC)
    cw.add_response(
        "get_metric_statistics",
        {
            "Datapoints": [
                {"Timestamp": now, "Maximum": 0.4},
                {"Timestamp": now - dt.timedelta(minutes=1), "Maximum": 2.0},
            ]
        },
        {
            "Namespace": "AWS/ElastiCache",
            "MetricName": "GlobalDatastoreReplicationLag",
            "Dimensions": [{"Name": "ReplicationGroupId", "Value": GROUPS["eu-west-1"]}],
            "StartTime": ANY,
            "EndTime": ANY,
            "Period": 60,
            "Statistics": ["Maximum"],
        },
    )
    status = await store.replication()
    assert status.primary == "us-east-1"
    replica = status.nodes["eu-west-1"]
    assert replica.role == "replica" and replica.upstream == "us-east-1" and replica.link_up
    assert replica.lag_seconds == 0.4  # the newest datapoint, not the largest


async def test_elasticache_planned_failover_calls_the_global_api_and_waits(
    stubbed: tuple[ElastiCacheGlobalStore, dict[str, Stubber], Stubber], calls: list[tuple[str, str]]
) -> None:
    store, stubs, _ = stubbed
    eu = stubs["eu-west-1"]
    describe = {"GlobalReplicationGroupId": GLOBAL, "ShowMemberInfo": True}
    eu.add_response("describe_global_replication_groups", global_group("us-east-1"), describe)
    eu.add_response(
        "failover_global_replication_group",
        {"GlobalReplicationGroup": {"GlobalReplicationGroupId": GLOBAL, "Status": "modifying"}},
        {
            "GlobalReplicationGroupId": GLOBAL,
            "PrimaryRegion": "eu-west-1",
            "PrimaryReplicationGroupId": GROUPS["eu-west-1"],
        },
    )
    eu.add_response("describe_global_replication_groups", global_group("us-east-1", "modifying"), describe)
    eu.add_response("describe_global_replication_groups", global_group("eu-west-1"), describe)
    await store.promote("eu-west-1", planned=True)
    # Asked the region it promotes, and waited until it was the global primary (two more looks).
    assert calls == [
        ("eu-west-1", "DescribeGlobalReplicationGroups"),
        ("eu-west-1", "FailoverGlobalReplicationGroup"),
        ("eu-west-1", "DescribeGlobalReplicationGroups"),
        ("eu-west-1", "DescribeGlobalReplicationGroups"),
    ]


async def test_elasticache_planned_failover_is_idempotent(
    stubbed: tuple[ElastiCacheGlobalStore, dict[str, Stubber], Stubber], calls: list[tuple[str, str]]
) -> None:
    store, stubs, _ = stubbed
    describe = {"GlobalReplicationGroupId": GLOBAL, "ShowMemberInfo": True}
    stubs["eu-west-1"].add_response("describe_global_replication_groups", global_group("eu-west-1"), describe)
    stubs["eu-west-1"].add_response("describe_global_replication_groups", global_group("eu-west-1"), describe)
    await store.promote("eu-west-1", planned=True)
    assert [op for _, op in calls] == ["DescribeGlobalReplicationGroups"] * 2  # already primary: no failover


async def test_elasticache_unplanned_detaches_the_secondary(
    stubbed: tuple[ElastiCacheGlobalStore, dict[str, Stubber], Stubber], calls: list[tuple[str, str]]
) -> None:
    store, stubs, _ = stubbed
    eu = stubs["eu-west-1"]
    group = {"ReplicationGroupId": GROUPS["eu-west-1"]}
    eu.add_response("describe_replication_groups", replication_group("eu-west-1"), group)
    eu.add_response(
        "disassociate_global_replication_group",
        {"GlobalReplicationGroup": {"GlobalReplicationGroupId": GLOBAL}},
        {
            "GlobalReplicationGroupId": GLOBAL,
            "ReplicationGroupId": GROUPS["eu-west-1"],
            "ReplicationGroupRegion": "eu-west-1",
        },
    )
    eu.add_response("describe_replication_groups", replication_group("eu-west-1", status="modifying"), group)
    eu.add_response("describe_replication_groups", replication_group("eu-west-1", in_global=False), group)
    await store.promote("eu-west-1", planned=False)
    # Only the surviving region is asked: the primary's region may be down.
    assert calls == [
        ("eu-west-1", "DescribeReplicationGroups"),
        ("eu-west-1", "DisassociateGlobalReplicationGroup"),
        ("eu-west-1", "DescribeReplicationGroups"),
        ("eu-west-1", "DescribeReplicationGroups"),
    ]


async def test_elasticache_with_the_primary_region_down(
    stubbed: tuple[ElastiCacheGlobalStore, dict[str, Stubber], Stubber],
) -> None:
    store, stubs, cw = stubbed
    stubs["us-east-1"].add_client_error(
        "describe_global_replication_groups", "ServiceUnavailable", http_status_code=503
    )
    describe = {"GlobalReplicationGroupId": GLOBAL, "ShowMemberInfo": True}
    stubs["eu-west-1"].add_response(
        "describe_global_replication_groups", global_group("us-east-1", "primary-only", "inactive"), describe
    )
    stubs["us-east-1"].add_client_error(
        "describe_replication_groups", "ServiceUnavailable", http_status_code=503
    )
    stubs["eu-west-1"].add_response(
        "describe_replication_groups",
        replication_group("eu-west-1"),
        {"ReplicationGroupId": GROUPS["eu-west-1"]},
    )
    cw.add_response("get_metric_statistics", {"Datapoints": []}, None)
    status = await store.replication()
    assert not status.nodes["us-east-1"].reachable and status.primary is None
    replica = status.nodes["eu-west-1"]
    assert replica.upstream == "us-east-1" and not replica.link_up and replica.lag_seconds is None


# -- Route 53 failover records against moto --------------------------------------------------------

ORIGINS = {r: f"origin.{r}.example.com" for r in ("us-east-1", "eu-west-1", "ap-southeast-1")}


@pytest.fixture
def route53(moto: MotoServer) -> tuple[Any, str, dict[str, str]]:
    moto.reset()
    client = boto3.client("route53", endpoint_url=moto.url)
    zone = client.create_hosted_zone(Name="example.com", CallerReference="z")["HostedZone"]["Id"].split("/")[
        -1
    ]
    checks = {
        r: client.create_health_check(
            CallerReference=f"hc-{r}",
            HealthCheckConfig={
                "Type": "HTTPS",
                "FullyQualifiedDomainName": o,
                "Port": 443,
                "ResourcePath": "/healthz",
            },
        )["HealthCheck"]["Id"]
        for r, o in ORIGINS.items()
    }
    records = chain_records(list(ORIGINS), "api.example.com", ORIGINS, checks, 30)
    changes: list[Any] = [{"Action": "CREATE", "ResourceRecordSet": r} for r in records]
    client.change_resource_record_sets(HostedZoneId=zone, ChangeBatch={"Changes": changes})
    return client, zone, checks


async def test_route53_failover_reorders_the_chain(route53: tuple[Any, str, dict[str, str]]) -> None:
    client, zone, checks = route53
    router = Route53FailoverRouter(client, zone, "api.example.com", ORIGINS, checks, poll_seconds=0)
    assert await router.get_weights() == {"us-east-1": 100, "eu-west-1": 0, "ap-southeast-1": 0}
    assert router.order() == ["us-east-1", "eu-west-1", "ap-southeast-1"]
    await router.set_weights({"us-east-1": 0, "eu-west-1": 100, "ap-southeast-1": 0})
    assert router.order() == ["eu-west-1", "us-east-1", "ap-southeast-1"]
    assert await router.verify({"eu-west-1": 100, "us-east-1": 0, "ap-southeast-1": 0})
    # The records are exactly the chain for the new order: stale set identifiers were deleted.
    live = [
        r
        for r in client.list_resource_record_sets(HostedZoneId=zone)["ResourceRecordSets"]
        if r.get("Failover")
    ]
    expected = chain_records(
        ["eu-west-1", "us-east-1", "ap-southeast-1"], "api.example.com", ORIGINS, checks, 30
    )
    key = lambda r: (r["Name"], r["SetIdentifier"])  # noqa: E731
    assert sorted(
        (key(r), r["Failover"], r["ResourceRecords"][0]["Value"], r.get("HealthCheckId")) for r in live
    ) == sorted(
        (key(r), r["Failover"], r["ResourceRecords"][0]["Value"], r.get("HealthCheckId")) for r in expected
    )
    primary = next(r for r in live if r["Name"] == "api.example.com." and r["Failover"] == "PRIMARY")
    assert primary["ResourceRecords"][0]["Value"] == ORIGINS["eu-west-1"]
    assert primary["HealthCheckId"] == checks["eu-west-1"]


async def test_route53_health_reads_health_check_status(route53: tuple[Any, str, dict[str, str]]) -> None:
    client, _, checks = route53
    health = await Route53Health(client, {**checks, "ap-southeast-1": "no-such-check"}).health(list(ORIGINS))
    # moto always reports success for existing checks; a missing check counts as unhealthy.
    assert health["us-east-1"].healthy and health["eu-west-1"].healthy
    assert not health["ap-southeast-1"].healthy


# -- EKS node group floor against moto; HPA patch (pure) -------------------------------------------


def test_node_group_floor_is_raised_never_lowered(moto: MotoServer) -> None:
    moto.reset()
    eks = boto3.client("eks", endpoint_url=moto.url)
    eks.create_cluster(
        name="c", roleArn="arn:aws:iam::123456789012:role/c", resourcesVpcConfig={"subnetIds": ["s"]}
    )
    for name, labels in (
        ("other", {"streamgate/pool": "batch"}),
        ("gateway-abc", {"streamgate/pool": "general"}),
    ):
        eks.create_nodegroup(
            clusterName="c",
            nodegroupName=name,
            nodeRole="arn:aws:iam::123456789012:role/n",
            subnets=["s"],
            scalingConfig={"minSize": 2, "maxSize": 6, "desiredSize": 2},
            labels=labels,
        )
    groups = EksNodeGroups({"eu-west-1": eks}, {"eu-west-1": "c"})
    assert groups.raise_to("eu-west-1", 4) == NodeScaling("gateway-abc", 4, 6, 4)
    live = eks.describe_nodegroup(clusterName="c", nodegroupName="gateway-abc")["nodegroup"]["scalingConfig"]
    assert (live["minSize"], live["desiredSize"]) == (4, 4)
    assert groups.raise_to("eu-west-1", 1) == NodeScaling("gateway-abc", 4, 6, 4)  # never lowered
    assert groups.raise_to("eu-west-1", 99).min_size == 6  # capped at max
    other = eks.describe_nodegroup(clusterName="c", nodegroupName="other")["nodegroup"]["scalingConfig"]
    assert other["minSize"] == 2


def test_floor_arithmetic() -> None:
    assert raised(NodeScaling("n", 2, 6, 3), 4) == NodeScaling("n", 4, 6, 4)
    assert raised(NodeScaling("n", 2, 6, 5), 4) == NodeScaling("n", 4, 6, 5)
    assert hpa_floor_patch(2, 20, 6) == {"spec": {"minReplicas": 6}}
    assert hpa_floor_patch(8, 20, 6) is None
    assert hpa_floor_patch(2, 4, 6) == {"spec": {"minReplicas": 4}}
