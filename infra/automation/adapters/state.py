"""Persisted automation state: JSON documents by key, and one exclusive lock per target.

Keys look like `rollouts/local-a` (rollouts) or `failover/prod` (the failover/backup automation reuses this).
- Local: `<root>/<key>.json` written atomically (temp file + fsync + rename), lock `<root>/<key>.lock` held
  with `flock`: the kernel drops it when the holder dies (even SIGKILL), so a crashed run never leaves a
  stale lock; the file records pid/host/owner for messages.
- Cloud: an S3 object; writes are conditional (If-Match on the ETag we read, If-None-Match on create) so a
  writer that lost its lock cannot overwrite; the lock is an object created with If-None-Match: * holding a
  lease that the holder renews each tick and that another run may take over once it has expired.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import socket
import time
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, Any, Protocol, Self

from infra.atomic import write_atomic
from infra.automation.errors import AutomationError, LockHeldError, StateConflictError

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client


@dataclass(frozen=True)
class Holder:
    owner: str
    pid: int
    host: str
    acquired_at: float
    expires_at: float | None = None

    def describe(self) -> str:
        since = time.strftime("%H:%M:%S", time.localtime(self.acquired_at))
        return f"{self.owner} (pid {self.pid} on {self.host}, since {since})"


class Lock(Protocol):
    holder: Holder

    def refresh(self) -> None:
        """Prove we still hold the lock (renew a lease); raise StateConflictError if we lost it."""

    def release(self) -> None: ...


class StateStore(Protocol):
    """Where automation keeps its documents; one implementation per backend."""

    def load(self, key: str) -> dict[str, Any] | None: ...

    def save(self, key: str, document: dict[str, Any], *, conditional: bool = True) -> None:
        """Write the whole document; `conditional` refuses to overwrite a version we have not read."""

    def delete(self, key: str) -> None: ...

    def lock(self, key: str, owner: str) -> Lock:
        """Take the exclusive lock of `key` or raise LockHeldError naming the holder."""

    def holder(self, key: str) -> Holder | None:
        """Who holds the lock of `key` right now, if anyone."""

    def describe(self, key: str) -> str: ...


def _holder_from(data: bytes) -> Holder | None:
    try:
        raw = json.loads(data)
        return Holder(**raw)
    except (ValueError, TypeError):
        return None


def _new_holder(owner: str, lease: float | None = None) -> Holder:
    now = time.time()
    return Holder(
        owner=owner,
        pid=os.getpid(),
        host=socket.gethostname(),
        acquired_at=now,
        expires_at=now + lease if lease else None,
    )


class _LockBase:
    holder: Holder

    def release(self) -> None:
        raise NotImplementedError

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.release()


class FileLock(_LockBase):
    """An flock-held lock file; released by the kernel if the process dies."""

    def __init__(self, path: Path, owner: str) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)  # O_CLOEXEC by default: children don't inherit it
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            current = _holder_from(os.pread(fd, 4096, 0))
            os.close(fd)
            who = current.describe() if current else "another process"
            raise LockHeldError(f"{path}: held by {who}; one operation per target at a time") from None
        self.holder = _new_holder(owner)
        data = json.dumps(self.holder.__dict__).encode()
        os.ftruncate(fd, 0)
        os.pwrite(fd, data, 0)
        self._fd: int | None = fd
        self.path = path

    def refresh(self) -> None:
        """flock cannot be lost while the fd is open."""

    def release(self) -> None:
        if self._fd is None:
            return
        # Keep the file (unlinking races with a process that opened it); clear who held it.
        os.ftruncate(self._fd, 0)
        fcntl.flock(self._fd, fcntl.LOCK_UN)
        os.close(self._fd)
        self._fd = None


class LocalStateStore:
    """JSON files under a directory (`.streamgate/<stack>` for the local platform)."""

    def __init__(self, root: Path) -> None:
        self.root = root

    def path(self, key: str) -> Path:
        return self.root / f"{key}.json"

    def describe(self, key: str) -> str:
        return str(self.path(key))

    def load(self, key: str) -> dict[str, Any] | None:
        try:
            document: dict[str, Any] = json.loads(self.path(key).read_text())
        except FileNotFoundError:
            return None
        except ValueError as exc:  # cannot happen with atomic writes unless edited by hand
            raise AutomationError(f"{self.path(key)}: not valid JSON ({exc}); fix or delete it") from exc
        return document

    def save(self, key: str, document: dict[str, Any], *, conditional: bool = True) -> None:
        """Atomic: readers see the old or the new document, never a torn one, even after a crash."""
        write_atomic(self.path(key), json.dumps(document, indent=1, sort_keys=True))

    def delete(self, key: str) -> None:
        with contextlib.suppress(FileNotFoundError):
            self.path(key).unlink()

    def lock(self, key: str, owner: str) -> FileLock:
        return FileLock(self.root / f"{key}.lock", owner)

    def holder(self, key: str) -> Holder | None:
        path = self.root / f"{key}.lock"
        try:
            fd = os.open(path, os.O_RDONLY)
        except FileNotFoundError:
            return None
        try:
            try:
                fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
            except BlockingIOError:
                return _holder_from(os.pread(fd, 4096, 0)) or Holder("unknown", 0, "?", 0.0)
            fcntl.flock(fd, fcntl.LOCK_UN)
            return None  # a leftover file from a dead process is not a lock
        finally:
            os.close(fd)


def _precondition_failed(exc: Exception) -> bool:
    code = getattr(exc, "response", {}).get("Error", {}).get("Code", "")
    return code in ("PreconditionFailed", "412", "ConditionalRequestConflict")


class S3Lock(_LockBase):
    """A lease object created with If-None-Match: *; renewed and released with If-Match on its ETag."""

    def __init__(self, store: S3StateStore, key: str, owner: str) -> None:
        self.store, self.key = store, store.object_key(key) + ".lock"
        self.holder = _new_holder(owner, store.lease_seconds)
        self._etag: str | None = None
        for _ in range(2):
            try:
                self._etag = self._put(IfNoneMatch="*")
                return
            except Exception as exc:
                if not _precondition_failed(exc):
                    raise
            current, etag = store.read_lock(self.key)
            if current is not None and (current.expires_at or 0) > time.time():
                raise LockHeldError(
                    f"s3://{store.bucket}/{self.key}: held by {current.describe()} until "
                    f"{time.strftime('%H:%M:%S', time.localtime(current.expires_at or 0))}"
                )
            # The lease expired (its holder died): take it over, but only if nobody else did meanwhile.
            if etag is not None:
                try:
                    store.client.delete_object(Bucket=store.bucket, Key=self.key, IfMatch=etag)
                except Exception as exc:
                    if not _precondition_failed(exc):
                        raise
        raise LockHeldError(f"s3://{store.bucket}/{self.key}: another run took the expired lock first")

    def _put(self, **condition: Any) -> str:
        body = json.dumps(self.holder.__dict__).encode()
        response = self.store.client.put_object(
            Bucket=self.store.bucket, Key=self.key, Body=body, ContentType="application/json", **condition
        )
        return response["ETag"]

    def refresh(self) -> None:
        if self._etag is None:
            raise StateConflictError(f"s3://{self.store.bucket}/{self.key}: lock already released")
        self.holder = Holder(**{**self.holder.__dict__, "expires_at": time.time() + self.store.lease_seconds})
        try:
            self._etag = self._put(IfMatch=self._etag)
        except Exception as exc:
            if _precondition_failed(exc) or "NoSuchKey" in str(exc):
                raise StateConflictError(
                    f"s3://{self.store.bucket}/{self.key}: lost the lock (lease expired and was taken over)"
                ) from exc
            raise

    def release(self) -> None:
        if self._etag is None:
            return
        with contextlib.suppress(Exception):  # lost it already: nothing of ours to delete
            self.store.client.delete_object(Bucket=self.store.bucket, Key=self.key, IfMatch=self._etag)
        self._etag = None


class S3StateStore:
    """Documents as S3 objects `<prefix>/<key>.json` with optimistic concurrency on their ETags."""

    def __init__(self, client: S3Client, bucket: str, prefix: str, lease_seconds: float = 120.0) -> None:
        self.client, self.bucket = client, bucket
        self.prefix = prefix.strip("/")
        self.lease_seconds = lease_seconds
        self._etags: dict[str, str] = {}

    def object_key(self, key: str) -> str:
        return f"{self.prefix}/{key}" if self.prefix else key

    def describe(self, key: str) -> str:
        return f"s3://{self.bucket}/{self.object_key(key)}.json"

    def load(self, key: str) -> dict[str, Any] | None:
        try:
            response = self.client.get_object(Bucket=self.bucket, Key=self.object_key(key) + ".json")
        except self.client.exceptions.NoSuchKey:
            self._etags.pop(key, None)
            return None
        self._etags[key] = response["ETag"]
        document: dict[str, Any] = json.loads(response["Body"].read())
        return document

    def save(self, key: str, document: dict[str, Any], *, conditional: bool = True) -> None:
        body = json.dumps(document, indent=1, sort_keys=True).encode()
        condition: dict[str, Any] = {}
        if conditional:
            etag = self._etags.get(key)
            condition = {"IfMatch": etag} if etag else {"IfNoneMatch": "*"}
        try:
            response = self.client.put_object(
                Bucket=self.bucket,
                Key=self.object_key(key) + ".json",
                Body=body,
                ContentType="application/json",
                **condition,
            )
        except Exception as exc:
            if _precondition_failed(exc):
                raise StateConflictError(
                    f"{self.describe(key)} changed since this run read it (another writer?); re-run to resume"
                ) from exc
            raise
        self._etags[key] = response["ETag"]

    def delete(self, key: str) -> None:
        self.client.delete_object(Bucket=self.bucket, Key=self.object_key(key) + ".json")
        self._etags.pop(key, None)

    def lock(self, key: str, owner: str) -> S3Lock:
        return S3Lock(self, key, owner)

    def read_lock(self, lock_key: str) -> tuple[Holder | None, str | None]:
        try:
            response = self.client.get_object(Bucket=self.bucket, Key=lock_key)
        except self.client.exceptions.NoSuchKey:
            return None, None
        return _holder_from(response["Body"].read()), response["ETag"]

    def holder(self, key: str) -> Holder | None:
        current, _ = self.read_lock(self.object_key(key) + ".lock")
        if current is None or (current.expires_at or 0) <= time.time():
            return None
        return current
