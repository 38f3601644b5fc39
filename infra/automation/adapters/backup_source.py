"""What one region's backup reads and writes, as a target supplies it: the backup bucket and the envelope
that seals what goes in, the content bucket, and a Redis node whose snapshot can be taken."""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import redis.asyncio as aioredis
from redis.exceptions import RedisError, ResponseError

from infra.automation.adapters.catalog_dump import CatalogDump
from infra.automation.adapters.redis_store import DataStoreError
from runtime.security.envelope import Envelope
from runtime.storage import ObjectStore


@dataclass(frozen=True)
class RedisSnapshot:
    """A Redis node whose data directory we can read (the local platform, self-managed Redis)."""

    host: str
    port: int
    password: str | None = None
    timeout_seconds: float = 120.0

    @property
    def source(self) -> str:
        return f"redis://{self.host}:{self.port}"

    def _client(self) -> aioredis.Redis:
        return aioredis.Redis(
            host=self.host, port=self.port, password=self.password, socket_timeout=10, decode_responses=True
        )

    async def take(self) -> bytes:
        """BGSAVE, wait for that save to finish, return the RDB bytes."""
        client = self._client()
        try:
            deadline = time.monotonic() + self.timeout_seconds
            info: dict[str, Any] = await client.info("persistence")
            while int(info.get("rdb_bgsave_in_progress", 0)):  # someone else's save: let it finish
                await self._tick(deadline)
                info = await client.info("persistence")
            saves = int(info.get("rdb_saves", 0))
            try:
                await client.bgsave()
            except ResponseError as exc:
                if "in progress" not in str(exc):
                    raise
            while True:
                info = await client.info("persistence")
                if not int(info.get("rdb_bgsave_in_progress", 0)) and int(info.get("rdb_saves", 0)) > saves:
                    break
                await self._tick(deadline)
            if info.get("rdb_last_bgsave_status") != "ok":
                raise DataStoreError(
                    f"{self.source}: BGSAVE failed (rdb_last_bgsave_status {info.get('rdb_last_bgsave_status')})"
                )
            directory = str((await client.config_get("dir"))["dir"])
            filename = str((await client.config_get("dbfilename"))["dbfilename"])
        except RedisError as exc:
            raise DataStoreError(f"{self.source}: {exc}") from exc
        finally:
            await client.aclose()
        path = Path(directory) / filename
        try:
            return await asyncio.to_thread(path.read_bytes)
        except OSError as exc:
            raise DataStoreError(f"{self.source}: cannot read its snapshot {path}: {exc}") from exc

    async def _tick(self, deadline: float) -> None:
        if time.monotonic() > deadline:
            raise DataStoreError(f"{self.source}: BGSAVE did not finish in {self.timeout_seconds:.0f}s")
        await asyncio.sleep(0.02)


@dataclass
class RegionBackup:
    """Where one region's backups come from and go to."""

    stack: str
    region: str
    backup: ObjectStore  # the region's backup bucket
    envelope: Envelope
    content: ObjectStore | None = None  # the region's content bucket
    redis: RedisSnapshot | None = None
    notes: list[str] = field(default_factory=list)  # e.g. why Redis is not part of it
    catalog: CatalogDump | None = None  # the catalog database (adapters/catalog_dump.py)
