"""MFA step-up of an operator through the stack's gateway, as admin writes do (runtime/service/auth.py):
the operator's admin token and a TOTP code go to `POST /v1/auth/step-up`, where the gateway checks the code
with runtime.security's MfaManager (replays refused, failures throttled); the step-up token it answers is
verified here with the gateway's own TokenSigner and signing key before anyone is trusted."""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass

from infra import http
from infra.automation.errors import AutomationError
from runtime.service.errors import TokenError
from runtime.service.tokens import Scope, TokenSigner

MFA_HEADER = "X-StreamGate-MFA"


class StepUpRefused(AutomationError):
    """The gateway did not accept the token and code (or its answer does not verify)."""


@dataclass(frozen=True)
class Operator:
    subject: str  # who, as the admin token names them
    stepped_up_at: float
    expires_at: float


class GatewayStepUp:
    def __init__(self, gateway_url: str, signer: TokenSigner, timeout: float = 10.0) -> None:
        self.url = gateway_url.rstrip("/") + "/v1/auth/step-up"
        self.signer, self.timeout = signer, timeout

    async def verify(self, admin_token: str, code: str) -> Operator:
        headers = {"Authorization": f"Bearer {admin_token.strip()}", MFA_HEADER: code.strip()}
        answer = await asyncio.to_thread(http.send, "POST", self.url, headers=headers, timeout=self.timeout)
        if answer.status != 200:
            detail = answer.body[:200].decode(errors="replace") if answer.status else answer.error
            raise StepUpRefused(f"MFA step-up refused by the gateway ({answer.describe()}): {detail}")
        try:
            claims = self.signer.verify(str(answer.json()["token"]))
        except (ValueError, KeyError, TokenError) as exc:
            raise StepUpRefused(f"the gateway's step-up token does not verify: {exc}") from exc
        if claims.scope is not Scope.ADMIN or claims.mfa is None:
            raise StepUpRefused("the gateway's answer is not an admin step-up token")
        return Operator(claims.sub, float(claims.mfa), min(float(claims.exp), time.time() + 3600))
