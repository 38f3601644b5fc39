"""Names of every Redis key and channel the cache uses, in one place (all under the namespace)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class RedisKeys:
    namespace: str

    @property
    def value_prefix(self) -> str:
        return f"{self.namespace}:v:"

    @property
    def deps_prefix(self) -> str:
        return f"{self.namespace}:deps:"

    def value(self, key: str) -> str:
        return f"{self.namespace}:v:{key}"

    def lease(self, key: str) -> str:
        return f"{self.namespace}:lease:{key}"

    def deps(self, resource: str) -> str:
        """Set of the keys that depend on `resource`."""
        return f"{self.namespace}:deps:{resource}"

    @property
    def epoch(self) -> str:
        """Hash {id, n}: a random id per Redis lifetime and a counter bumped by every invalidation."""
        return f"{self.namespace}:epoch"

    @property
    def channel(self) -> str:
        return f"{self.namespace}:invalidate"

    @property
    def hot(self) -> str:
        """Sorted set of decayed access counts (the top-K for warming)."""
        return f"{self.namespace}:hot"

    @property
    def hot_base(self) -> str:
        return f"{self.namespace}:hot:base"
