"""`streamgate backup`: encrypted backups of a region's Redis snapshot and content bucket, and their
verification, restore and pruning.

- create: BGSAVE on the region's Redis node (waits until that save finished: `rdb_saves` grows and
  `rdb_last_bgsave_status` is ok), then every object of the content bucket; each object is read, hashed
  (sha256), envelope-encrypted (context = stack + backup id + key) and written to the backup bucket; the
  manifest goes last. The newest backup's time is pushed to the Pushgateway for the backup-age alert.
- verify: decrypts every object into scratch space, compares sizes and checksums with the manifest, loads
  the Redis snapshot into a scratch redis-server; every missing, corrupted or extra object is named.
- restore: all or nothing. Every object is first decrypted into scratch space (streamed, each file renamed
  into place only after its last chunk authenticated) and checked against the manifest; only when all of
  them are whole does anything reach the target: objects into a bucket (byte-identical), the Redis snapshot
  into a Redis by DUMP/RESTORE from a scratch redis-server that loaded it (works for any Redis). A truncated,
  tampered or missing object leaves the target untouched.
- prune: by the stack's retention (`backup.retentionDays`, `keepLast`, `incompleteGraceHours`).

The Redis part reads the RDB file from the node's data directory, so it needs the node's filesystem (the
local platform, self-managed Redis). ElastiCache forbids BGSAVE: cloud stacks rely on its own snapshots
(`redis.snapshotRetentionDays`) and back up the content buckets here.
"""

from __future__ import annotations

import asyncio
import builtins
import contextlib
import hashlib
import json
import shutil
import socket
import tempfile
import time
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import redis.asyncio as aioredis
from prometheus_client import CollectorRegistry, Gauge
from redis.exceptions import RedisError

from infra.automation.adapters.backup_source import RegionBackup
from infra.automation.adapters.catalog_dump import DUMP_KEY, SUMMARY_KEY, verify_dump
from infra.automation.adapters.pushgateway import Pushgateway
from infra.automation.backup.errors import BackupError, BackupNotFoundError
from infra.automation.backup.model import (
    PREFIX,
    BackupInfo,
    Entry,
    Manifest,
    Problem,
    PruneDecision,
    VerifyResult,
    context,
    data_key,
    id_time,
    manifest_key,
    new_backup_id,
    retention,
)
from runtime.security.envelope.sink import adecrypt_to_file
from runtime.security.errors import EnvelopeError
from runtime.storage import ObjectNotFoundError, ObjectStore, StorageError

JOB = "streamgate-backup"
CONTENT = "content/"
REDIS_KEY = "redis/dump.rdb"
REGISTRY = CollectorRegistry(auto_describe=True)
LAST_SUCCESS = Gauge(
    "streamgate_backup_last_success_timestamp_seconds",
    "When the newest complete backup of the region finished (Unix time).",
    ["stack", "region"],
    registry=REGISTRY,
)

Progress = Callable[[str, int, int], None]  # (what, done, total)


def _no_progress(what: str, done: int, total: int) -> None:
    return None


# -- Redis snapshots: loading one to verify and restore ----------------------------------------------


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextlib.asynccontextmanager
async def scratch_redis(rdb: Path) -> AsyncIterator[aioredis.Redis]:
    """A private redis-server that loaded `rdb` (in its own directory), stopped on exit."""
    binary = shutil.which("redis-server")
    if binary is None:
        raise BackupError(
            "redis-server not found (apt-get install -y redis-server): cannot load the snapshot"
        )
    port = _free_port()
    proc = await asyncio.create_subprocess_exec(
        binary,
        *("--port", str(port), "--bind", "127.0.0.1", "--dir", str(rdb.parent), "--dbfilename", rdb.name),
        *("--save", "", "--appendonly", "no", "--daemonize", "no"),
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.DEVNULL,
    )
    client = aioredis.Redis(host="127.0.0.1", port=port, socket_timeout=30)
    try:
        deadline = time.monotonic() + 60
        while True:
            if proc.returncode is not None:
                raise BackupError(
                    f"redis-server refused the snapshot {rdb.name} (exit code {proc.returncode})"
                )
            try:
                info = await client.info("persistence")
                if not int(info.get("loading", 0)):
                    break
            except (RedisError, OSError):
                pass
            if time.monotonic() > deadline:
                raise BackupError("scratch redis-server did not finish loading the snapshot in 60s")
            await asyncio.sleep(0.02)
        yield client
    finally:
        await client.aclose()
        with contextlib.suppress(ProcessLookupError):
            proc.kill()
        await proc.wait()


