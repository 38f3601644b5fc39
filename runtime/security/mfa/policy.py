"""Which second factors a user must present."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from runtime.security.settings import Factor


@dataclass(frozen=True, slots=True)
class MfaPolicy:
    required: frozenset[Factor]

    def missing(self, verified: Iterable[Factor]) -> frozenset[Factor]:
        """Required factors not yet verified; a recovery code stands in for a lost TOTP device."""
        done = set(verified)
        if Factor.RECOVERY in done:
            done.add(Factor.TOTP)
        return frozenset(self.required - done)

    def satisfied_by(self, verified: Iterable[Factor]) -> bool:
        return not self.missing(verified)

    def encode(self) -> str:
        return ",".join(sorted(f.value for f in self.required))

    @classmethod
    def decode(cls, raw: str) -> MfaPolicy:
        return cls(frozenset(Factor(v) for v in raw.split(",") if v))
