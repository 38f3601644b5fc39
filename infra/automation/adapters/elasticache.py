"""Data store adapter over an ElastiCache global datastore (one replication group per region).

- Planned switchover: `FailoverGlobalReplicationGroup` does the fence, the catch-up and the repointing of
  the other members itself (AWS: no data loss); we call it and wait until the target is the primary.
- Unplanned (the primary's region is down): `DisassociateGlobalReplicationGroup` detaches the target's
  replication group, which then serves reads and writes as a standalone primary (AWS's documented path for
  a regional outage). The remaining members must later be re-joined to a global datastore rebuilt from it:
  `repoint` reports them as pending.
- Lag: CloudWatch `GlobalDatastoreReplicationLag` (seconds) of each secondary; offsets are not exposed.

Every call is made with the client of the region it concerns (the target's for global operations, so
they work while the old primary's region is unreachable). moto has none of the global-datastore calls:
the tests check every request against AWS's API model with botocore's Stubber.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from infra.automation.adapters.cloudwatch import latest_maximum
from infra.automation.adapters.failover_ports import CatchUp, NodeStatus, Replication, Repointed
from infra.automation.adapters.redis_store import DataStoreError

if TYPE_CHECKING:
    from mypy_boto3_elasticache import ElastiCacheClient

LAG_METRIC = "GlobalDatastoreReplicationLag"


class ElastiCacheGlobalStore:
    def __init__(
        self,
        global_id: str,
        groups: Mapping[str, str],  # region → replication group id
        clients: Mapping[str, ElastiCacheClient],
        cloudwatch: Mapping[str, Any] | None = None,  # region → boto3 CloudWatch client
        *,
        timeout_seconds: float = 1800.0,
        poll_seconds: float = 15.0,
    ) -> None:
        self.global_id = global_id
        self.groups = dict(groups)
        self.clients = dict(clients)
        self.cloudwatch = dict(cloudwatch or {})
        self.timeout = timeout_seconds
        self.poll = poll_seconds
        self.name = f"elasticache global datastore {global_id}"

    # -- reading ------------------------------------------------------------------------------
    def _members(self, via: str) -> tuple[str, dict[str, dict[str, Any]]]:
        """(group status, region → member) as the given region's endpoint reports the global datastore."""
        page = self.clients[via].describe_global_replication_groups(
            GlobalReplicationGroupId=self.global_id, ShowMemberInfo=True
        )
        groups = page["GlobalReplicationGroups"]
        if not groups:
            return "missing", {}
        group: Any = groups[0]
        members = {m["ReplicationGroupRegion"]: dict(m) for m in group.get("Members", [])}
        return str(group.get("Status", "?")), members

    def _group(self, region: str) -> dict[str, Any] | None:
        """The region's replication group, or None when its region's API does not answer."""
        try:
            page = self.clients[region].describe_replication_groups(ReplicationGroupId=self.groups[region])
        except Exception:  # an unreachable region is an observation, not an error
            return None
        groups: list[Any] = list(page["ReplicationGroups"])
        return dict(groups[0]) if groups else None

    def _lag(self, region: str) -> float | None:
        client = self.cloudwatch.get(region)
        if client is None:
            return None
        return latest_maximum(
            client, "AWS/ElastiCache", LAG_METRIC, ("ReplicationGroupId", self.groups[region])
        )

    def _replication(self) -> Replication:
        members: dict[str, dict[str, Any]] = {}
        status = "unknown"
        for region in self.groups:  # the first region whose API answers describes the datastore
            try:
                status, members = self._members(region)
                break
            except Exception:  # that region is down: ask the next one
                continue
        primary = next((r for r, m in members.items() if m.get("Role") == "PRIMARY"), None)
        nodes: dict[str, NodeStatus] = {}
        for region in self.groups:
            group = self._group(region)
            if group is None:
                nodes[region] = NodeStatus(region, False, detail="replication group unreachable")
                continue
            available = group.get("Status") == "available"
            member = members.get(region)
            if member is None:
                # Not in the global datastore: a standalone group serves writes on its own.
                standalone = available and not group.get("GlobalReplicationGroupInfo")
                nodes[region] = NodeStatus(
                    region,
                    available,
                    "primary" if standalone else "unknown",
                    detail=f"standalone, {group.get('Status')}",
                )
                continue
            if member.get("Role") == "PRIMARY":
                nodes[region] = NodeStatus(
                    region, available, "primary", detail=f"global primary, {member.get('Status')}"
                )
                continue
            link = member.get("Status") == "associated" and status == "available"
            nodes[region] = NodeStatus(
                region,
                available,
                "replica",
                upstream=primary,
                link_up=link,
                lag_seconds=self._lag(region),
                detail=f"secondary of {primary}, {member.get('Status')}, datastore {status}",
            )
        return Replication(nodes)

    async def replication(self) -> Replication:
        return await asyncio.to_thread(self._replication)

    # -- acting -------------------------------------------------------------------------------
    async def fence(self, primary: str, seconds: float) -> None:
        """Nothing to do: FailoverGlobalReplicationGroup stops writes on the old primary itself."""

    async def unfence(self, region: str) -> None:
        """Nothing to do: ElastiCache lifts its own fence when the failover completes."""

    async def catch_up(self, primary: str, replica: str, within: float) -> CatchUp:
        """FailoverGlobalReplicationGroup waits for the secondary to catch up before promoting it."""
        return CatchUp(None, None, 0.0)

    async def promote(self, region: str, *, planned: bool) -> None:
        await asyncio.to_thread(self._failover if planned else self._detach, region)

    def _failover(self, region: str) -> None:
        _, members = self._members(region)
        if members.get(region, {}).get("Role") != "PRIMARY":
            self.clients[region].failover_global_replication_group(
                GlobalReplicationGroupId=self.global_id,
                PrimaryRegion=region,
                PrimaryReplicationGroupId=self.groups[region],
            )
        self._wait(region, lambda: self._is_global_primary(region), "to become the global primary")

    def _is_global_primary(self, region: str) -> bool:
        status, members = self._members(region)
        return status == "available" and members.get(region, {}).get("Role") == "PRIMARY"

    def _detach(self, region: str) -> None:
        group = self._group(region)
        if group is None:
            raise DataStoreError(f"{region}: replication group {self.groups[region]} does not answer")
        if group.get("GlobalReplicationGroupInfo"):
            self.clients[region].disassociate_global_replication_group(
                GlobalReplicationGroupId=self.global_id,
                ReplicationGroupId=self.groups[region],
                ReplicationGroupRegion=region,
            )
        self._wait(region, lambda: self._standalone(region), "to serve as a standalone primary")

    def _standalone(self, region: str) -> bool:
        group = self._group(region)
        return bool(
            group and group.get("Status") == "available" and not group.get("GlobalReplicationGroupInfo")
        )

    def _wait(self, region: str, done: Any, what: str) -> None:
        deadline = time.monotonic() + self.timeout
        while not done():
            if time.monotonic() > deadline:
                raise DataStoreError(
                    f"{self.groups[region]} ({region}) did not {what} in {self.timeout:.0f}s"
                )
            time.sleep(self.poll)

    async def repoint(self, primary: str) -> Repointed:
        """Planned: the other members already follow the new primary (AWS repoints them). After a detach
        they still belong to the old datastore: re-join them to one rebuilt from the new primary."""
        replication = await self.replication()
        done = Repointed()
        for region, node in replication.nodes.items():
            if region == primary:
                continue
            if node.role == "replica" and node.upstream == primary:
                done.replicas.append(region)
            else:
                done.unreachable.append(region)
        return done
