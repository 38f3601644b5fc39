"""Debug probes across every gateway instance, through Redis.

Arming writes the probe's definition (condition, hit limit, expiry, rate) into one Redis hash; each
process applies the hash to its probe points within `sync_seconds` (one HGETALL per second per process)
and arms the local one at once. A snapshot is captured in the process that hit the probe and kept by a
Lua script only while the probe is still armed (same arming id), within its rate (per second, over all
instances) and its hit limit (over all instances); the last allowed hit clears the probe. Snapshots live in
a capped list per probe for `retain_seconds`, so whichever instance answers `snapshots` sees them all."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
from collections.abc import Iterable
from typing import Any

import redis.asyncio as aioredis
from redis.exceptions import RedisError

from runtime.observability.probes import POINTS, Arming, ProbeError, ProbePoint, point
from runtime.security.lua import LuaScript
from runtime.tasks import stop

log = logging.getLogger("runtime.observability")

PREFIX = "{streamgate:debug}"  # one hash slot: the script touches several keys
PROBES_KEY = f"{PREFIX}:probes"
KEEP_SNAPSHOTS = 100
MAX_TTL_SECONDS = 3600
MAX_HITS = 1000
MAX_PER_SECOND = 50
_RECORD = LuaScript.from_package("runtime.observability", "record_snapshot.lua")


def _snapshots_key(name: str) -> str:
    return f"{PREFIX}:snapshots:{name}"


class ProbeControl:
    def __init__(
        self,
        redis: aioredis.Redis,
        *,
        retain_seconds: float = 900.0,
        sync_seconds: float = 1.0,
        points: Iterable[ProbePoint] = POINTS.values(),
    ) -> None:
        self.redis = redis
        self.retain_seconds = retain_seconds
        self.sync_seconds = sync_seconds
        self.points = list(points)
        self._task: asyncio.Task[None] | None = None
        self._writes: set[asyncio.Task[Any]] = set()

    # -- admin operations (any instance) -----------------------------------------------------------------
    async def arm(
        self, name: str, condition: str, *, max_hits: int, ttl_seconds: float, max_per_second: int, by: str
    ) -> Arming:
        """Arm `name` everywhere; ProbeError or ConditionError (a ValueError) on bad input."""
        probe = point(name)
        if not 1 <= max_hits <= MAX_HITS:
            raise ProbeError(f"max_hits must be in [1, {MAX_HITS}]")
        if not 0 < ttl_seconds <= MAX_TTL_SECONDS:
            raise ProbeError(f"ttl_seconds must be in (0, {MAX_TTL_SECONDS}]")
        if not 1 <= max_per_second <= MAX_PER_SECOND:
            raise ProbeError(f"max_per_second must be in [1, {MAX_PER_SECOND}]")
        arming = Arming(condition, max_hits, time.time() + ttl_seconds, max_per_second, by=by)
        probe.arm(arming)  # compiles: a bad condition is refused before anything is stored
        await self.redis.hset(PROBES_KEY, name, json.dumps(arming.to_json()))
        return arming

    async def clear(self, name: str | None = None) -> list[str]:
        """Disarm one probe (or all); returns the names that were armed."""
        names = [point(name).name] if name is not None else [p.name for p in self.points]
        removed = [n for n, gone in zip(names, await self._hdel(names), strict=True) if gone]
        for n in names:
            POINTS[n].disarm()
        return removed

    async def _hdel(self, names: list[str]) -> list[bool]:
        async with self.redis.pipeline(transaction=True) as pipe:
            for n in names:
                pipe.hdel(PROBES_KEY, n)
            return [bool(r) for r in await pipe.execute()]

    async def status(self) -> list[dict[str, Any]]:
        """Every probe point: armed or not, with its arming and the hits so far."""
        stored = await self._stored()
        out = []
        for p in self.points:
            entry: dict[str, Any] = {
                "name": p.name,
                "variables": sorted(p.variables),
                "description": p.description,
            }
            arming = stored.get(p.name)
            if arming is not None:
                hits = await self.redis.get(f"{PREFIX}:hits:{arming.id}")
                entry["armed"] = {**arming.to_json(), "hits": int(hits or 0)}
            else:
                entry["armed"] = None
            out.append(entry)
        return out

    async def snapshots(self, name: str) -> list[dict[str, Any]]:
        """The probe's snapshots kept (newest first), within the retention."""
        point(name)
        raw = await self.redis.lrange(_snapshots_key(name), 0, KEEP_SNAPSHOTS - 1)
        horizon = time.time() - self.retain_seconds
        docs = [json.loads(r) for r in raw]
        return [d for d in docs if d.get("at", 0) >= horizon]

    async def _stored(self) -> dict[str, Arming]:
        raw: dict[Any, Any] = await self.redis.hgetall(PROBES_KEY)
        now = time.time()
        out = {}
        for key, value in raw.items():
            try:
                doc = json.loads(value)
                arming = Arming(
                    doc["condition"],
                    int(doc["max_hits"]),
                    float(doc["expires_at"]),
                    int(doc["max_per_second"]),
                    id=str(doc["id"]),
                    by=str(doc.get("by", "")),
                )
            except (ValueError, KeyError, TypeError):
                continue
            if arming.expires_at > now:
                out[key.decode() if isinstance(key, bytes) else str(key)] = arming
        return out

    # -- every instance ----------------------------------------------------------------------------------
    def start(self) -> None:
        for p in self.points:
            p.on_snapshot = self._keep
        self._task = asyncio.create_task(self._sync_loop(), name="debug-probes-sync")

    async def stop(self) -> None:
        if self._task is not None:
            await stop([self._task])  # one cancel can be lost inside redis-py's timeout
            self._task = None
        for p in self.points:
            p.disarm()
            p.on_snapshot = None
        if self._writes:
            await asyncio.wait(self._writes, timeout=1.0)

    async def sync(self) -> None:
        """Apply the stored armings to this process's probe points."""
        stored = await self._stored()
        for p in self.points:
            arming = stored.get(p.name)
            if arming is None:
                if p.armed:
                    p.disarm()
            elif p.arming is None or p.arming.id != arming.id:
                try:
                    p.arm(arming)
                except ValueError:
                    log.warning("stored probe %s has an invalid condition; ignored", p.name)

    async def _sync_loop(self) -> None:
        while True:
            with contextlib.suppress(RedisError, OSError):
                await self.sync()
            await asyncio.sleep(self.sync_seconds)

    def _keep(self, probe: ProbePoint, arming: Arming, snapshot: dict[str, Any]) -> None:
        """Called from the hot path: the write happens in a task (bounded by the probe's rate)."""
        task = asyncio.get_running_loop().create_task(self._write(probe, arming, snapshot))
        self._writes.add(task)
        task.add_done_callback(self._writes.discard)

    async def _write(self, probe: ProbePoint, arming: Arming, snapshot: dict[str, Any]) -> None:
        snapshot = {**snapshot, "arming": arming.id}
        second = int(snapshot["at"])
        keys = [
            f"{PREFIX}:hits:{arming.id}",
            f"{PREFIX}:rate:{arming.id}:{second}",
            _snapshots_key(probe.name),
            PROBES_KEY,
        ]
        ttl = max(1, int(arming.expires_at - time.time()) + 60)
        args = [
            arming.max_hits,
            arming.max_per_second,
            json.dumps(snapshot, default=str),
            KEEP_SNAPSHOTS,
            int(self.retain_seconds),
            ttl,
            probe.name,
            arming.id,
        ]
        try:
            result = int(await _RECORD.run(self.redis, keys, args))
        except (RedisError, OSError) as exc:
            log.warning("debug snapshot of %s not kept: %s", probe.name, exc)
            return
        finished = result in (-1, -3) or result >= arming.max_hits
        if finished and probe.arming is not None and probe.arming.id == arming.id:
            probe.disarm()