async def copy_keys(source: aioredis.Redis, target: aioredis.Redis, batch: int = 500) -> int:
    """Every key of `source` into `target` (DUMP/PTTL → RESTORE … REPLACE), TTLs kept; returns the count."""
    copied = 0
    keys: list[bytes] = []
    async for key in source.scan_iter(count=batch):
        keys.append(key)
        if len(keys) >= batch:
            copied += await _copy(source, target, keys)
            keys = []
    if keys:
        copied += await _copy(source, target, keys)
    return copied


async def _copy(source: aioredis.Redis, target: aioredis.Redis, keys: list[bytes]) -> int:
    read = source.pipeline(transaction=False)
    for key in keys:
        read.dump(key)
        read.pttl(key)
    values = await read.execute()
    write = target.pipeline(transaction=False)
    count = 0
    for i, key in enumerate(keys):
        dumped, ttl = values[2 * i], values[2 * i + 1]
        if dumped is None:  # expired meanwhile
            continue
        write.restore(key, max(int(ttl), 0), dumped, replace=True)
        count += 1
    await write.execute()
    return count


# -- a region's backups ---------------------------------------------------------------------------


@dataclass
class RestoreResult:
    backup_id: str
    region: str
    objects: int = 0
    bytes: int = 0
    redis_keys: int | None = None
    target_bucket: str | None = None
    dry_run: bool = False
    problems: list[Problem] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems


