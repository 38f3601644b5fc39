"""Data store adapter over plain Redis nodes (the local platform; any self-managed Redis 7).

The switchover is done by hand rather than with `FAILOVER TO`, so every step is observable and resumable
and the caught-up offsets can be reported (Redis 7.0 supports both; see PITFALLS):

    fence     CLIENT PAUSE <ms> WRITE on the primary (bounded: a crashed run never leaves it paused)
    catch-up  poll until the replica's processed offset equals the primary's master_repl_offset
    promote   REPLICAOF NO ONE on the target (its replication id carries over: others can PSYNC)
    repoint   the write endpoint → target; REPLICAOF target on the other members; CLIENT KILL TYPE normal
              on the demoted ones, so clients still connected to them reconnect through the endpoint
    unfence   CLIENT UNPAUSE (a held write was never applied: it fails with READONLY or a closed
              connection, and the client retries on the new primary; nothing acknowledged is lost)

Roles are persisted with CONFIG REWRITE where the node has a config file, so a restart keeps them.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass
from typing import Any, Protocol

import redis.asyncio as aioredis
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff
from redis.exceptions import RedisError, ResponseError

from infra.automation.adapters.failover_ports import CatchUp, NodeStatus, Replication, Repointed
from infra.automation.errors import AutomationError


class DataStoreError(AutomationError):
    """A data store node refused or did not answer a failover command."""


@dataclass(frozen=True)
class RedisNode:
    host: str
    port: int
    password: str | None = None


class WriteEndpoint(Protocol):
    """The stable address clients write to, which must follow the primary (local: nginx's stream proxy)."""

    async def current(self) -> str | None:
        """The region whose node the endpoint leads to now."""

    async def point_to(self, region: str) -> None: ...


def parse_info(text: str) -> dict[str, str]:
    info: dict[str, str] = {}
    for line in text.splitlines():
        if ":" in line and not line.startswith("#"):
            key, _, value = line.partition(":")
            info[key.strip()] = value.strip()
    return info


def replica_entries(info: Mapping[str, str]) -> list[dict[str, str]]:
    """A primary's `slaveN:ip=…,port=…,state=…,offset=…,lag=…` lines as dicts."""
    out = []
    for key, value in info.items():
        if key.startswith("slave") and key[5:].isdigit():
            out.append(dict(part.split("=", 1) for part in value.split(",") if "=" in part))
    return out


class RedisDataStore:
    """One Redis node per region; `endpoint` (optional) is moved to the new primary by `repoint`."""

    def __init__(
        self,
        nodes: Mapping[str, RedisNode],
        endpoint: WriteEndpoint | None = None,
        *,
        timeout: float = 1.0,
        poll_seconds: float = 0.005,
    ) -> None:
        self.nodes = dict(nodes)
        self.endpoint = endpoint
        self.timeout = timeout
        self.poll = poll_seconds
        self.name = "redis " + ", ".join(f"{r}={n.host}:{n.port}" for r, n in self.nodes.items())

    @contextlib.asynccontextmanager
    async def _client(self, region: str) -> AsyncIterator[aioredis.Redis]:
        node = self.nodes[region]
        client = aioredis.Redis(
            host=node.host,
            port=node.port,
            password=node.password,
            socket_timeout=self.timeout,
            socket_connect_timeout=self.timeout,
            decode_responses=True,
            # A dead node must be reported at once, not after redis-py's default retries with backoff.
            retry=Retry(NoBackoff(), 0),
        )
        try:
            yield client
        finally:
            await client.aclose()

    async def _info(self, region: str) -> dict[str, str]:
        async with self._client(region) as client:
            raw: Any = await client.execute_command("INFO", "replication")
        if isinstance(raw, str):
            return parse_info(raw)
        # redis-py parses INFO: `slaveN` becomes a dict; put it back into Redis's own `k=v,…` form.
        return {
            k: ",".join(f"{a}={b}" for a, b in v.items()) if isinstance(v, dict) else str(v)
            for k, v in raw.items()
        }

    async def _command(self, region: str, *args: str | int) -> Any:
        try:
            async with self._client(region) as client:
                return await client.execute_command(*args)
        except RedisError as exc:
            raise DataStoreError(f"redis {region}: {' '.join(map(str, args))}: {exc}") from exc

    def _region_at(self, host: str | None, port: str | int | None) -> str | None:
        for region, node in self.nodes.items():
            if str(node.port) == str(port) and (host in (node.host, "localhost", "127.0.0.1", None)):
                return region
        return None

    async def replication(self) -> Replication:
        regions = list(self.nodes)
        infos = await asyncio.gather(*(self._info(r) for r in regions), return_exceptions=True)
        by_region: dict[str, dict[str, str]] = {}
        nodes: dict[str, NodeStatus] = {}
        for region, info in zip(regions, infos, strict=True):
            if isinstance(info, BaseException):
                nodes[region] = NodeStatus(region, False, detail=f"unreachable: {info}")
            else:
                by_region[region] = info
        for region, info in by_region.items():
            if info.get("role") == "master":
                n = len(replica_entries(info))
                nodes[region] = NodeStatus(
                    region,
                    True,
                    "primary",
                    offset=int(info.get("master_repl_offset", 0)),
                    detail=f"primary, {n} replica(s), offset {info.get('master_repl_offset')}",
                )
                continue
            upstream = self._region_at(info.get("master_host"), info.get("master_port"))
            link = info.get("master_link_status") == "up"
            offset = int(info.get("slave_repl_offset", info.get("master_repl_offset", 0)))
            lag: float | None = None
            if upstream in by_region:
                port = str(self.nodes[region].port)
                for entry in replica_entries(by_region[upstream]):
                    if entry.get("port") == port:
                        lag = float(entry.get("lag", 0))
            nodes[region] = NodeStatus(
                region,
                True,
                "replica",
                upstream=upstream,
                link_up=link,
                offset=offset,
                lag_seconds=lag,
                detail=f"replica of {upstream or info.get('master_port')}, link "
                f"{info.get('master_link_status', '?')}, offset {offset}",
            )
        endpoint = await self.endpoint.current() if self.endpoint else None
        return Replication({r: nodes[r] for r in regions}, endpoint)

    async def fence(self, primary: str, seconds: float) -> None:
        await self._command(primary, "CLIENT", "PAUSE", max(1, int(seconds * 1000)), "WRITE")

    async def unfence(self, region: str) -> None:
        with contextlib.suppress(DataStoreError):  # a dead node holds no pause worth lifting
            await self._command(region, "CLIENT", "UNPAUSE")

    async def catch_up(self, primary: str, replica: str, within: float) -> CatchUp:
        started = time.monotonic()
        first: int | None = None
        while True:
            p, r = await asyncio.gather(self._info(primary), self._info(replica))
            target = int(p.get("master_repl_offset", 0))
            done = int(r.get("slave_repl_offset", -1))
            lag = max(0, target - done)
            first = lag if first is None else first
            if (
                r.get("role") != "slave"
                or self._region_at(r.get("master_host"), r.get("master_port")) != primary
            ):
                raise DataStoreError(f"{replica} is not a replica of {primary}: cannot catch up")
            if done == target and r.get("master_link_status") == "up":
                return CatchUp(first, 0, time.monotonic() - started)
            if time.monotonic() - started > within:
                raise DataStoreError(
                    f"{replica} still {lag} bytes behind {primary} after {within:g}s "
                    f"(link {r.get('master_link_status')})"
                )
            await asyncio.sleep(self.poll)

    async def promote(self, region: str, *, planned: bool) -> None:
        info = await self._info_or_raise(region)
        if info.get("role") != "master":
            await self._command(region, "REPLICAOF", "NO", "ONE")
        await self._persist(region)
        after = await self._info_or_raise(region)
        if after.get("role") != "master":
            raise DataStoreError(f"redis {region}: still {after.get('role')} after REPLICAOF NO ONE")

    async def repoint(self, primary: str) -> Repointed:
        result = Repointed()
        if self.endpoint is not None and await self.endpoint.current() != primary:
            await self.endpoint.point_to(primary)
            result.endpoint_moved = True
        target = self.nodes[primary]
        for region in self.nodes:
            if region == primary:
                continue
            try:
                info = await self._info(region)
            except (RedisError, OSError):
                result.unreachable.append(region)
                continue
            upstream = self._region_at(info.get("master_host"), info.get("master_port"))
            if info.get("role") != "slave" or upstream != primary:
                await self._command(region, "REPLICAOF", target.host, target.port)
                await self._persist(region)
                # Clients still connected here (through the old endpoint) must reconnect to the primary.
                await self._command(region, "CLIENT", "KILL", "TYPE", "normal", "SKIPME", "yes")
            result.replicas.append(region)
        return result

    async def _info_or_raise(self, region: str) -> dict[str, str]:
        try:
            return await self._info(region)
        except (RedisError, OSError) as exc:
            raise DataStoreError(f"redis {region}: unreachable: {exc}") from exc

    async def _persist(self, region: str) -> None:
        """CONFIG REWRITE so a restart keeps the role; a node started without a config file cannot."""
        try:
            await self._command(region, "CONFIG", "REWRITE")
        except DataStoreError as exc:
            if not isinstance(exc.__cause__, ResponseError) or "config file" not in str(exc):
                raise
