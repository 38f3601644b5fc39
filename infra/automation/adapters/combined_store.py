"""Several data stores failed over as one (Redis and the catalog's PostgreSQL): each step runs on every
store at once, so the switchover takes as long as the slowest store, not their sum.

The replication view is the conservative merge: a region's node counts as reachable only if every store's
is, its link is up only if every link is, and its offset is the sum of the stores' offsets, so that a
replica's lag (primary's sum minus replica's sum) is the total of what each store still has to replay: zero
only when every store has caught up (RPO 0 for planned failovers). Where the stores disagree on a node's
role (a run stopped between one store's step and another's), the first store's role leads: the planner's
steps are what that store needs, and every step is idempotent in the others (promoting a primary, or
repointing what already follows, does nothing; the PostgreSQL store's repoint promotes its target first).
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

from infra.automation.adapters.failover_ports import CatchUp, DataStore, NodeStatus, Replication, Repointed


class CombinedDataStore:
    def __init__(self, stores: Sequence[DataStore]) -> None:
        self.stores = list(stores)
        self.name = "+".join(s.name for s in self.stores)

    async def replication(self) -> Replication:
        views = await asyncio.gather(*(s.replication() for s in self.stores))
        regions = dict.fromkeys(r for v in views for r in v.nodes)
        nodes = {}
        for region in regions:
            parts = [v.nodes.get(region, NodeStatus(region, False, detail="not a member")) for v in views]
            roles = {p.role for p in parts}
            upstreams = {p.upstream for p in parts}
            offsets = [p.offset for p in parts]
            lags = [p.lag_seconds for p in parts if p.lag_seconds is not None]
            nodes[region] = NodeStatus(
                region,
                all(p.reachable for p in parts),
                roles.pop() if len(roles) == 1 else parts[0].role,
                upstreams.pop() if len(upstreams) == 1 else parts[0].upstream,
                all(p.link_up for p in parts),
                sum(o for o in offsets if o is not None) if None not in offsets else None,
                max(lags) if len(lags) == len(parts) else None,
                "; ".join(f"{s.name}: {p.detail or p.role}" for s, p in zip(self.stores, parts, strict=True)),
            )
        endpoints = {v.endpoint for v in views if v.endpoint is not None}
        return Replication(nodes, endpoints.pop() if len(endpoints) == 1 else None)

    async def fence(self, primary: str, seconds: float) -> None:
        await asyncio.gather(*(s.fence(primary, seconds) for s in self.stores))

    async def catch_up(self, primary: str, replica: str, within: float) -> CatchUp:
        caught = await asyncio.gather(*(s.catch_up(primary, replica, within) for s in self.stores))
        starts = [c.lag_bytes_at_start for c in caught]
        ends = [c.lag_bytes_at_end for c in caught]
        return CatchUp(
            sum(x for x in starts if x is not None) if None not in starts else None,
            sum(x for x in ends if x is not None) if None not in ends else None,
            max(c.seconds for c in caught),
        )

    async def promote(self, region: str, *, planned: bool) -> None:
        await asyncio.gather(*(s.promote(region, planned=planned) for s in self.stores))

    async def repoint(self, primary: str) -> Repointed:
        results = await asyncio.gather(*(s.repoint(primary) for s in self.stores))
        replicas = [r for r in dict.fromkeys(x for res in results for x in res.replicas)]
        unreachable = [r for r in dict.fromkeys(x for res in results for x in res.unreachable)]
        return Repointed(
            [r for r in replicas if r not in unreachable], unreachable, any(r.endpoint_moved for r in results)
        )

    async def unfence(self, region: str) -> None:
        await asyncio.gather(*(s.unfence(region) for s in self.stores))
