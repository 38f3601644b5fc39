"""The gateways of a local platform: their environment (STREAMGATE_* settings), and an admin client that
enrolls the local admin's TOTP factor, steps up with a code, and uploads content (the sample title is
infra/local/sample.py).

The local platform is the token issuer here (it holds the signing key, as an identity provider would),
but admin writes still go through the gateway's real MFA step-up: the TOTP secret is enrolled in Redis
through runtime.security's MfaManager, sealed with the same KMS envelope the gateways use.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any, cast

import pyotp
from pydantic import SecretStr

from infra import gateway_env, http
from infra.atomic import write_atomic
from infra.config import Color, StackConfig
from infra.gateway_env import CatalogTarget, GatewayTarget
from infra.local.aws import AWS_REGION, FAKE_CREDENTIALS, AwsResources, kms_client
from infra.local.errors import LocalPlatformError
from infra.local.layout import LOOPBACK, Layout, Paths
from infra.local.state import Deployment, Secrets
from runtime.service.settings import env_name

ADMIN = "local-admin"
MFA_HEADER = "X-StreamGate-MFA"
TOTP_PERIOD_SECONDS = 30  # the gateway's MfaSettings default, which the local platform keeps
# Every viewer of a local platform comes from loopback: one IP. Its limit is raised so load tests and
# drills measure the system, not the per-IP limit (which production keeps at its default).
LOCAL_IP_LIMIT = {"requests": "5000", "period_seconds": "1", "burst": "10000"}


def gateway_environment(
    cfg: StackConfig,
    layout: Layout,
    resources: AwsResources,
    secrets: Secrets,
    region: str,
    color: Color,
    deployment: Deployment,
    port: int | None = None,
    catalog: CatalogTarget | None = None,
) -> dict[str, str]:
    """The environment of one gateway process, from the same builder as the Kubernetes Deployment's;
    `port`: a color's further process (default: the color's port)."""
    env = gateway_env.gateway_environment(
        cfg,
        GatewayTarget(
            region=region,
            color=color,
            version=deployment.version,
            host=LOOPBACK,
            port=port or layout.region(region).gateway(color),
            trusted_proxies=LOOPBACK,  # nginx, the edge
            # Through nginx's stream proxy: always the current primary, repointed by failover.
            redis_url=layout.redis_url(region),
            # One origin bucket (the primary region's, which cloud stacks replicate); L3 is the region's copy.
            content_bucket=resources.content_buckets[layout.primary.name],
            l3_bucket=resources.content_buckets[region],
            storage_region=AWS_REGION,
            kms_key=resources.kms_key_alias,
            signing_key=secrets.signing_key,
            mfa_pepper=secrets.mfa_pepper,
            purge_url=layout.edge_url,
            aws_endpoint_url=layout.moto_url,
            catalog=catalog,
            profiles_url=layout.profiles_url,  # the profile receiver, Pyroscope's local analog
            tuning={
                env_name("server", "log_level"): "info",
                **{env_name("security", "rate_limit", "ip", k): v for k, v in LOCAL_IP_LIMIT.items()},
            },
        ),
    )
    return {"PYTHONUNBUFFERED": "1", **FAKE_CREDENTIALS, **env, **deployment.settings}


def fresh_step(last_used: int | None) -> int:
    """A TOTP time step after `last_used` that the gateway accepts now (it allows ±1 step), waiting for
    the clock when the next unused step is still too far ahead."""
    period = TOTP_PERIOD_SECONDS
    step = int(time.time() // period)
    if last_used is not None and last_used >= step:
        step = last_used + 1
        while step > int(time.time() // period) + 1:
            time.sleep(max(0.05, (step - 1) * period - time.time() + 0.05))
    return step


class AdminClient:
    """Admin access to a local platform's gateways: tokens, MFA step-up and content uploads."""

    def __init__(
        self, cfg: StackConfig, layout: Layout, paths: Paths, secrets: Secrets, resources: AwsResources
    ) -> None:
        self.cfg = cfg
        self.layout = layout
        self.paths = paths
        self.secrets = secrets
        self.resources = resources

    @property
    def _totp_file(self) -> Path:
        return self.paths.secrets / "admin-totp.json"

    def token(self, ttl: float = 3600.0) -> str:
        """An admin-scope token signed with the platform's key (no step-up: reads and fault settings)."""
        from runtime.service.tokens import Scope, TokenSigner

        return TokenSigner(self.secrets.signing_key.encode()).issue(ADMIN, Scope.ADMIN, ttl)

    def enroll(self) -> bool:
        """Enroll the admin's TOTP factor unless Redis already holds it; True if it enrolled now."""
        from botocore.exceptions import BotoCoreError, ClientError
        from redis.exceptions import RedisError

        from runtime.security.errors import SecurityError

        try:
            return asyncio.run(self._enroll())
        except (SecurityError, RedisError, OSError, BotoCoreError, ClientError) as exc:
            raise LocalPlatformError(f"enrolling the local admin's TOTP factor failed: {exc}") from exc

    async def _enroll(self) -> bool:
        import redis.asyncio as aioredis

        from runtime.security.envelope import Envelope
        from runtime.security.mfa import MfaManager
        from runtime.security.settings import EncryptionSettings, Factor, MfaSettings

        encryption = EncryptionSettings(
            kms_key_id=self.resources.kms_key_alias, kms_endpoint_url=self.layout.moto_url, region=AWS_REGION
        )
        settings = MfaSettings(pepper=SecretStr(self.secrets.mfa_pepper))
        kms = kms_client(self.layout.moto_url)
        # The secret is sealed under this key; moto forgets keys when it restarts, so a new key id means
        # the stored secret can no longer be opened and the admin must enroll again.
        key_id = await asyncio.to_thread(
            lambda: kms.describe_key(KeyId=self.resources.kms_key_alias)["KeyMetadata"]["KeyId"]
        )
        client = aioredis.Redis.from_url(self.layout.redis_url(self.layout.primary.name))
        try:
            manager = MfaManager(client, settings, cipher=Envelope(encryption, kms=kms))
            if Factor.TOTP in await manager.enrolled_factors(ADMIN) and self._enrolled_key() == key_id:
                return False
            enrollment = await manager.begin_totp_enrollment(ADMIN)
            # Replay protection remembers the last step accepted for the subject (also across a
            # re-enrollment), under the MFA store's hash tag: confirm with a later one.
            used = await client.get(f"{{{settings.key_prefix}}}:step:{ADMIN}")
            step = await asyncio.to_thread(fresh_step, int(used) if used else None)
            otp = pyotp.TOTP(enrollment.secret, interval=TOTP_PERIOD_SECONDS)
            await manager.confirm_totp_enrollment(ADMIN, otp.at(step * TOTP_PERIOD_SECONDS))
        finally:
            await cast(Any, client).aclose()  # types-redis predates aclose()
        # The step confirmed above is spent; the next step-up must use a later one.
        write_atomic(
            self._totp_file,
            json.dumps({"secret": enrollment.secret, "kms_key_id": key_id, "last_step": step}),
        )
        self._totp_file.chmod(0o600)
        return True

    def _enrolled_key(self) -> str | None:
        try:
            return str(json.loads(self._totp_file.read_text())["kms_key_id"])
        except (OSError, ValueError, KeyError):
            return None

    def next_code(self) -> str:
        """A TOTP code for a step not used before (the gateway refuses replays; ±1 step is accepted)."""
        doc = json.loads(self._totp_file.read_text())
        step = fresh_step(int(doc["last_step"]))
        doc["last_step"] = step
        write_atomic(self._totp_file, json.dumps(doc))
        return str(pyotp.TOTP(doc["secret"], interval=TOTP_PERIOD_SECONDS).at(step * TOTP_PERIOD_SECONDS))

    @property
    def _step_up_file(self) -> Path:
        return self.paths.secrets / "admin-step-up.json"

    def step_up(self, base_url: str | None = None) -> str:
        """A step-up token from POST /v1/auth/step-up (admin token + a fresh TOTP code).

        Kept (mode 0600) until 30 s before it expires, so commands run in a row need one TOTP step, not one
        each (a TOTP step can be used once, and steps are 30 s apart)."""
        with contextlib.suppress(OSError, ValueError, KeyError):
            doc = json.loads(self._step_up_file.read_text())
            if float(doc["expires_at"]) - time.time() > 30:
                return str(doc["token"])
        url = f"{base_url or self.layout.edge_url}/v1/auth/step-up"
        headers = {"Authorization": f"Bearer {self.token()}", MFA_HEADER: self.next_code()}
        status, body = request("POST", url, headers=headers)
        if status != 200:
            raise LocalPlatformError(f"MFA step-up failed: HTTP {status}: {body[:200]!r}")
        answer = json.loads(body)
        token = str(answer["token"])
        write_atomic(
            self._step_up_file,
            json.dumps({"token": token, "expires_at": time.time() + float(answer["expires_in"])}),
        )
        self._step_up_file.chmod(0o600)
        return token

    def put(
        self, path: str, body: bytes, content_type: str, base_url: str | None = None
    ) -> dict[str, object]:
        """PUT an object through the gateway's admin API (via the edge unless `base_url` names a gateway)."""
        base = base_url or self.layout.edge_url
        headers = {"Authorization": f"Bearer {self.step_up(base)}", "Content-Type": content_type}
        status, answer = request("PUT", f"{base}{path}", body, headers)
        if status != 200:
            raise LocalPlatformError(f"PUT {path} failed: HTTP {status}: {answer[:200]!r}")
        result: dict[str, object] = json.loads(answer)
        return result


def request(
    method: str,
    url: str,
    body: bytes | None = None,
    headers: Mapping[str, str] | None = None,
    timeout: float = 10.0,
) -> tuple[int, bytes]:
    answer = http.send(method, url, body=body, headers=headers, timeout=timeout)
    if not answer.status:
        raise LocalPlatformError(answer.error)
    return answer.status, answer.body
