"""The interfaces failover drives and the values they report (the failover logic imports them from here:
adapters depend on no area), one module per implementation beside this one.

Traffic between regions goes through the rollout's `Router` protocol (`infra.automation.adapters`), with
region names as backends: nginx region weights locally, Route 53 failover records and the CloudFront origin
group in the cloud.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal, Protocol

from infra.automation.adapters import Router

Role = Literal["primary", "replica", "unknown"]


@dataclass(frozen=True)
class NodeStatus:
    """One region's data store node as its replication status shows it."""

    region: str
    reachable: bool
    role: Role = "unknown"
    upstream: str | None = None  # replicas: the region they replicate from (None: unknown or none)
    link_up: bool = False  # replicas: replication link to the primary is up
    offset: int | None = None  # primaries: master_repl_offset; replicas: processed offset
    lag_seconds: float | None = None  # replicas: replication lag as the data store reports it
    detail: str = ""


@dataclass(frozen=True)
class Replication:
    """Every node of the data store, and where the stable write endpoint points (None: the cloud's own)."""

    nodes: dict[str, NodeStatus]
    endpoint: str | None = None

    @property
    def primaries(self) -> list[str]:
        return [n.region for n in self.nodes.values() if n.reachable and n.role == "primary"]

    @property
    def primary(self) -> str | None:
        """The one reachable primary, or None when there is none (outage) or several (split brain)."""
        primaries = self.primaries
        return primaries[0] if len(primaries) == 1 else None

    def lag_bytes(self, replica: str, primary: str) -> int | None:
        """How far `replica` trails `primary` in replication offset (None when either is unknown)."""
        r, p = self.nodes.get(replica), self.nodes.get(primary)
        if r is None or p is None or r.offset is None or p.offset is None:
            return None
        return max(0, p.offset - r.offset)


@dataclass(frozen=True)
class RegionHealth:
    region: str
    healthy: bool
    detail: str = ""


@dataclass(frozen=True)
class Capacity:
    """Serving capacity of a region in its own units (gateway processes locally, nodes/pods in the cloud)."""

    region: str
    ready: int  # serving now
    floor: int  # the autoscaler's minimum
    maximum: int  # the most it may scale to
    detail: str = ""


@dataclass(frozen=True)
class CatchUp:
    """How a replica caught up with a fenced primary: lag when the wait began, and how long it took."""

    lag_bytes_at_start: int | None  # None: the service synchronises itself and does not say
    lag_bytes_at_end: int | None
    seconds: float


@dataclass
class Repointed:
    """What `repoint` did: members now replicating from the new primary, members it could not reach (to be
    demoted when they return: re-run the failover), and whether the write endpoint moved."""

    replicas: list[str] = field(default_factory=list)
    unreachable: list[str] = field(default_factory=list)
    endpoint_moved: bool = False


class DataStore(Protocol):
    """The replicated data store (Redis nodes locally, an ElastiCache global datastore in the cloud)."""

    name: str

    async def replication(self) -> Replication:
        """Role, link and offset of every node, read from the nodes (or the cloud API) now."""

    async def fence(self, primary: str, seconds: float) -> None:
        """Stop writes on `primary` for at most `seconds` (a crashed run must not leave them stopped)."""

    async def catch_up(self, primary: str, replica: str, within: float) -> CatchUp:
        """Wait until `replica` has every write of the fenced `primary`; raise on timeout."""

    async def promote(self, region: str, *, planned: bool) -> None:
        """Make `region`'s node the primary (idempotent: nothing to do when it already is)."""

    async def repoint(self, primary: str) -> Repointed:
        """Make every other reachable member a replica of `primary` and move the write endpoint to it."""

    async def unfence(self, region: str) -> None:
        """Lift the fence on `region` if it answers (idempotent)."""


class HealthProbe(Protocol):
    async def health(self, regions: list[str]) -> dict[str, RegionHealth]:
        """Whether each region's serving path (load balancer → gateways) answers, without its data store."""


class CapacityControl(Protocol):
    async def capacity(self, region: str) -> Capacity: ...

    async def raise_floor(self, region: str, minimum: int) -> Capacity:
        """Raise the region's floor to at least `minimum` (never lowers it) and return the new capacity."""


class Smoke(Protocol):
    async def check(self, region: str) -> tuple[bool, str]:
        """One request through the edge: (answered by `region` with success, what was seen)."""


@dataclass
class FailoverPorts:
    datastore: DataStore
    traffic: list[Router]
    health: HealthProbe
    capacity: CapacityControl
    smoke: Smoke
