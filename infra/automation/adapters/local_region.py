"""Failover adapters for the local platform: region weights and the Redis endpoint in nginx (through
`infra.local.nginx.NginxRouter`), region health and capacity from supervisord and HTTP probes, and the smoke
request through the edge.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Mapping

from infra import http
from infra.automation.adapters import validate_weights
from infra.automation.adapters.failover_ports import Capacity, RegionHealth
from infra.automation.errors import RouterError
from infra.config import Color
from infra.errors import StreamgateError
from infra.local.layout import COLORS, gateway_program
from infra.local.nginx import REGIONS, NginxRouter
from infra.local.platform import LocalPlatform

REGION_HEADER = (
    "X-StreamGate-Edge-Region"  # added by each region's router (infra/local/templates/nginx.conf.j2)
)


class NginxRegionRouter:
    """The Router over the edge's region upstream: weight > 0 serves, 0 is a standby (nginx `backup`)."""

    def __init__(self, nginx: NginxRouter) -> None:
        self.nginx = nginx
        self.name = "nginx regions"

    async def get_weights(self) -> dict[str, int]:
        try:
            state = await asyncio.to_thread(self.nginx.loaded_state)
        except (OSError, ValueError, KeyError) as exc:
            raise RouterError(f"{self.name}: cannot read the weights nginx serves: {exc}") from exc
        return {r: (0 if r in state.drained else w) for r, w in state.regions.items()}

    async def set_weights(self, weights: Mapping[str, int]) -> None:
        clean = validate_weights(weights, self.nginx.ports(REGIONS), self.name)
        try:
            current = await asyncio.to_thread(self.nginx.read_state)
            drained = {r for r in current.drained if clean.get(r, 0) == 0}
            await asyncio.to_thread(self.nginx.write_weights, REGIONS, clean, drained=drained)
        except StreamgateError as exc:
            raise RouterError(f"{self.name}: {exc}") from exc

    async def verify(self, weights: Mapping[str, int]) -> bool:
        return await self.get_weights() == dict(weights)


class NginxRedisEndpoint:
    """Every region's Redis endpoint is nginx's stream proxy to the primary: repointed by an include file."""

    def __init__(self, nginx: NginxRouter) -> None:
        self.nginx = nginx

    async def current(self) -> str | None:
        state = await asyncio.to_thread(self.nginx.loaded_state)
        return state.redis_primary

    async def point_to(self, region: str) -> None:
        # No drain: the data store adapter closes the clients left on the old primary itself, at once,
        # instead of waiting for nginx's old workers to time out (worker_shutdown_timeout).
        await asyncio.to_thread(self.nginx.write_redis_primary, region, drain=False)


class LocalRegions:
    """Health, capacity and smoke of a local platform's regions."""

    def __init__(self, platform: LocalPlatform, smoke_path: str = "/version", timeout: float = 1.0) -> None:
        self.platform = platform
        self.layout = platform.layout
        self.smoke_path = smoke_path
        self.timeout = timeout

    # -- health -------------------------------------------------------------------------------
    async def health(self, regions: list[str]) -> dict[str, RegionHealth]:
        results = await asyncio.gather(*(asyncio.to_thread(self._health, r) for r in regions))
        return dict(zip(regions, results, strict=True))

    def _health(self, region: str) -> RegionHealth:
        """The region's router answers and a gateway color that takes its traffic is alive. Liveness
        (/healthz), not readiness: a target's gateways are not ready while the primary they write to is
        dead, which is exactly when a failover to them is needed."""
        ports = self.layout.region(region)
        status, _, _, _ = http.get(f"{self.layout.url(ports.router)}/-/healthz", self.timeout)
        if status != 200:
            return RegionHealth(region, False, f"region router answers {status or 'nothing'}")
        alive = [c for c in COLORS if self._alive(region, c)]
        if not alive:
            return RegionHealth(region, False, "no gateway answers /healthz")
        return RegionHealth(region, True, f"router up, gateways alive: {', '.join(alive)}")

    def _alive(self, region: str, color: Color) -> bool:
        status, _, _, _ = http.get(f"{self.layout.gateway_url(region, color)}/healthz", self.timeout)
        return status == 200

    # -- capacity -----------------------------------------------------------------------------
    async def capacity(self, region: str) -> Capacity:
        return await asyncio.to_thread(self._capacity, region)

    def _capacity(self, region: str) -> Capacity:
        """Locally a region's capacity is its gateway processes: running ones count, at most one per color."""
        processes = self.platform.supervisor.processes()
        running = [
            c
            for c in COLORS
            if (p := processes.get(gateway_program(region, c))) is not None and p.state == "RUNNING"
        ]
        ready = [c for c in running if self._alive(region, c)]
        return Capacity(
            region,
            ready=len(ready),
            floor=len(running),
            maximum=len(COLORS),
            detail=f"{len(ready)} of {len(COLORS)} gateways up ({', '.join(ready) or 'none'})",
        )

    async def raise_floor(self, region: str, minimum: int) -> Capacity:
        return await asyncio.to_thread(self._raise, region, minimum)

    def _raise(self, region: str, minimum: int, timeout: float = 30.0) -> Capacity:
        live = self.platform.cfg.workload.live_color
        order = [live, *(c for c in COLORS if c != live)]
        wanted = order[: max(1, min(minimum, len(order)))]
        for color in wanted:
            self.platform.supervisor.start_process(gateway_program(region, color), wait=False)
        deadline = time.monotonic() + timeout
        while True:
            cap = self._capacity(region)
            if cap.ready >= len(wanted):
                return cap
            if time.monotonic() > deadline:
                raise RouterError(f"{region}: only {cap.detail} after {timeout:.0f}s")
            time.sleep(0.1)

    # -- smoke --------------------------------------------------------------------------------
    async def check(self, region: str) -> tuple[bool, str]:
        return await asyncio.to_thread(self._smoke, region)

    def _smoke(self, region: str) -> tuple[bool, str]:
        url = f"{self.layout.edge_url}{self.smoke_path}"
        status, headers, body, _ = http.get(url, 5.0)
        served = served_by(headers, body)
        ok = status == 200 and served == region
        return ok, f"GET {self.smoke_path} → {status or 'no answer'} from {served or 'unknown region'}"


def served_by(headers: Mapping[str, str], body: bytes) -> str | None:
    """Which region answered: the region router's header, else a `region` field in a JSON body."""
    lowered = {k.lower(): v for k, v in headers.items()}
    if REGION_HEADER.lower() in lowered:
        return lowered[REGION_HEADER.lower()]
    try:
        doc = json.loads(body)
    except ValueError:
        return None
    return str(doc["region"]) if isinstance(doc, dict) and "region" in doc else None
