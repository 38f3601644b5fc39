"""The interfaces failover drives, one module per implementation beside this one.

Traffic between regions goes through the rollout's `Router` protocol (`infra.automation.adapters`), with
region names as backends: nginx region weights locally, Route 53 failover records and the CloudFront origin
group in the cloud.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol

from infra.automation.adapters import Router
from infra.automation.failover.model import Capacity, RegionHealth, Replication


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
