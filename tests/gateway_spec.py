"""The gateway as the prod plan deploys it: its container spec, the environment that spec gives the process
(secret references resolved to test values, the plan's ids mapped to deployed ones), and an admin's way in
(a TOTP factor enrolled in Redis, a step-up token, a content upload)."""

from __future__ import annotations

import json
import time
from collections.abc import Mapping
from typing import Any

import pyotp
import redis.asyncio as aioredis

from infra.plan import Plan
from runtime.security.envelope import Envelope
from runtime.security.mfa import MfaManager
from runtime.security.settings import EncryptionSettings, MfaSettings
from runtime.service.tokens import Scope, TokenSigner

DEPLOYMENT = "kubernetes:apps/v1:Deployment"
ADMIN = "ops-admin"
MFA_HEADER = "X-StreamGate-MFA"
# Test values of the gateway Secret's keys (what `pulumi config set --secret` would hold).
SECRETS = {
    ("gateway", "signing-key"): "test-signing-key-0123456789abcdef",
    ("gateway", "previous-signing-keys"): '["an-older-signing-key-0123456789"]',
    ("gateway", "mfa-pepper"): "test-mfa-pepper-0123456789",
    ("gateway", "redis-auth-token"): "test-redis-auth-token-0123456789",
}


def container(plan: Plan, region: str, color: str = "blue") -> dict[str, Any]:
    (deployment,) = [
        d
        for d in plan.of_type(DEPLOYMENT)
        if d.region == region and d.inputs["metadata"]["name"] == f"gateway-{color}"
    ]
    (spec,) = deployment.inputs["spec"]["template"]["spec"]["containers"]
    return dict(spec)


def environment(spec: Mapping[str, Any], secrets: Mapping[tuple[str, str], str] = SECRETS) -> dict[str, str]:
    """The process environment a container spec gives: values as written, secretKeyRefs resolved."""
    env: dict[str, str] = {}
    for entry in spec.get("env", []):
        if "value" in entry:
            env[entry["name"]] = str(entry["value"])
        else:
            ref = entry["valueFrom"]["secretKeyRef"]
            env[entry["name"]] = secrets[(ref["name"], ref["key"])]
    return env


def encryption(env: Mapping[str, str]) -> EncryptionSettings:
    return EncryptionSettings(
        kms_key_id=env["STREAMGATE_SECURITY__ENCRYPTION__KMS_KEY_ID"],
        region=env["STREAMGATE_SECURITY__ENCRYPTION__REGION"],
    )


async def enroll_admin(
    env: Mapping[str, str], redis_client: aioredis.Redis, kms: Any, subject: str = ADMIN
) -> str:
    """Enroll `subject`'s TOTP factor as an operator does (`python -m runtime.service enroll-mfa`); its
    secret. Replay protection remembers a subject's last step: use a fresh subject per gateway."""
    from pydantic import SecretStr

    settings = MfaSettings(pepper=SecretStr(env["STREAMGATE_SECURITY__MFA__PEPPER"]))
    manager = MfaManager(redis_client, settings, cipher=Envelope(encryption(env), kms=kms))
    enrollment = await manager.begin_totp_enrollment(subject)
    step = int(time.time() // 30) - 1  # confirm with the previous step: the step-up uses the current one
    await manager.confirm_totp_enrollment(subject, pyotp.TOTP(enrollment.secret).at(step * 30))
    return enrollment.secret


def admin_token(env: Mapping[str, str], subject: str = ADMIN, *, previous: bool = False) -> str:
    """An admin token signed with the current key, or (`previous`) the newest of the rotated-out keys."""
    key = (
        json.loads(env["STREAMGATE_AUTH__PREVIOUS_SIGNING_KEYS"])[0]
        if previous
        else env["STREAMGATE_AUTH__SIGNING_KEY"]
    )
    return TokenSigner(key.encode()).issue(subject, Scope.ADMIN, 600)


def current_code(secret: str) -> str:
    return str(pyotp.TOTP(secret).now())
