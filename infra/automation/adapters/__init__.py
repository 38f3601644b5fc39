"""The interfaces automation drives; one module per implementation.

Routers split traffic between named backends (colors for rollouts, regions for failover) by integer weights
that sum to 100. Every controller tick reads the weights back before acting (Flagger's rule), so a crash
between two writes heals itself on the next run.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Collection, Mapping
from datetime import datetime
from typing import Any, Protocol, TypeVar

from infra.automation.errors import RouterError

T = TypeVar("T")


class Router(Protocol):
    """Traffic weights of one target (a region's gateway colors, a DNS name, an ingress pair)."""

    name: str  # shown in messages: "nginx local-a", "route53 gateway.us-east-1.example.com", ...

    async def get_weights(self) -> dict[str, int]:
        """The weights the router applies right now, read from the router itself."""

    async def set_weights(self, weights: Mapping[str, int]) -> None:
        """Apply weights for every backend of the target (integers 0..100 summing to 100)."""

    async def verify(self, weights: Mapping[str, int]) -> bool:
        """Whether the router really applies these weights now (read back from the live system)."""


class MetricsProvider(Protocol):
    """A metrics backend (Prometheus). Failures raise MetricsError; "no data" is None or an empty list."""

    async def query(self, promql: str, at: datetime) -> float | None:
        """One value of a query that yields a single series (None: empty result or NaN)."""

    async def query_vector(self, promql: str, at: datetime) -> list[tuple[dict[str, str], float]]:
        """Every series of an instant query with its labels."""

    async def query_range(
        self, promql: str, start: datetime, end: datetime, step_seconds: float
    ) -> list[float]:
        """The values of a single-series range query (empty when there is no data)."""


class Deployer(Protocol):
    """Runs a version on a color (blue-green's idle color, a canary's color) and retires a color."""

    async def deploy(self, color: str, version: str) -> None:
        """Bring `color` up running `version` (no traffic shift)."""

    async def healthy(self, color: str, version: str) -> bool:
        """Whether `color` answers its health check and runs `version`."""

    async def running_version(self, color: str) -> str | None:
        """The version `color` runs now, if it runs."""

    async def expected_targets(self, color: str) -> int:
        """How many scrape targets (processes, pods) `color` should have up now: analysis needs them all."""

    async def retire(self, color: str) -> None:
        """Stop `color` after traffic left it (blue-green, after the rollback window)."""


async def in_thread(what: str, call: Callable[..., T], *args: Any) -> T:
    """Run a blocking SDK call (boto3, kubernetes) off the event loop. Any failure but a RouterError of our
    own becomes one RouterError naming what was being done, so callers handle a single exception."""
    try:
        return await asyncio.to_thread(call, *args)
    except RouterError:
        raise
    except Exception as exc:
        raise RouterError(f"{what}: {exc}") from exc


def validate_weights(weights: Mapping[str, int], backends: Collection[str], router: str) -> dict[str, int]:
    """What every router accepts: a weight for each of its backends and no other, integers 0..100 summing
    to 100 (a backend left out would keep whatever it had, so the sum would not say what is served)."""
    if set(weights) != set(backends):
        raise RouterError(
            f"{router}: weights must name each of {', '.join(sorted(backends))} once, got {dict(weights)}"
        )
    if any(not 0 <= w <= 100 for w in weights.values()) or sum(weights.values()) != 100:
        raise RouterError(f"{router}: weights must be 0..100 and sum to 100, got {dict(weights)}")
    return {k: int(v) for k, v in weights.items()}


def one_backend(weights: Mapping[str, int], backends: Collection[str], router: str) -> str:
    """The backend that takes all the traffic, for routers that send it to one at a time (failover records,
    an origin group): valid weights with a single non-zero one."""
    clean = validate_weights(weights, backends, router)
    routed = [b for b, w in clean.items() if w > 0]
    if len(routed) != 1:
        raise RouterError(f"{router}: sends all traffic to one backend at a time, got {clean}")
    return routed[0]
