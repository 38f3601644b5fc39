"""Request authentication: bearer API tokens (see tokens.py) and MFA step-up for admin writes.

Step-up (RFC 9470 style): an admin write needs either a step-up token (issued by POST /v1/auth/step-up
after a TOTP check, carrying an `mfa` time no older than `step_up_ttl_seconds`) or a fresh TOTP code in the
`X-StreamGate-MFA` header, checked by runtime.security's MfaManager (one use per time step: replays fail).
A missing factor answers 401 with `WWW-Authenticate: Bearer error="insufficient_user_authentication"`.
"""

from __future__ import annotations

import time

from starlette.exceptions import HTTPException
from starlette.requests import HTTPConnection
from starlette.types import Scope as AsgiScope

from runtime.observability.probes import AUTH_FAILURE
from runtime.security.errors import (
    InvalidCodeError,
    MfaUnavailableError,
    NotEnrolledError,
    ThrottledError,
)
from runtime.security.mfa import MfaManager
from runtime.service.errors import TokenError
from runtime.service.http import header
from runtime.service.settings import AuthSettings
from runtime.service.tokens import Claims, Scope, TokenSigner

MFA_HEADER = "x-streamgate-mfa"
_CLAIMS = "streamgate.claims"  # scope key caching the verified claims (or None) for one request
_UNAUTHENTICATED = {"WWW-Authenticate": 'Bearer realm="streamgate"'}
# RFC 9470's answer when a stronger factor is needed.
STEP_UP_CHALLENGE = {
    "WWW-Authenticate": 'Bearer realm="streamgate", error="insufficient_user_authentication"'
}
STEP_UP_REQUIRED = f"MFA step-up required: send a TOTP code in {MFA_HEADER} or a step-up token"


class Authenticator:
    def __init__(self, signer: TokenSigner, mfa: MfaManager, settings: AuthSettings) -> None:
        self.signer = signer
        self.mfa = mfa
        self.settings = settings

    def claims(self, scope: AsgiScope) -> Claims | None:
        """Verified claims of the request's bearer token, or None (no token, or an invalid one)."""
        if _CLAIMS in scope:
            cached: Claims | None = scope[_CLAIMS]
            return cached
        claims: Claims | None = None
        value = header(scope["headers"], b"authorization")
        if value is not None and value[:7].lower() == "bearer ":
            try:
                claims = self.signer.verify(value[7:].strip())
            except TokenError:
                claims = None
        scope[_CLAIMS] = claims
        return claims

    def require(self, conn: HTTPConnection, needed: Scope) -> Claims:
        claims = self.claims(conn.scope)
        if claims is None:
            raise refused(conn, 401, "a valid bearer token is required", "invalid_token", _UNAUTHENTICATED)
        if not claims.scope.allows(needed):
            raise refused(
                conn, 403, f"the token's scope does not allow {needed.value} access", "scope", sub=claims.sub
            )
        return claims

    def require_viewer(self, conn: HTTPConnection) -> Claims | None:
        """Viewer access: a token only when `viewer_token_required`; an invalid token is always refused."""
        if "authorization" in conn.headers:
            return self.require(conn, Scope.VIEWER)
        if self.settings.viewer_token_required:
            raise refused(conn, 401, "a valid bearer token is required", "no_token", _UNAUTHENTICATED)
        return None

    async def verify_code(self, conn: HTTPConnection, claims: Claims, code: str) -> None:
        """Check a TOTP code for the token's subject; maps MFA failures to HTTP answers."""
        ip = conn.client.host if conn.client else None
        try:
            await self.mfa.verify_totp(claims.sub, code.strip(), ip=ip)
        except ThrottledError as exc:
            raise HTTPException(
                429,
                "too many failed MFA attempts",
                headers={"Retry-After": str(max(1, round(exc.retry_after)))},
            ) from exc
        except NotEnrolledError as exc:
            raise refused(
                conn, 403, "no TOTP factor is enrolled for this subject", "mfa_not_enrolled", sub=claims.sub
            ) from exc
        except InvalidCodeError as exc:  # includes replays
            raise refused(
                conn, 403, "invalid or already used MFA code", "mfa_invalid", sub=claims.sub
            ) from exc
        except MfaUnavailableError as exc:
            raise HTTPException(503, "MFA verification unavailable") from exc

    async def require_admin_step_up(self, conn: HTTPConnection) -> Claims:
        """Admin scope plus a completed MFA step-up (recent step-up token or a TOTP code header)."""
        claims = self.require(conn, Scope.ADMIN)
        if claims.stepped_up(time.time(), self.settings.step_up_ttl_seconds):
            return claims
        code = conn.headers.get(MFA_HEADER)
        if not code:
            raise refused(conn, 401, STEP_UP_REQUIRED, "step_up_required", STEP_UP_CHALLENGE, sub=claims.sub)
        await self.verify_code(conn, claims, code)
        return claims


def refused(
    conn: HTTPConnection,
    status: int,
    message: str,
    reason: str,
    headers: dict[str, str] | None = None,
    *,
    sub: str | None = None,
) -> HTTPException:
    """The HTTP answer refusing a request; fires the `auth_failure` debug probe while it is armed."""
    if AUTH_FAILURE.armed:
        AUTH_FAILURE.fire(reason=reason, status=status, path=conn.scope.get("path"), sub=sub)
    return HTTPException(status, message, headers=headers)
