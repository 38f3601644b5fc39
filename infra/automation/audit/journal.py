"""The audit trail in a state store, behind the StateStore protocol (local files, S3): one document per
month (`audit/2026-11`) and an index of the months. Writers take the store's lock of the journal for the
few milliseconds of a read-modify-write, so two commands recording at once both land."""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager

from infra.automation.adapters.state import StateStore
from infra.automation.audit.model import AuditEntry
from infra.automation.errors import AutomationError, LockHeldError

INDEX = "audit/index"
LOCK = "audit/journal"
LOCK_WAIT_SECONDS = 10.0


def month_key(at: float) -> str:
    return f"audit/{time.strftime('%Y-%m', time.gmtime(at))}"


class Journal:
    def __init__(self, store: StateStore) -> None:
        self.store = store

    @contextmanager
    def _locked(self, owner: str) -> Iterator[None]:
        deadline = time.monotonic() + LOCK_WAIT_SECONDS
        while True:
            try:
                lock = self.store.lock(LOCK, owner)
                break
            except LockHeldError:
                if time.monotonic() > deadline:
                    raise AutomationError(
                        f"the audit journal {self.store.describe(LOCK)} stayed locked for "
                        f"{LOCK_WAIT_SECONDS:.0f}s: nothing was changed"
                    ) from None
                time.sleep(0.02)
        try:
            yield
        finally:
            lock.release()

    def record(self, entry: AuditEntry) -> None:
        """Add `entry`, or replace the entry with its id (its end after its start)."""
        key = month_key(entry.started_at)
        with self._locked(f"audit {entry.command}"):
            doc = self.store.load(key) or {"entries": []}
            entries = [e for e in doc["entries"] if e.get("id") != entry.id]
            entries.append(entry.to_dict())
            entries.sort(key=lambda e: (e["started_at"], e["id"]))
            self.store.save(key, {"entries": entries})
            index = self.store.load(INDEX) or {"months": []}
            if key not in index["months"]:
                index["months"] = sorted({*index["months"], key})
                self.store.save(INDEX, index)

    def entries(self, limit: int | None = None, command: str | None = None) -> list[AuditEntry]:
        """Newest first; `command` keeps those whose command starts with it (`rollout`, `backup prune`)."""
        found: list[AuditEntry] = []
        for key in reversed((self.store.load(INDEX) or {"months": []})["months"]):
            doc = self.store.load(key) or {"entries": []}
            for raw in reversed(doc["entries"]):
                entry = AuditEntry.from_dict(raw)
                if command is None or f"{entry.command} ".startswith(f"{command.strip()} "):
                    found.append(entry)
                    if limit is not None and len(found) >= limit:
                        return found
        return found
