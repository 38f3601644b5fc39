"""API tokens: `sg1.<payload>.<signature>`, base64url JSON claims signed with HMAC-SHA256.

Claims: `sub` (who), `scope` (viewer | admin), `iat`, `exp` (Unix seconds), `mfa` (Unix time of a
completed MFA step-up, present only in step-up tokens) and `dbg` (a debug token: its requests get
Server-Timing; issued by an admin with step-up). Admin implies viewer. Verification accepts the
current key and any previous keys (rotation) and compares signatures in constant time.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum

from runtime.service.errors import TokenError

_PREFIX = "sg1"


class Scope(StrEnum):
    VIEWER = "viewer"
    ADMIN = "admin"

    def allows(self, needed: Scope) -> bool:
        return self is Scope.ADMIN or needed is Scope.VIEWER


@dataclass(frozen=True, slots=True)
class Claims:
    sub: str
    scope: Scope
    iat: int
    exp: int
    mfa: int | None = None  # when the step-up MFA was completed
    debug: bool = False  # a debug token (X-StreamGate-Debug: per-tier Server-Timing)

    def stepped_up(self, now: float, max_age: float) -> bool:
        return self.mfa is not None and now - self.mfa <= max_age


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


class TokenSigner:
    def __init__(
        self, key: bytes, previous_keys: Sequence[bytes] = (), *, max_ttl: float = 30 * 86400
    ) -> None:
        if len(key) < 16:
            raise TokenError("the token signing key must be at least 16 bytes")
        self._key = key
        self._keys = (key, *previous_keys)
        self.max_ttl = max_ttl

    def _sign(self, key: bytes, payload: str) -> str:
        return _b64(hmac.new(key, f"{_PREFIX}.{payload}".encode(), hashlib.sha256).digest())

    def issue(
        self,
        sub: str,
        scope: Scope,
        ttl: float,
        *,
        mfa_at: float | None = None,
        now: float | None = None,
        debug: bool = False,
    ) -> str:
        if not sub or ttl <= 0 or ttl > self.max_ttl:
            raise TokenError(f"need a subject and 0 < ttl <= {self.max_ttl:.0f}s")
        issued = int(time.time() if now is None else now)
        claims: dict[str, object] = {
            "sub": sub,
            "scope": scope.value,
            "iat": issued,
            "exp": issued + int(ttl),
        }
        if mfa_at is not None:
            claims["mfa"] = int(mfa_at)
        if debug:
            claims["dbg"] = 1
        payload = _b64(json.dumps(claims, separators=(",", ":"), sort_keys=True).encode())
        return f"{_PREFIX}.{payload}.{self._sign(self._key, payload)}"

    def verify(self, token: str, *, now: float | None = None) -> Claims:
        """The claims of a genuine, unexpired token; raises TokenError (without echoing the token)."""
        if len(token) > 2048 or not token.isascii():  # compare_digest refuses non-ASCII str
            raise TokenError("malformed token")
        parts = token.split(".")
        if len(parts) != 3 or parts[0] != _PREFIX:
            raise TokenError("malformed token")
        payload, signature = parts[1], parts[2]
        if not any(hmac.compare_digest(self._sign(k, payload), signature) for k in self._keys):
            raise TokenError("bad token signature")
        try:
            raw = json.loads(_unb64(payload))
            claims = Claims(
                sub=str(raw["sub"]),
                scope=Scope(raw["scope"]),
                iat=int(raw["iat"]),
                exp=int(raw["exp"]),
                mfa=int(raw["mfa"]) if "mfa" in raw else None,
                debug=raw.get("dbg") == 1,
            )
        except (ValueError, KeyError, TypeError) as exc:
            raise TokenError("malformed token claims") from exc
        if (time.time() if now is None else now) >= claims.exp:
            raise TokenError("token expired")
        return claims
