"""Router over Route 53 weighted records: one record name, one weighted record per backend.

The set identifier of each record is the backend's name (a color for rollouts, a region for failover).
All records change in one change batch (atomic in Route 53), then we wait for INSYNC and read them back.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from infra.automation.adapters import in_thread, validate_weights
from infra.automation.errors import RouterError

if TYPE_CHECKING:
    from mypy_boto3_route53 import Route53Client
    from mypy_boto3_route53.type_defs import ChangeTypeDef


def fqdn(name: str) -> str:
    return name.rstrip(".").lower() + "."


def wait_in_sync(client: Route53Client, change_id: str, timeout: float, poll: float, who: str) -> None:
    """Until Route 53 reports the change INSYNC on its name servers (botocore's own waiter)."""
    from botocore.exceptions import WaiterError

    delay = math.ceil(poll)  # whole seconds: the waiter's unit
    try:
        client.get_waiter("resource_record_sets_changed").wait(
            Id=change_id,
            WaiterConfig={"Delay": delay, "MaxAttempts": max(1, math.ceil(timeout / max(delay, 1)))},
        )
    except WaiterError as exc:
        raise RouterError(f"{who}: change {change_id} not INSYNC after {timeout:.0f}s") from exc


class Route53WeightedRouter:
    """The Router for a weighted record set (blue/green origins, or regions)."""

    def __init__(
        self,
        client: Route53Client,
        zone_id: str,
        record_name: str,
        targets: Mapping[str, str],
        *,
        record_type: str = "CNAME",
        ttl: int = 30,
        sync_timeout_seconds: float = 120.0,
    ) -> None:
        self.client = client
        self.zone_id = zone_id
        self.record_name = fqdn(record_name)
        self.targets = dict(targets)
        self.record_type = record_type
        self.ttl = ttl
        self.sync_timeout = sync_timeout_seconds
        self.name = f"route53 {self.record_name}"

    @classmethod
    def zone_id_for(cls, client: Route53Client, domain: str) -> str:
        """The hosted zone named `domain` (the stack's zone)."""
        zones = client.list_hosted_zones_by_name(DNSName=fqdn(domain), MaxItems="1")["HostedZones"]
        if not zones or zones[0]["Name"] != fqdn(domain):
            raise RouterError(f"no Route 53 hosted zone named {domain}")
        return zones[0]["Id"].rsplit("/", 1)[-1]

    def changes(self, weights: Mapping[str, int]) -> list[ChangeTypeDef]:
        """The UPSERTs that give every backend its weight (pure; one batch)."""
        changes: list[Any] = [
            {
                "Action": "UPSERT",
                "ResourceRecordSet": {
                    "Name": self.record_name,
                    "Type": self.record_type,
                    "SetIdentifier": backend,
                    "Weight": weight,
                    "TTL": self.ttl,
                    "ResourceRecords": [{"Value": self.targets[backend]}],
                },
            }
            for backend, weight in sorted(weights.items())
        ]
        return changes

    def _read(self) -> dict[str, int]:
        pages = self.client.get_paginator("list_resource_record_sets").paginate(HostedZoneId=self.zone_id)
        weights = {
            rrset["SetIdentifier"]: int(rrset["Weight"])
            for page in pages
            for rrset in page["ResourceRecordSets"]
            if fqdn(rrset["Name"]) == self.record_name
            and rrset["Type"] == self.record_type
            and "SetIdentifier" in rrset
            and "Weight" in rrset
        }
        return self._complete(weights)

    def _complete(self, weights: dict[str, int]) -> dict[str, int]:
        """Backends without a record get no traffic: weight 0."""
        return {backend: weights.get(backend, 0) for backend in self.targets} | weights

    def _write(self, weights: dict[str, int]) -> None:
        response = self.client.change_resource_record_sets(
            HostedZoneId=self.zone_id,
            ChangeBatch={"Comment": "streamgate automation", "Changes": self.changes(weights)},
        )
        wait_in_sync(self.client, response["ChangeInfo"]["Id"], self.sync_timeout, 1.0, self.name)

    async def get_weights(self) -> dict[str, int]:
        return await in_thread(f"{self.name}: cannot read records", self._read)

    async def set_weights(self, weights: Mapping[str, int]) -> None:
        clean = validate_weights(weights, self.targets, self.name)
        await in_thread(f"{self.name}: cannot change records", self._write, clean)

    async def verify(self, weights: Mapping[str, int]) -> bool:
        current = await self.get_weights()
        return all(current.get(k) == v for k, v in weights.items())
