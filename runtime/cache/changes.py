"""Which keys changed recently, so a lookup never caches data older than a change it raced with.

The race: a lookup reads L2 (or runs the loader), an invalidation or a newer write arrives, then the lookup
would store the old data in L1 where it could live until its TTL. Each lookup notes the generation at its
start; before promoting it asks `allows`, which refuses if the key changed since, unless the change was the
very record being promoted (same expiry stamp). Only the last `capacity` changed keys are remembered; a
lookup older than what was forgotten is refused, which is always safe.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Iterable


class ChangeLog:
    def __init__(self, capacity: int = 4096) -> None:
        self.generation = 0
        self._capacity = capacity
        self._changes: OrderedDict[str, tuple[int, float | None]] = OrderedDict()
        self._floor = 0  # lookups that started before this generation cannot be judged

    def changed(self, keys: Iterable[str], stamp: float | None = None) -> None:
        """`keys` changed now; `stamp` is the expiry of the record that replaced them (None: removed)."""
        self.generation += 1
        generation = self.generation
        changes = self._changes
        for key in keys:
            changes[key] = (generation, stamp)
            changes.move_to_end(key)
        while len(changes) > self._capacity:
            _, (forgotten, _) = changes.popitem(last=False)
            self._floor = max(self._floor, forgotten)

    def changed_all(self) -> None:
        """Anything may have changed (e.g. missed invalidation messages)."""
        self.generation += 1
        self._floor = self.generation
        self._changes.clear()

    def allows(self, key: str, since: int, stamp: float) -> bool:
        """May a lookup that started at generation `since` cache the record with expiry `stamp`?"""
        if since == self.generation:
            return True
        if since < self._floor:
            return False
        change = self._changes.get(key)
        return change is None or change[0] <= since or change[1] == stamp
