"""The Aurora global database adapter, every request checked against RDS's API model by botocore's Stubber
(moto has no global switchover or failover): the replication view, a planned switchover, an unplanned
failover that allows data loss, and what `repoint` leaves pending."""

from __future__ import annotations

from typing import Any

import boto3
import pytest
from botocore.stub import Stubber

from infra.automation.adapters.aurora_global import AuroraGlobalStore

GLOBAL = "streamgate-prod-catalog"
ARNS = {r: f"arn:aws:rds:{r}:123456789012:cluster:catalog-{r}" for r in ("us-east-1", "eu-west-1")}


def described(
    writer: str, status: str = "available", members: tuple[str, ...] = tuple(ARNS)
) -> dict[str, Any]:
    return {
        "GlobalClusters": [
            {
                "GlobalClusterIdentifier": GLOBAL,
                "Status": status,
                "GlobalClusterMembers": [
                    {"DBClusterArn": ARNS[r], "IsWriter": r == writer, "SynchronizationStatus": "connected"}
                    for r in members
                ],
            }
        ]
    }


@pytest.fixture
def stubs() -> dict[str, Stubber]:
    return {r: Stubber(boto3.client("rds", region_name=r)) for r in ARNS}


def store(stubs: dict[str, Stubber]) -> AuroraGlobalStore:
    return AuroraGlobalStore(GLOBAL, ARNS, {r: s.client for r, s in stubs.items()}, poll_seconds=0)


def cluster(region: str, status: str = "available") -> dict[str, Any]:
    return {"DBClusters": [{"DBClusterArn": ARNS[region], "Status": status}]}


async def test_the_view_names_the_writer_and_a_region_whose_api_is_down(stubs: dict[str, Stubber]) -> None:
    us, eu = stubs["us-east-1"], stubs["eu-west-1"]
    us.add_response("describe_global_clusters", described("us-east-1"), {"GlobalClusterIdentifier": GLOBAL})
    us.add_response("describe_db_clusters", cluster("us-east-1"), {"DBClusterIdentifier": ARNS["us-east-1"]})
    eu.add_client_error("describe_db_clusters", "InternalFailure", http_status_code=503)
    for s in stubs.values():
        s.activate()
    view = await store(stubs).replication()
    assert view.primary == "us-east-1"
    assert not view.nodes["eu-west-1"].reachable and "does not answer" in view.nodes["eu-west-1"].detail


async def test_planned_switches_over_and_unplanned_fails_over_allowing_data_loss(
    stubs: dict[str, Stubber],
) -> None:
    us, eu = stubs["us-east-1"], stubs["eu-west-1"]
    ident = {"GlobalClusterIdentifier": GLOBAL}
    eu.add_response("describe_global_clusters", described("us-east-1"), ident)
    eu.add_response(
        "switchover_global_cluster",
        {"GlobalCluster": {"GlobalClusterIdentifier": GLOBAL}},
        {**ident, "TargetDbClusterIdentifier": ARNS["eu-west-1"]},
    )
    eu.add_response("describe_global_clusters", described("eu-west-1", status="switching-over"), ident)
    eu.add_response("describe_global_clusters", described("eu-west-1"), ident)
    us.add_response("describe_global_clusters", described("eu-west-1"), ident)
    us.add_response(
        "failover_global_cluster",
        {"GlobalCluster": {"GlobalClusterIdentifier": GLOBAL}},
        {**ident, "TargetDbClusterIdentifier": ARNS["us-east-1"], "AllowDataLoss": True},
    )
    # The old writer's region is gone: the global database lists only the new writer.
    us.add_response("describe_global_clusters", described("us-east-1", members=("us-east-1",)), ident)
    us.add_response("describe_global_clusters", described("us-east-1", members=("us-east-1",)), ident)
    us.add_response("describe_db_clusters", cluster("us-east-1"), {"DBClusterIdentifier": ARNS["us-east-1"]})
    eu.add_client_error("describe_db_clusters", "InternalFailure", http_status_code=503)
    for s in stubs.values():
        s.activate()
    aurora = store(stubs)
    await aurora.promote("eu-west-1", planned=True)
    await aurora.promote("us-east-1", planned=False)
    done = await aurora.repoint("us-east-1")
    assert done.unreachable == ["eu-west-1"] and done.replicas == []
    for s in stubs.values():
        s.assert_no_pending_responses()
