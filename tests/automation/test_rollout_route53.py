"""Route 53 weighted records as a router, against moto's server."""

from __future__ import annotations

import boto3
import pytest

from infra.automation.adapters.route53 import Route53WeightedRouter
from infra.automation.errors import RouterError
from tests.servers import MotoServer

TARGETS = {"blue": "blue-lb.us-east-1.elb.example.net", "green": "green-lb.us-east-1.elb.example.net"}


@pytest.fixture
def router(moto: MotoServer) -> Route53WeightedRouter:
    moto.reset()
    client = boto3.client("route53", endpoint_url=moto.url, region_name="us-east-1")
    client.create_hosted_zone(Name="streamgate.example.com", CallerReference="t")
    zone = Route53WeightedRouter.zone_id_for(client, "streamgate.example.com")
    # A neighbour record must not be mistaken for ours.
    client.change_resource_record_sets(
        HostedZoneId=zone,
        ChangeBatch={
            "Changes": [
                {
                    "Action": "CREATE",
                    "ResourceRecordSet": {
                        "Name": "other.streamgate.example.com",
                        "Type": "CNAME",
                        "TTL": 60,
                        "ResourceRecords": [{"Value": "x.example.net"}],
                    },
                }
            ]
        },
    )
    return Route53WeightedRouter(client, zone, "gateway.us-east-1.streamgate.example.com", TARGETS)


async def test_weights_are_written_read_back_and_verified(router: Route53WeightedRouter) -> None:
    assert await router.get_weights() == {"blue": 0, "green": 0}  # no records yet
    await router.set_weights({"blue": 90, "green": 10})
    assert await router.get_weights() == {"blue": 90, "green": 10}
    assert await router.verify({"blue": 90, "green": 10})
    assert not await router.verify({"blue": 50, "green": 50})
    await router.set_weights({"blue": 0, "green": 100})
    assert await router.get_weights() == {"blue": 0, "green": 100}
    records = router.client.list_resource_record_sets(HostedZoneId=router.zone_id)["ResourceRecordSets"]
    ours = [r for r in records if r["Name"] == "gateway.us-east-1.streamgate.example.com."]
    assert {(r["SetIdentifier"], r["Weight"], r["ResourceRecords"][0]["Value"]) for r in ours} == {
        ("blue", 0, TARGETS["blue"]),
        ("green", 100, TARGETS["green"]),
    }
    assert all(r["TTL"] == 30 and r["Type"] == "CNAME" for r in ours)


def test_missing_zone_is_an_error(moto: MotoServer) -> None:
    moto.reset()
    client = boto3.client("route53", endpoint_url=moto.url, region_name="us-east-1")
    with pytest.raises(RouterError, match="no Route 53 hosted zone"):
        Route53WeightedRouter.zone_id_for(client, "nowhere.example.com")
