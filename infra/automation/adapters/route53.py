"""Router over Route 53 weighted records: one record name, one weighted record per backend.

The set identifier of each record is the backend's name (a color for rollouts, a region for failover).
All records change in one change batch (atomic in Route 53), then we wait for INSYNC and read them back.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from infra.automation.adapters import in_thread, validate_weights
from infra.automation.errors import RouterError

if TYPE_CHECKING:
    from mypy_boto3_route53 import Route53Client
    from mypy_boto3_route53.type_defs import ChangeTypeDef


def _fqdn(name: str) -> str:
    return name.rstrip(".").lower() + "."


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
        self.record_name = _fqdn(record_name)
        self.targets = dict(targets)
        self.record_type = record_type
        self.ttl = ttl
        self.sync_timeout = sync_timeout_seconds
        self.name = f"route53 {self.record_name}"

    @classmethod
    def zone_id_for(cls, client: Route53Client, domain: str) -> str:
        """The hosted zone named `domain` (the stack's zone)."""
        zones = client.list_hosted_zones_by_name(DNSName=_fqdn(domain), MaxItems="1")["HostedZones"]
        if not zones or zones[0]["Name"] != _fqdn(domain):
            raise RouterError(f"no Route 53 hosted zone named {domain}")
        return zones[0]["Id"].rsplit("/", 1)[-1]

    def changes(self, weights: Mapping[str, int]) -> list[ChangeTypeDef]:
        """The UPSERTs that give every backend its weight (pure; one batch)."""
        unknown = set(weights) - set(self.targets)
        if unknown:
            raise RouterError(f"{self.name}: no target for {sorted(unknown)} (known: {sorted(self.targets)})")
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
        weights: dict[str, int] = {}
        kwargs: dict[str, Any] = {
            "HostedZoneId": self.zone_id,
            "StartRecordName": self.record_name,
            "StartRecordType": self.record_type,
        }
        while True:
            page = self.client.list_resource_record_sets(**kwargs)
            for rrset in page["ResourceRecordSets"]:
                if _fqdn(rrset["Name"]) != self.record_name or rrset["Type"] != self.record_type:
                    return self._complete(weights)
                if "SetIdentifier" in rrset and "Weight" in rrset:
                    weights[rrset["SetIdentifier"]] = int(rrset["Weight"])
            if not page.get("IsTruncated"):
                return self._complete(weights)
            kwargs.update(
                StartRecordName=page["NextRecordName"],
                StartRecordType=page["NextRecordType"],
                StartRecordIdentifier=page.get("NextRecordIdentifier", ""),
            )

    def _complete(self, weights: dict[str, int]) -> dict[str, int]:
        """Backends without a record get no traffic: weight 0."""
        return {backend: weights.get(backend, 0) for backend in self.targets} | weights

    def _write(self, weights: dict[str, int]) -> None:
        response = self.client.change_resource_record_sets(
            HostedZoneId=self.zone_id,
            ChangeBatch={"Comment": "streamgate automation", "Changes": self.changes(weights)},
        )
        change_id = response["ChangeInfo"]["Id"]
        deadline = time.monotonic() + self.sync_timeout
        while self.client.get_change(Id=change_id)["ChangeInfo"]["Status"] != "INSYNC":
            if time.monotonic() > deadline:
                raise RouterError(
                    f"{self.name}: change {change_id} not INSYNC after {self.sync_timeout:.0f}s"
                )
            time.sleep(1.0)

    async def get_weights(self) -> dict[str, int]:
        return await in_thread(f"{self.name}: cannot read records", self._read)

    async def set_weights(self, weights: Mapping[str, int]) -> None:
        clean = validate_weights(weights)
        await in_thread(f"{self.name}: cannot change records", self._write, clean)

    async def verify(self, weights: Mapping[str, int]) -> bool:
        current = await self.get_weights()
        return all(current.get(k) == v for k, v in weights.items())
