"""Route 53 failover records as a region Router, and Route 53 health checks as the region health probe.

The records are the chain `infra/aws/dns.py` declares: `api` → PRIMARY region 0 else SECONDARY; chained
as `failover-1.api` → region 1 else …, the last link's SECONDARY being the last region. Failing over to a
region rebuilds the chain with that region first (the others keep their order) in one change batch, so
Route 53 applies it atomically; records whose set identifier no longer belongs in a link are deleted in the
same batch. Weights seen through this router: 100 for the region the chain starts with, 0 for the others.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from infra.automation.adapters import in_thread, one_backend
from infra.automation.adapters.failover_ports import RegionHealth
from infra.automation.adapters.route53 import fqdn, wait_in_sync
from infra.automation.errors import RouterError

if TYPE_CHECKING:
    from mypy_boto3_route53 import Route53Client


def chain_names(api: str, count: int) -> list[str]:
    """`api`, `failover-1.api`, …: one record name per link (as infra/aws/dns.py names them)."""
    return [api] + [f"failover-{i}.{api}" for i in range(1, count - 1)]


def chain_records(
    order: list[str], api: str, origins: Mapping[str, str], checks: Mapping[str, str], ttl: int
) -> list[dict[str, Any]]:
    """The failover records of a region order (pure): PRIMARY/SECONDARY per link, as dns.py builds them."""
    names = chain_names(api, len(order))
    records: list[dict[str, Any]] = []
    for i, name in enumerate(names):
        last = i == len(names) - 1
        records.append(_record(name, "PRIMARY", order[i], origins[order[i]], checks.get(order[i]), ttl))
        if len(order) > 1:
            nxt = order[i + 1]
            target = origins[nxt] if last else names[i + 1]
            records.append(_record(name, "SECONDARY", nxt, target, checks.get(nxt) if last else None, ttl))
    return records


def _record(name: str, role: str, set_id: str, target: str, check: str | None, ttl: int) -> dict[str, Any]:
    record: dict[str, Any] = {
        "Name": fqdn(name),
        "Type": "CNAME",
        "SetIdentifier": set_id,
        "Failover": role,
        "TTL": ttl,
        "ResourceRecords": [{"Value": target}],
    }
    if check:
        record["HealthCheckId"] = check
    return record


class Route53FailoverRouter:
    def __init__(
        self,
        client: Route53Client,
        zone_id: str,
        api_name: str,
        origins: Mapping[str, str],  # region → its origin name (the ingress load balancer's CNAME)
        health_checks: Mapping[str, str],  # region → health check id
        *,
        ttl: int = 30,
        sync_timeout_seconds: float = 120.0,
        poll_seconds: float = 1.0,
    ) -> None:
        self.client = client
        self.zone_id = zone_id
        self.api = api_name.rstrip(".").lower()
        self.origins = dict(origins)
        self.checks = dict(health_checks)
        self.ttl = ttl
        self.sync_timeout = sync_timeout_seconds
        self.poll = poll_seconds
        self.name = f"route53 failover {self.api}"

    def _existing(self) -> list[dict[str, Any]]:
        names = {fqdn(n) for n in chain_names(self.api, len(self.origins))}
        pages = self.client.get_paginator("list_resource_record_sets").paginate(HostedZoneId=self.zone_id)
        return [
            dict(rrset)
            for page in pages
            for rrset in page["ResourceRecordSets"]
            if fqdn(rrset["Name"]) in names and rrset.get("Failover")
        ]

    def order(self) -> list[str]:
        """The region order the live records encode (first = where traffic goes while it is healthy)."""
        by_name: dict[str, dict[str, str]] = {}
        for rrset in self._existing():
            by_name.setdefault(fqdn(rrset["Name"]), {})[rrset["Failover"]] = rrset["SetIdentifier"]
        order: list[str] = []
        for name in chain_names(self.api, len(self.origins)):
            link = by_name.get(fqdn(name), {})
            for role in ("PRIMARY", "SECONDARY"):
                region = link.get(role)
                if region and region not in order:
                    order.append(region)
        if not order:
            raise RouterError(f"{self.name}: no failover records found in zone {self.zone_id}")
        return order

    def _write(self, target: str) -> None:
        current = self.order()
        if current[0] == target:
            return
        order = [target, *(r for r in current if r != target)]
        order += [r for r in self.origins if r not in order]
        desired = chain_records(order, self.api, self.origins, self.checks, self.ttl)
        keys = {(r["Name"], r["SetIdentifier"]) for r in desired}
        changes: list[Any] = [
            {"Action": "DELETE", "ResourceRecordSet": r}
            for r in self._existing()
            if (fqdn(r["Name"]), r["SetIdentifier"]) not in keys
        ]
        changes += [{"Action": "UPSERT", "ResourceRecordSet": r} for r in desired]
        response = self.client.change_resource_record_sets(
            HostedZoneId=self.zone_id,
            ChangeBatch={"Comment": f"streamgate failover to {target}", "Changes": changes},
        )
        wait_in_sync(self.client, response["ChangeInfo"]["Id"], self.sync_timeout, self.poll, self.name)

    async def get_weights(self) -> dict[str, int]:
        order = await in_thread(f"{self.name}: cannot read records", self.order)
        return {r: (100 if r == order[0] else 0) for r in self.origins}

    async def set_weights(self, weights: Mapping[str, int]) -> None:
        first = one_backend(weights, self.origins, self.name)  # the chain starts with one region
        await in_thread(f"{self.name}: cannot change records", self._write, first)

    async def verify(self, weights: Mapping[str, int]) -> bool:
        return await self.get_weights() == {r: weights.get(r, 0) for r in self.origins}


class Route53Health:
    """Region health from its Route 53 health check: healthy when most checkers report success.
    (moto's get_health_check_status always reports success: the real verdict is only seen in AWS.)"""

    def __init__(self, client: Route53Client, health_checks: Mapping[str, str]) -> None:
        self.client = client
        self.checks = dict(health_checks)

    def _one(self, region: str) -> RegionHealth:
        check = self.checks.get(region)
        if check is None:
            return RegionHealth(region, False, "no health check known")
        try:
            observations = self.client.get_health_check_status(HealthCheckId=check)["HealthCheckObservations"]
        except Exception as exc:  # no answer is unhealthy, never healthy
            return RegionHealth(region, False, f"health check {check}: {exc}")
        ok = sum(1 for o in observations if o.get("StatusReport", {}).get("Status", "").startswith("Success"))
        healthy = bool(observations) and ok * 2 > len(observations)
        return RegionHealth(region, healthy, f"{ok}/{len(observations)} checkers report success")

    async def health(self, regions: list[str]) -> dict[str, RegionHealth]:
        results = await asyncio.gather(*(asyncio.to_thread(self._one, r) for r in regions))
        return dict(zip(regions, results, strict=True))
