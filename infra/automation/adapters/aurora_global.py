"""Data store adapter over an Aurora global database (the catalog on prod: one cluster per region).

- Planned: `SwitchoverGlobalCluster` (formerly "managed planned failover") makes the target region's
  cluster the writer with no data loss: Aurora fences the old writer, waits until the target has every
  write, promotes it and turns the old writer into a secondary. We call it and wait for the result.
- Unplanned (the writer's region is down): `FailoverGlobalCluster` with `AllowDataLoss` promotes the
  target at once; what the old writer had not replicated is lost (its lag, from CloudWatch's
  `AuroraGlobalDBReplicationLag`, is the estimate). Aurora rejoins the old writer as a secondary when its
  region comes back; until then `repoint` reports it pending.

Offsets are not exposed: the planner judges catch-up by lag. Calls go to the target region's endpoint (so
they work while the old writer's region is unreachable). moto has no global switchover or failover: the
tests check every request against AWS's API model with botocore's Stubber.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Mapping
from typing import Any

from infra.automation.adapters.cloudwatch import latest_maximum
from infra.automation.adapters.failover_ports import CatchUp, NodeStatus, Replication, Repointed
from infra.automation.errors import AutomationError

LAG_METRIC = "AuroraGlobalDBReplicationLag"  # milliseconds, per secondary cluster


class AuroraStoreError(AutomationError):
    """Aurora refused or did not finish a global database operation."""


class AuroraGlobalStore:
    def __init__(
        self,
        global_id: str,
        clusters: Mapping[str, str],  # region → cluster ARN
        clients: Mapping[str, Any],  # region → boto3 RDS client
        cloudwatch: Mapping[str, Any] | None = None,
        *,
        timeout_seconds: float = 1800.0,
        poll_seconds: float = 10.0,
    ) -> None:
        self.global_id = global_id
        self.clusters = dict(clusters)
        self.clients = dict(clients)
        self.cloudwatch = dict(cloudwatch or {})
        self.timeout = timeout_seconds
        self.poll = poll_seconds
        self.name = f"aurora global database {global_id}"
        self._region_of = {arn: region for region, arn in self.clusters.items()}

    def _global(self, via: str) -> dict[str, Any]:
        page = self.clients[via].describe_global_clusters(GlobalClusterIdentifier=self.global_id)
        found: list[Any] = list(page["GlobalClusters"])
        if not found:
            raise AuroraStoreError(f"no global database {self.global_id}")
        return dict(found[0])

    def _any_global(self) -> dict[str, Any] | None:
        for region in self.clusters:  # the first region whose API answers describes it
            try:
                return self._global(region)
            except Exception:
                continue
        return None

    def _lag(self, region: str) -> float | None:
        client = self.cloudwatch.get(region)
        if client is None:
            return None
        lag_ms = latest_maximum(
            client, "AWS/RDS", LAG_METRIC, ("DBClusterIdentifier", self.clusters[region].rsplit(":", 1)[-1])
        )
        return lag_ms / 1000 if lag_ms is not None else None

    def _cluster_status(self, region: str) -> str | None:
        """The region's cluster status as its own region's API reports it (None: it does not answer)."""
        try:
            page = self.clients[region].describe_db_clusters(DBClusterIdentifier=self.clusters[region])
        except Exception:  # an unreachable region is an observation, not an error
            return None
        clusters: list[Any] = list(page["DBClusters"])
        return str(clusters[0].get("Status")) if clusters else None

    def _replication(self) -> Replication:
        cluster = self._any_global()
        if cluster is None:
            return Replication({r: NodeStatus(r, False, detail="RDS API unreachable") for r in self.clusters})
        members = {
            self._region_of.get(m["DBClusterArn"], m["DBClusterArn"]): m
            for m in cluster["GlobalClusterMembers"]
        }
        writer = next((r for r, m in members.items() if m.get("IsWriter")), None)
        nodes: dict[str, NodeStatus] = {}
        for region in self.clusters:
            member = members.get(region)
            status = self._cluster_status(region)
            available = cluster.get("Status") == "available" and status == "available"
            if status is None:
                nodes[region] = NodeStatus(region, False, detail="cluster does not answer")
            elif member is None:
                nodes[region] = NodeStatus(region, False, detail="not a member of the global database")
            elif member.get("IsWriter"):
                nodes[region] = NodeStatus(region, available, "primary", detail="Aurora global writer")
            else:
                nodes[region] = NodeStatus(
                    region,
                    available,
                    "replica",
                    upstream=writer,
                    link_up=available and member.get("SynchronizationStatus", "connected") == "connected",
                    lag_seconds=self._lag(region),
                    detail=f"Aurora secondary of {writer} ({cluster.get('Status')})",
                )
        return Replication(nodes)

    async def replication(self) -> Replication:
        return await asyncio.to_thread(self._replication)

    async def fence(self, primary: str, seconds: float) -> None:
        """Nothing to do: the switchover fences the old writer itself."""

    async def unfence(self, region: str) -> None:
        """Nothing to do: Aurora lifts its own fence when the switchover completes."""

    async def catch_up(self, primary: str, replica: str, within: float) -> CatchUp:
        """The switchover waits until the target has every write before it promotes it."""
        return CatchUp(None, None, 0.0)

    async def promote(self, region: str, *, planned: bool) -> None:
        await asyncio.to_thread(self._promote, region, planned)

    def _promote(self, region: str, planned: bool) -> None:
        client, arn = self.clients[region], self.clusters[region]
        if not self._is_writer(region):
            if planned:
                client.switchover_global_cluster(
                    GlobalClusterIdentifier=self.global_id, TargetDbClusterIdentifier=arn
                )
            else:
                client.failover_global_cluster(
                    GlobalClusterIdentifier=self.global_id, TargetDbClusterIdentifier=arn, AllowDataLoss=True
                )
        deadline = time.monotonic() + self.timeout
        while not self._is_writer(region, settled=True):
            if time.monotonic() > deadline:
                raise AuroraStoreError(f"{arn} did not become the global writer in {self.timeout:.0f}s")
            time.sleep(self.poll)

    def _is_writer(self, region: str, settled: bool = False) -> bool:
        cluster = self._global(region)
        member: dict[str, Any] = next(
            (m for m in cluster["GlobalClusterMembers"] if m["DBClusterArn"] == self.clusters[region]), {}
        )
        return bool(member.get("IsWriter")) and (not settled or cluster.get("Status") == "available")

    async def repoint(self, primary: str) -> Repointed:
        """Aurora makes the other members secondaries of the new writer itself; a member not (yet) back in
        the global database is reported pending."""
        replication = await self.replication()
        done = Repointed()
        for region, node in replication.nodes.items():
            if region == primary:
                continue
            (
                done.replicas if node.role == "replica" and node.upstream == primary else done.unreachable
            ).append(region)
        return done
