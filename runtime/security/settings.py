"""Settings of the security components: plain pydantic models with defaults, so the gateway can nest them
in its pydantic-settings model (`SECURITY__RATE_LIMIT__USER__REQUESTS=...`)."""

from __future__ import annotations

from enum import StrEnum
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, SecretStr, model_validator
from pydantic.config import JsonDict

# Marks a setting whose default only works on a developer's machine: every deployment must set it
# (runtime.service.settings.deploy_required lists them; the deployment builders check them).
DEPLOY_REQUIRED: JsonDict = {"deploy_required": True}


class Limit(BaseModel):
    """`requests` per `period_seconds`, of which up to `burst` (default: `requests`) may come at once."""

    model_config = ConfigDict(frozen=True)

    requests: int = Field(gt=0)
    period_seconds: float = Field(gt=0)
    burst: int | None = Field(default=None, gt=0)

    @property
    def capacity(self) -> int:
        return self.burst if self.burst is not None else self.requests


class RateLimitSettings(BaseModel):
    """Scopes left at None are not checked. Keys live under the hash tag `{key_prefix}` (one cluster slot:
    an all-or-nothing check across scopes that include a global one must touch a single shard)."""

    enabled: bool = True
    key_prefix: str = "sg:rl"
    global_limit: Limit | None = Limit(requests=20_000, period_seconds=1)
    service: Limit | None = Limit(requests=5_000, period_seconds=1)
    service_overrides: dict[str, Limit] = Field(default_factory=dict)
    user: Limit | None = Limit(requests=50, period_seconds=1, burst=100)
    ip: Limit | None = Limit(requests=100, period_seconds=1, burst=200)
    on_redis_error: Literal["open", "closed"] = "open"
    # Upper bound on one Redis round trip; past it the fallback decides.
    redis_timeout_seconds: float = Field(default=0.1, gt=0)
    # After a failure, skip Redis for this long so requests do not each wait for the timeout.
    retry_redis_after_seconds: float = Field(default=1.0, ge=0)
    # Share of each limit one process may admit on its own while Redis is down (1/number of processes).
    local_share: float = Field(default=1.0, gt=0, le=1)
    local_max_keys: int = Field(default=100_000, gt=0)
    batch_max_size: int = Field(default=128, gt=0)
    # The stated bound's slack, in % of a scope's 1-second bound (at least 2 requests): see limiter.py.
    # Leased tokens live about epsilon / rate, so a larger one means fewer lease round trips.
    epsilon_percent: float = Field(default=1.0, gt=0, le=10)


class Factor(StrEnum):
    TOTP = "totp"
    EMAIL = "email"
    SMS = "sms"
    RECOVERY = "recovery"


class MfaSettings(BaseModel):
    issuer: str = "StreamGate"
    key_prefix: str = "sg:mfa"
    # Tenant written into the encryption context of stored TOTP secrets (when a cipher is configured).
    tenant: str = "streamgate"
    totp_digits: Literal[6, 8] = 6
    totp_period_seconds: int = Field(default=30, gt=0)
    totp_valid_window: int = Field(default=1, ge=0, le=3)
    enrollment_ttl_seconds: int = Field(default=600, gt=0)
    # Failures allowed before backoff starts, per user and per client IP.
    user_free_attempts: int = Field(default=5, ge=0)
    ip_free_attempts: int = Field(default=20, ge=0)
    backoff_base_seconds: float = Field(default=1.0, gt=0)
    backoff_max_seconds: float = Field(default=900.0, gt=0)
    # How long a failure is remembered when no further attempt comes.
    failure_window_seconds: float = Field(default=900.0, gt=0)
    recovery_code_count: int = Field(default=10, gt=0, le=50)
    one_time_code_digits: int = Field(default=6, ge=6, le=10)
    one_time_code_ttl_seconds: int = Field(default=300, gt=0)
    one_time_code_resend_seconds: int = Field(default=30, ge=0)
    # HMAC key for stored recovery and one-time code hashes; set it in production (from a secret store).
    pepper: SecretStr = Field(SecretStr(""), json_schema_extra=DEPLOY_REQUIRED)
    default_required_factors: frozenset[Factor] = frozenset({Factor.TOTP})


class EncryptionSettings(BaseModel):
    kms_key_id: str = Field("alias/streamgate-content", json_schema_extra=DEPLOY_REQUIRED)
    kms_endpoint_url: str | None = None
    region: str | None = Field(None, json_schema_extra=DEPLOY_REQUIRED)
    kms_connect_timeout_seconds: float = Field(default=2.0, gt=0)
    kms_read_timeout_seconds: float = Field(default=5.0, gt=0)
    kms_max_attempts: int = Field(default=3, gt=0)
    # Every context must carry these; all of it is authenticated as associated data.
    required_context_keys: tuple[str, ...] = ("tenant", "object_id", "purpose")
    # The part of the context also given to KMS (stored in the header, so it must not be secret). Leaving
    # per-object keys out lets one cached data key serve many objects of a tenant and purpose.
    kms_context_keys: tuple[str, ...] = ("tenant", "purpose")
    # Streaming frame size: what a reader holds before it releases plaintext. 1 MiB as Tink's
    # AES256_GCM_HKDF_1MB: with 64 KiB frames the per-frame call cost 13 % of a 1 MiB stream's time.
    chunk_size_bytes: int = Field(default=1024 * 1024, ge=1024, le=64 * 1024 * 1024)
    cache_max_age_seconds: float = Field(default=300.0, ge=0)
    cache_max_uses: int = Field(default=10_000, ge=1)
    cache_max_entries: int = Field(default=1024, ge=0)

    @model_validator(mode="after")
    def _kms_keys_are_required(self) -> EncryptionSettings:
        missing = set(self.kms_context_keys) - set(self.required_context_keys)
        if missing:
            raise ValueError(f"kms_context_keys {sorted(missing)} must also be in required_context_keys")
        return self
