"""Backups as data: the manifest, what verify found, and the retention rule (pure).

Layout in a region's backup bucket (every object envelope-encrypted, its context binding backup id + key,
so an object moved to another backup or key fails to decrypt instead of restoring the wrong bytes):

    backups/<backup id>/manifest        the manifest (JSON), encrypted like the data; written last:
                                        a backup without it is incomplete (a crashed create)
    backups/<backup id>/data/<key>      one object per backed-up object (`content/<object key>`,
                                        `redis/dump.rdb`)
"""

from __future__ import annotations

import calendar
import re
import time
import uuid
from dataclasses import asdict, dataclass, field
from typing import Any, Literal

PREFIX = "backups/"
FORMAT = 1
_ID = re.compile(r"^(\d{8}T\d{6}Z)-[0-9a-f]{6}$")


def new_backup_id(now: float | None = None) -> str:
    """Sortable by time: `20261127T031500Z-1a2b3c`."""
    return f"{time.strftime('%Y%m%dT%H%M%SZ', time.gmtime(now))}-{uuid.uuid4().hex[:6]}"


def id_time(backup_id: str) -> float | None:
    match = _ID.match(backup_id)
    return calendar.timegm(time.strptime(match.group(1), "%Y%m%dT%H%M%SZ")) if match else None


def manifest_key(backup_id: str) -> str:
    return f"{PREFIX}{backup_id}/manifest"


def data_key(backup_id: str, key: str) -> str:
    return f"{PREFIX}{backup_id}/data/{key}"


def context(stack: str, backup_id: str, key: str) -> dict[str, str]:
    """The encryption context of one stored object: binds it to its backup and its key."""
    return {"tenant": stack, "object_id": f"{backup_id}/{key}", "purpose": "backup"}


@dataclass(frozen=True)
class Entry:
    key: str  # inside the backup: content/<object key> | redis/dump.rdb
    source: str  # where it came from: s3://bucket/key, redis://host:port
    size: int
    sha256: str  # of the plaintext
    stored_size: int  # of the encrypted object


@dataclass
class Manifest:
    backup_id: str
    stack: str
    region: str
    started_at: float
    finished_at: float
    sources: dict[str, str]  # what was backed up: {"content": "s3://…", "redis": "redis://…"}
    entries: list[Entry] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    format: int = FORMAT

    @property
    def bytes(self) -> int:
        return sum(e.size for e in self.entries)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, doc: dict[str, Any]) -> Manifest:
        return cls(**{**doc, "entries": [Entry(**e) for e in doc.get("entries", [])]})


@dataclass(frozen=True)
class BackupInfo:
    """One backup as `list` shows it."""

    backup_id: str
    region: str
    complete: bool
    started_at: float | None
    finished_at: float | None = None
    objects: int = 0
    bytes: int = 0
    problem: str | None = None  # e.g. the manifest does not decrypt


Kind = Literal["missing", "corrupted", "unexpected", "unloadable"]


@dataclass(frozen=True)
class Problem:
    key: str
    kind: Kind
    detail: str


@dataclass
class VerifyResult:
    backup_id: str
    region: str
    checked: int = 0
    bytes: int = 0
    problems: list[Problem] = field(default_factory=list)
    redis_keys: int | None = None  # keys in the restored snapshot (loaded by a scratch redis-server)

    @property
    def ok(self) -> bool:
        return not self.problems

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "ok": self.ok}


@dataclass(frozen=True)
class PruneDecision:
    delete: list[str]
    keep: list[str]
    reasons: dict[str, str]


def retention(
    backups: list[BackupInfo],
    now: float,
    *,
    retention_days: int,
    keep_last: int,
    incomplete_grace_hours: int,
) -> PruneDecision:
    """Which backups to delete: complete ones older than the retention, except the newest `keep_last`;
    incomplete ones (no manifest) once older than the grace period (a create may still be running)."""
    complete = sorted((b for b in backups if b.complete), key=lambda b: b.finished_at or 0, reverse=True)
    delete: list[str] = []
    reasons: dict[str, str] = {}
    for i, b in enumerate(complete):
        age_days = (now - (b.finished_at or now)) / 86400
        if i < keep_last:
            reasons[b.backup_id] = f"kept: among the newest {keep_last}"
        elif age_days > retention_days:
            delete.append(b.backup_id)
            reasons[b.backup_id] = f"{age_days:.1f} days old > retention {retention_days} days"
        else:
            reasons[b.backup_id] = f"kept: {age_days:.1f} days old"
    for b in backups:
        if b.complete:
            continue
        started = b.started_at if b.started_at is not None else id_time(b.backup_id)
        age_hours = (now - started) / 3600 if started is not None else float("inf")
        if age_hours > incomplete_grace_hours:
            delete.append(b.backup_id)
            reasons[b.backup_id] = f"incomplete (no manifest), {age_hours:.1f} h old"
        else:
            reasons[b.backup_id] = "kept: incomplete but recent (a create may still run)"
    keep = [b.backup_id for b in backups if b.backup_id not in delete]
    return PruneDecision(sorted(delete), sorted(keep), reasons)
