"""The contract every Router passes (infra/automation/adapters `Router`): weights set are read back from the
live router and verified, other weights are not; bad weights and unknown backends are refused and change
nothing; applying the same weights again is harmless. One test per clause, run on every implementation:
nginx's color and region routers on the local platform, ingress-nginx on a stand-in API server
(tests/kubeapi.py), Route 53 weighted and failover records and CloudFront's origin group on moto's server.

A router that sends traffic to one backend at a time (failover records, an origin group) must refuse a
split, which the others must apply."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import boto3
import pytest
from kubernetes import config as kube_config

from infra.automation.adapters import Router
from infra.automation.adapters.cloudfront import CloudFrontOriginRouter
from infra.automation.adapters.ingress_nginx import IngressCanaryRouter
from infra.automation.adapters.local_region import NginxRegionRouter
from infra.automation.adapters.nginx_local import NginxColorRouter
from infra.automation.adapters.route53 import Route53WeightedRouter
from infra.automation.adapters.route53_failover import Route53FailoverRouter, chain_records
from infra.automation.errors import RouterError
from infra.local.nginx import REGIONS
from tests.kubeapi import FakeKubeApi, gateway_objects
from tests.local_platform import RunningPlatform
from tests.servers import MotoServer

ORIGINS = {r: f"origin.{r}.example.com" for r in ("us-east-1", "eu-west-1")}


@dataclass
class Case:
    router: Router
    backends: list[str]
    splits: bool  # applies weights shared between backends (else: one backend takes all)


@contextmanager
def nginx_colors(request: pytest.FixtureRequest) -> Iterator[Case]:
    lp: RunningPlatform = request.getfixturevalue("running_platform")
    try:
        yield Case(NginxColorRouter(lp.router, "local-b"), ["blue", "green"], splits=True)
    finally:
        lp.router.write_weights("local-b", {"blue": 100, "green": 0})


@contextmanager
def nginx_regions(request: pytest.FixtureRequest) -> Iterator[Case]:
    lp: RunningPlatform = request.getfixturevalue("running_platform")
    before = lp.router.read_state()
    try:
        yield Case(NginxRegionRouter(lp.router), ["local-a", "local-b"], splits=True)
    finally:
        lp.router.write_weights(REGIONS, before.regions, drained=set(before.drained))


@contextmanager
def ingress_nginx(request: pytest.FixtureRequest) -> Iterator[Case]:
    with FakeKubeApi(objects=gateway_objects()).serving() as api:
        client = kube_config.new_client_from_config_dict(api.kubeconfig("contract"))
        yield Case(IngressCanaryRouter(client), ["blue", "green"], splits=True)


def _route53(request: pytest.FixtureRequest) -> Any:
    moto: MotoServer = request.getfixturevalue("moto")
    moto.reset()
    return boto3.client("route53", endpoint_url=moto.url, region_name="us-east-1")


@contextmanager
def route53_weighted(request: pytest.FixtureRequest) -> Iterator[Case]:
    client = _route53(request)
    client.create_hosted_zone(Name="streamgate.example.com", CallerReference="contract")
    zone = Route53WeightedRouter.zone_id_for(client, "streamgate.example.com")
    targets = {c: f"{c}-lb.us-east-1.elb.example.net" for c in ("blue", "green")}
    yield Case(
        Route53WeightedRouter(client, zone, "gateway.streamgate.example.com", targets), list(targets), True
    )


@contextmanager
def route53_failover(request: pytest.FixtureRequest) -> Iterator[Case]:
    client = _route53(request)
    zone = client.create_hosted_zone(Name="example.com", CallerReference="contract")["HostedZone"]["Id"]
    checks = {
        r: client.create_health_check(
            CallerReference=f"hc-{r}",
            HealthCheckConfig={"Type": "HTTPS", "FullyQualifiedDomainName": o, "Port": 443},
        )["HealthCheck"]["Id"]
        for r, o in ORIGINS.items()
    }
    records = chain_records(list(ORIGINS), "api.example.com", ORIGINS, checks, 30)
    changes: list[Any] = [{"Action": "CREATE", "ResourceRecordSet": r} for r in records]
    client.change_resource_record_sets(HostedZoneId=zone, ChangeBatch={"Changes": changes})
    router = Route53FailoverRouter(client, zone.split("/")[-1], "api.example.com", ORIGINS, checks)
    yield Case(router, list(ORIGINS), splits=False)


@contextmanager
def cloudfront(request: pytest.FixtureRequest) -> Iterator[Case]:
    moto: MotoServer = request.getfixturevalue("moto")
    moto.reset()
    client = boto3.client("cloudfront", endpoint_url=moto.url, region_name="us-east-1")
    regions = list(ORIGINS)
    origin = {"HTTPPort": 80, "HTTPSPort": 443, "OriginProtocolPolicy": "https-only"}
    config = {
        "CallerReference": "contract",
        "Comment": "streamgate",
        "Enabled": True,
        "Origins": {
            "Quantity": 2,
            "Items": [{"Id": r, "DomainName": ORIGINS[r], "CustomOriginConfig": origin} for r in regions],
        },
        "OriginGroups": {
            "Quantity": 1,
            "Items": [
                {
                    "Id": "regional-failover",
                    "FailoverCriteria": {"StatusCodes": {"Quantity": 2, "Items": [502, 503]}},
                    "Members": {"Quantity": 2, "Items": [{"OriginId": r} for r in regions]},
                }
            ],
        },
        "DefaultCacheBehavior": {
            "TargetOriginId": regions[0],
            "ViewerProtocolPolicy": "https-only",
            "CachePolicyId": "4135ea2d-6df8-44a3-9df3-4b5a84be39ad",
        },
    }
    distribution = client.create_distribution(DistributionConfig=config)["Distribution"]["Id"]
    yield Case(CloudFrontOriginRouter(client, distribution, regions), regions, splits=False)


ROUTERS: dict[str, Callable[[pytest.FixtureRequest], Any]] = {
    "nginx-colors": nginx_colors,
    "nginx-regions": nginx_regions,
    "ingress-nginx": ingress_nginx,
    "route53-weighted": route53_weighted,
    "route53-failover": route53_failover,
    "cloudfront": cloudfront,
}


@pytest.fixture(params=list(ROUTERS))
def case(request: pytest.FixtureRequest) -> Iterator[Case]:
    with ROUTERS[request.param](request) as c:
        yield c


def one_hot(backends: list[str], winner: str) -> dict[str, int]:
    return {b: 100 if b == winner else 0 for b in backends}


async def test_weights_set_are_read_back_and_verified(case: Case) -> None:
    first, second = case.backends
    for weights in (one_hot(case.backends, second), one_hot(case.backends, first)):
        await case.router.set_weights(weights)
        assert await case.router.get_weights() == weights
        assert await case.router.verify(weights)
        other = one_hot(case.backends, second if weights[first] else first)
        assert not await case.router.verify(other)


async def test_a_split_is_applied_or_refused(case: Case) -> None:
    first, second = case.backends
    split = {first: 75, second: 25}
    if case.splits:
        await case.router.set_weights(split)
        assert await case.router.get_weights() == split
        assert await case.router.verify(split)
    else:
        before = await case.router.get_weights()
        with pytest.raises(RouterError):
            await case.router.set_weights(split)
        assert await case.router.get_weights() == before


@pytest.mark.parametrize(
    "bad",
    [
        pytest.param(lambda a, b: {a: 60, b: 30}, id="sum-below-100"),
        pytest.param(lambda a, b: {a: 110, b: -10}, id="out-of-range"),
        pytest.param(lambda a, b: {a: 0, "purple": 100}, id="unknown-backend"),
        pytest.param(lambda a, b: {a: 100}, id="backend-missing"),
    ],
)
async def test_bad_weights_are_refused_and_change_nothing(
    case: Case, bad: Callable[[str, str], dict[str, int]]
) -> None:
    first, second = case.backends
    await case.router.set_weights(one_hot(case.backends, second))
    with pytest.raises(RouterError):
        await case.router.set_weights(bad(first, second))
    assert await case.router.get_weights() == one_hot(case.backends, second)


async def test_applying_the_same_weights_again_is_harmless(case: Case) -> None:
    weights = one_hot(case.backends, case.backends[1])
    await case.router.set_weights(weights)
    await case.router.set_weights(weights)
    assert await case.router.get_weights() == weights
    assert await case.router.verify(weights)


async def test_cloudfront_puts_the_target_first_in_the_group_and_the_default_behaviour(
    request: pytest.FixtureRequest,
) -> None:
    with cloudfront(request) as case:
        router = case.router
        assert isinstance(router, CloudFrontOriginRouter)
        await router.set_weights({"us-east-1": 0, "eu-west-1": 100})
        live = router.client.get_distribution_config(Id=router.distribution_id)["DistributionConfig"]
        members = [m["OriginId"] for m in live["OriginGroups"]["Items"][0]["Members"]["Items"]]
        assert members == ["eu-west-1", "us-east-1"]
        assert live["DefaultCacheBehavior"]["TargetOriginId"] == "eu-west-1"