class Backups:
    def __init__(
        self, target: RegionBackup, *, concurrency: int = 8, progress: Progress | None = None
    ) -> None:
        self.t = target
        self.limit = asyncio.Semaphore(concurrency)
        self.progress = progress or _no_progress

    # -- create ---------------------------------------------------------------------------------
    async def plan(self) -> tuple[list[str], int]:
        """(keys a create would back up, their bytes), without writing anything (dry run)."""
        keys, size = [REDIS_KEY] if self.t.redis else [], 0
        if self.t.content is not None:
            async for info in self.t.content.list():
                keys.append(CONTENT + info.key)
                size += info.size
        return keys, size

    async def create(self, now: Callable[[], float] = time.time) -> Manifest:
        t = self.t
        backup_id = new_backup_id(now())
        manifest = Manifest(backup_id, t.stack, t.region, now(), 0.0, {}, notes=list(t.notes))
        if t.redis is not None:
            manifest.sources["redis"] = t.redis.source
            self.progress("redis snapshot (BGSAVE)", 0, 1)
            rdb = await t.redis.take()
            manifest.entries.append(await self._store(backup_id, REDIS_KEY, rdb))
        if t.catalog is not None:
            manifest.sources["catalog"] = t.catalog.source
            self.progress("catalog dump (pg_dump)", 0, 1)
            dump, summary = await t.catalog.take()
            manifest.entries.append(await self._store(backup_id, DUMP_KEY, dump))
            manifest.entries.append(await self._store(backup_id, SUMMARY_KEY, summary))
        if t.content is not None:
            manifest.sources["content"] = f"s3://{t.content.bucket}/{t.content.prefix}"
            objects = [info.key async for info in t.content.list()]
            done = 0

            async def one(key: str) -> Entry:
                nonlocal done
                async with self.limit:
                    data = await t.content.get(key)  # type: ignore[union-attr]
                    entry = await self._store(backup_id, CONTENT + key, data)
                done += 1
                self.progress("content objects", done, len(objects))
                return entry

            manifest.entries += await asyncio.gather(*(one(k) for k in objects))
        manifest.finished_at = now()
        body = json.dumps(manifest.to_dict(), sort_keys=True).encode()
        blob = await t.envelope.aencrypt(body, context(t.stack, backup_id, "manifest"))
        await t.backup.put(manifest_key(backup_id), blob, content_type="application/octet-stream")
        return manifest

    def _source_of(self, key: str) -> str:
        if key == REDIS_KEY and self.t.redis is not None:
            return self.t.redis.source
        if key in (DUMP_KEY, SUMMARY_KEY) and self.t.catalog is not None:
            return self.t.catalog.source
        assert self.t.content is not None
        return f"s3://{self.t.content.bucket}/{self.t.content.prefix}{key.removeprefix(CONTENT)}"

    async def _store(self, backup_id: str, key: str, data: bytes) -> Entry:
        # Chunked (the envelope's streaming format), so a restore decrypts chunk by chunk into a file.
        stream = self.t.envelope.aencrypt_stream([data], context(self.t.stack, backup_id, key))
        blob = b"".join([piece async for piece in stream])
        await self.t.backup.put(data_key(backup_id, key), blob)
        return Entry(key, self._source_of(key), len(data), hashlib.sha256(data).hexdigest(), len(blob))

    # -- read -----------------------------------------------------------------------------------
    async def manifest(self, backup_id: str) -> Manifest:
        try:
            blob = await self.t.backup.get(manifest_key(backup_id))
        except ObjectNotFoundError:
            raise BackupNotFoundError(
                f"{self.t.region}: no complete backup {backup_id} in s3://{self.t.backup.bucket}"
            ) from None
        try:
            body = await self.t.envelope.adecrypt(blob, context(self.t.stack, backup_id, "manifest"))
        except EnvelopeError as exc:
            raise BackupError(
                f"{backup_id}: the manifest does not decrypt ({type(exc).__name__}: {exc})"
            ) from exc
        return Manifest.from_dict(json.loads(body))

    async def list(self) -> list[BackupInfo]:
        """Every backup in the bucket, newest first; incomplete ones (no manifest) included."""
        ids: dict[str, bool] = {}
        async for info in self.t.backup.list(PREFIX):
            backup_id, _, rest = info.key[len(PREFIX) :].partition("/")
            ids[backup_id] = ids.get(backup_id, False) or rest == "manifest"
        out: list[BackupInfo] = []
        for backup_id, has_manifest in ids.items():
            if not has_manifest:
                out.append(BackupInfo(backup_id, self.t.region, False, id_time(backup_id)))
                continue
            try:
                m = await self.manifest(backup_id)
            except BackupError as exc:
                out.append(BackupInfo(backup_id, self.t.region, False, id_time(backup_id), problem=str(exc)))
                continue
            out.append(
                BackupInfo(
                    backup_id, self.t.region, True, m.started_at, m.finished_at, len(m.entries), m.bytes
                )
            )
        return sorted(out, key=lambda b: b.backup_id, reverse=True)

    async def newest(self) -> BackupInfo | None:
        return next((b for b in await self.list() if b.complete), None)

    # -- verify ---------------------------------------------------------------------------------
    async def verify(self, backup_id: str, scratch: Path | None = None) -> VerifyResult:
        manifest = await self.manifest(backup_id)
        result = VerifyResult(backup_id, self.t.region)
        with tempfile.TemporaryDirectory(prefix="sg-verify-", dir=scratch) as tmp:
            root = Path(tmp)
            result.problems += await self._check_all(backup_id, manifest.entries, root, "verify")
            failed = {p.key for p in result.problems}
            intact = [e for e in manifest.entries if e.key not in failed]
            result.checked, result.bytes = len(intact), sum(e.size for e in intact)
            listed = {data_key(backup_id, e.key) for e in manifest.entries}
            async for info in self.t.backup.list(f"{PREFIX}{backup_id}/data/"):
                if info.key not in listed:
                    key = info.key.removeprefix(f"{PREFIX}{backup_id}/data/")
                    result.problems.append(Problem(key, "unexpected", "stored but not in the manifest"))
            rdb = root / REDIS_KEY
            if rdb.exists() and not any(p.key == REDIS_KEY for p in result.problems):
                try:
                    async with scratch_redis(rdb) as client:
                        result.redis_keys = int(await client.dbsize())
                except BackupError as exc:
                    result.problems.append(Problem(REDIS_KEY, "unloadable", str(exc)))
            dump, summary = root / DUMP_KEY, root / SUMMARY_KEY
            if dump.exists() and summary.exists():
                for difference in await verify_dump(dump, summary):
                    result.problems.append(Problem(DUMP_KEY, "unloadable", difference))
        result.problems.sort(key=lambda p: p.key)
        return result

    async def _check_all(
        self, backup_id: str, entries: Sequence[Entry], root: Path, what: str
    ) -> builtins.list[Problem]:
        """`_check` every entry (concurrently, with progress); the problems found."""
        problems: builtins.list[Problem] = []
        done = 0

        async def one(entry: Entry) -> None:
            nonlocal done
            async with self.limit:
                problem = await self._check(backup_id, entry, root)
            done += 1
            self.progress(what, done, len(entries))
            if problem is not None:
                problems.append(problem)

        await asyncio.gather(*(one(e) for e in entries))
        return problems

    async def _check(self, backup_id: str, entry: Entry, root: Path) -> Problem | None:
        """Decrypt one object into `root` (committed only once whole) and compare it with the manifest;
        a file that does not match is removed again."""
        try:
            blob = await self.t.backup.get(data_key(backup_id, entry.key))
        except ObjectNotFoundError:
            return Problem(
                entry.key, "missing", f"s3://{self.t.backup.bucket}/{data_key(backup_id, entry.key)} is gone"
            )
        path = root / entry.key
        try:
            written = await adecrypt_to_file(
                self.t.envelope, _pieces(blob), context(self.t.stack, backup_id, entry.key), path
            )
        except EnvelopeError as exc:
            return Problem(entry.key, "corrupted", f"does not decrypt ({type(exc).__name__}: {exc})")
        if written.sha256 != entry.sha256 or written.size != entry.size:
            path.unlink()
            return Problem(
                entry.key,
                "corrupted",
                f"sha256 {written.sha256[:12]}… size {written.size}, manifest "
                f"{entry.sha256[:12]}… size {entry.size}",
            )
        return None

    # -- restore --------------------------------------------------------------------------------
    async def restore(
        self,
        backup_id: str,
        *,
        to: ObjectStore | None,
        redis_url: str | None = None,
        dry_run: bool = False,
        scratch: Path | None = None,
    ) -> RestoreResult:
        manifest = await self.manifest(backup_id)
        result = RestoreResult(
            backup_id, self.t.region, target_bucket=to.bucket if to else None, dry_run=dry_run
        )
        content = [e for e in manifest.entries if e.key.startswith(CONTENT)] if to is not None else []
        redis_entry = next((e for e in manifest.entries if e.key == REDIS_KEY), None)
        if redis_url is not None and redis_entry is None:
            result.problems.append(Problem(REDIS_KEY, "missing", "this backup has no Redis snapshot"))
        if dry_run:
            result.objects, result.bytes = len(content), sum(e.size for e in content)
            return result
        wanted = content + ([redis_entry] if redis_url is not None and redis_entry is not None else [])
        with tempfile.TemporaryDirectory(prefix="sg-restore-", dir=scratch) as tmp:
            root = Path(tmp)
            # Stage: every object decrypted and checked before anything is written to the target.
            result.problems += await self._check_all(backup_id, wanted, root, "restore: decrypt and check")
            if result.problems:
                result.problems.sort(key=lambda p: p.key)
                return result  # nothing written: a partial restore is worse than none
            # Commit.
            done = 0

            async def commit(entry: Entry) -> None:
                nonlocal done
                assert to is not None
                async with self.limit:
                    data = await asyncio.to_thread((root / entry.key).read_bytes)
                    await to.put(entry.key.removeprefix(CONTENT), data)
                result.objects += 1
                result.bytes += len(data)
                done += 1
                self.progress("restore: write", done, len(content))

            await asyncio.gather(*(commit(e) for e in content))
            if redis_url is not None and redis_entry is not None:
                result.redis_keys = await self._restore_redis(root / REDIS_KEY, redis_url)
        return result

    async def _restore_redis(self, rdb: Path, redis_url: str) -> int:
        target = aioredis.Redis.from_url(redis_url, socket_timeout=30)
        try:
            async with scratch_redis(rdb) as source:
                return await copy_keys(source, target)
        except RedisError as exc:
            raise BackupError(f"restoring into {redis_url}: {exc}") from exc
        finally:
            await target.aclose()

    # -- prune ----------------------------------------------------------------------------------
    async def prune(
        self,
        *,
        retention_days: int,
        keep_last: int,
        incomplete_grace_hours: int,
        dry_run: bool = False,
        now: float | None = None,
    ) -> PruneDecision:
        decision = retention(
            await self.list(),
            time.time() if now is None else now,
            retention_days=retention_days,
            keep_last=keep_last,
            incomplete_grace_hours=incomplete_grace_hours,
        )
        if dry_run:
            return decision
        for backup_id in decision.delete:
            keys = [info.key async for info in self.t.backup.list(f"{PREFIX}{backup_id}/")]
            # The manifest first: an interrupted prune leaves an incomplete backup, never a "complete" one
            # with objects missing.
            manifest = manifest_key(backup_id)
            if manifest in keys:
                await self.t.backup.delete(manifest)
            try:
                await self.t.backup.delete_many([k for k in keys if k != manifest])
            except StorageError as exc:
                raise BackupError(f"pruning {backup_id}: {exc}") from exc
        return decision


def _pieces(blob: bytes, size: int = 1 << 20) -> list[bytes]:
    """A stored envelope as the stream a ranged download would deliver (decrypted chunk by chunk)."""
    return [blob[i : i + size] for i in range(0, len(blob), size)] or [blob]


def push_last_success(
    gateway: Pushgateway | None, stack: str, region: str, finished_at: float, timeout: float = 5.0
) -> bool:
    """Push the newest backup's time (job streamgate-backup, group stack+region); an outage is reported
    to the caller, never fatal: the backup itself succeeded."""
    if gateway is None:
        return False
    LAST_SUCCESS.clear()
    LAST_SUCCESS.labels(stack, region).set(finished_at)
    return gateway.push(JOB, REGISTRY, {"stack": stack, "region": region}, timeout)
