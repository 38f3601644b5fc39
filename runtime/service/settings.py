"""Gateway settings from `STREAMGATE_*` environment variables; nested sections use `__`
(`STREAMGATE_REDIS__URL`, `STREAMGATE_CACHE__L1_TTL_SECONDS`, `STREAMGATE_SECURITY__RATE_LIMIT__IP__REQUESTS`)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Annotated, Literal

from pydantic import BaseModel, Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from runtime.cache import CacheSettings
from runtime.catalog.settings import CatalogSettings
from runtime.security.cors import AllowOrigins
from runtime.security.settings import (
    DEPLOY_REQUIRED,
    EncryptionSettings,
    MfaSettings,
    RateLimitSettings,
)

ENV_PREFIX = "STREAMGATE_"
ENV_NESTED = "__"


class ServerSettings(BaseModel):
    host: str = Field("127.0.0.1", json_schema_extra=DEPLOY_REQUIRED)
    port: int = Field(8080, ge=1, le=65535, json_schema_extra=DEPLOY_REQUIRED)
    workers: int = Field(1, ge=1, description="uvicorn processes; metrics and analytics are per process")
    log_level: Literal["critical", "error", "warning", "info", "debug"] = "info"
    access_log: bool = False
    forwarded_allow_ips: str = Field(
        "127.0.0.1",
        description="proxies trusted for X-Forwarded-For (addresses or CIDRs, comma-separated)",
        json_schema_extra=DEPLOY_REQUIRED,
    )
    graceful_shutdown_seconds: int = Field(10, ge=0)
    # Bounds on what one connection may hold (runtime/service/server.py); the edge in front has its own.
    max_header_bytes: int = Field(
        48 * 1024,
        ge=1024,
        le=1024 * 1024,
        description="request line + headers; larger: 431, closed (above the edge's 32 KiB plus its own)",
    )
    header_timeout_seconds: float = Field(
        10.0, gt=0, le=300, description="to receive a whole request head; slower: 408, closed"
    )
    body_idle_timeout_seconds: float = Field(
        10.0, gt=0, le=300, description="longest pause between two reads of a request body; then closed"
    )
    keep_alive_seconds: int = Field(5, ge=1, le=300, description="idle keep-alive connections close after")


class RedisSettings(BaseModel):
    url: str = Field(
        "redis://127.0.0.1:6379/0",
        description="redis:// or rediss:// (TLS, as ElastiCache with in-transit encryption)",
        json_schema_extra=DEPLOY_REQUIRED,
    )
    password: SecretStr | None = Field(
        None, description="AUTH token (ElastiCache auth_token); kept out of the URL"
    )
    max_connections: int = Field(64, ge=1, description="one bounded pool per process")
    pool_timeout_seconds: float = Field(1.0, gt=0)
    socket_timeout_seconds: float = Field(0.5, gt=0)


class StorageSettings(BaseModel):
    """The origin bucket holds every object envelope-encrypted; L3 is a second (regional) copy, also
    encrypted, used by the multi-level cache."""

    bucket: str = Field("streamgate-content", json_schema_extra=DEPLOY_REQUIRED)
    prefix: str = "content"
    endpoint_url: str | None = None
    region: str | None = Field(None, json_schema_extra=DEPLOY_REQUIRED)
    create_bucket: bool = Field(False, description="create the buckets at start-up (local platform)")
    max_pool_connections: int = Field(32, ge=1)
    l3_enabled: bool = True
    l3_bucket: str | None = Field(None, description="default: the origin bucket")
    l3_prefix: str = "l3-cache"
    tenant: str = Field("streamgate", description="tenant in every object's encryption context")


class RateLeaseSettings(BaseModel):
    """Local leases for hot rate-limit keys (see runtime/service/leases.py); max_tokens <= 1 disables."""

    window_seconds: float = Field(0.05, gt=0, le=5)
    max_tokens: int = Field(256, ge=0)
    hot_after: int = Field(4, ge=1, description="requests of a key within one window before it leases")


class SecuritySettings(BaseModel):
    rate_limit: RateLimitSettings = RateLimitSettings()
    rate_lease: RateLeaseSettings = RateLeaseSettings()
    mfa: MfaSettings = MfaSettings()
    encryption: EncryptionSettings = EncryptionSettings()


class AuthSettings(BaseModel):
    signing_key: SecretStr = Field(
        SecretStr(""), description="HMAC key of API tokens; required", json_schema_extra=DEPLOY_REQUIRED
    )
    previous_signing_keys: list[SecretStr] = Field(
        default_factory=list, description="still accepted for verification (key rotation)"
    )
    viewer_token_required: bool = Field(False, description="GET content / POST events need a viewer token")
    step_up_ttl_seconds: int = Field(300, gt=0, description="lifetime of a step-up token from MFA")
    max_token_ttl_seconds: int = Field(30 * 86400, gt=0)


class ContentSettings(BaseModel):
    manifest_max_age_seconds: int = Field(2, ge=0)
    segment_max_age_seconds: int = Field(31_536_000, ge=0)
    manifest_ttl_seconds: float = Field(2.0, gt=0, description="freshness of manifests in the cache")
    segment_ttl_seconds: float = Field(3600.0, gt=0, description="freshness of segments in the cache")
    max_upload_bytes: int = Field(16 * 1024 * 1024, gt=0)
    decoded_frames_max_bytes: int = Field(
        64 * 1024 * 1024, ge=0, description="decoded bodies of hot objects kept ready to send (0: none)"
    )
    manifest_content_type: str = "application/vnd.apple.mpegurl"
    segment_content_type: str = "video/mp2t"
    max_rendition_set_bytes: int = Field(
        128 * 1024 * 1024, gt=0, description="a whole rendition set (tar) uploaded in one request"
    )


class CorsSettings(BaseModel):
    """Player origins allowed to read content cross-origin (runtime/security/cors.py); empty: CORS off."""

    # From the environment as a comma-separated list (a JSON list's quotes do not survive every process
    # manager's environment syntax, supervisord's among them).
    allow_origins: Annotated[AllowOrigins, NoDecode] = Field(
        default_factory=list, description="`*`, scheme://host[:port], or scheme://host:* (any port)"
    )
    max_age_seconds: int = Field(600, ge=0, le=86400, description="how long browsers keep a preflight")

    @field_validator("allow_origins", mode="before")
    @classmethod
    def _split(cls, v: object) -> object:
        return [e.strip() for e in v.split(",") if e.strip()] if isinstance(v, str) else v


class CdnSettings(BaseModel):
    """Where invalidated paths are purged: an HTTP cache answering PURGE (the local nginx edge), or a
    CloudFront distribution (CreateInvalidation). Neither set: no purge (the edge keeps stale copies)."""

    purge_url: str | None = Field(None, description="base URL receiving `PURGE <base><path>`")
    cloudfront_distribution_id: str | None = Field(None, description="purge by CloudFront CreateInvalidation")
    purge_timeout_seconds: float = Field(2.0, gt=0)
    purge_concurrency: int = Field(8, ge=1)


class EventSettings(BaseModel):
    queue_max_events: int = Field(50_000, ge=1, description="bounded: beyond it batches shed with 503")
    max_batch_events: int = Field(500, ge=1)
    max_body_bytes: int = Field(1024 * 1024, ge=1)
    max_clock_skew_seconds: float = Field(300.0, ge=0)
    max_event_age_seconds: float = Field(3600.0, gt=0)
    tumbling_window_seconds: float = Field(10.0, gt=0)
    sliding_window_seconds: float = Field(60.0, gt=0)
    sliding_step_seconds: float = Field(5.0, gt=0)
    max_contents: int = Field(200, ge=1, description="contents tracked by name; the rest count as `other`")
    metric_top_contents: int = Field(20, ge=0, description="contents exported as metric labels")
    closed_windows_kept: int = Field(6, ge=1)

    @model_validator(mode="after")
    def _check(self) -> EventSettings:
        if self.sliding_step_seconds > self.sliding_window_seconds:
            raise ValueError("sliding_step_seconds must be <= sliding_window_seconds")
        return self


class HealthSettings(BaseModel):
    """Background probes of the shared backends, for /healthz and `streamgate_backend_up` (never for the
    probe endpoints' answers: see runtime/service/ops_routes.py)."""

    interval_seconds: float = Field(2.0, gt=0, le=60)
    timeout_seconds: float = Field(1.0, gt=0, le=30, description="a later answer counts as down")


class FaultSettings(BaseModel):
    """Drills only: off unless set. Applies to /v1/ routes except /v1/admin/."""

    error_rate: float = Field(0.0, ge=0, le=1)
    latency_seconds: float = Field(0.0, ge=0, le=30)
    latency_rate: float = Field(1.0, ge=0, le=1, description="share of requests that get the latency")
    cpu_seconds: float = Field(
        0.0, ge=0, le=1, description="CPU burnt per request (a planted hot spot for profiling drills)"
    )


class TracingSettings(BaseModel):
    exporter: Literal["otlp", "none"] = "none"
    otlp_endpoint: str = "http://localhost:4318/v1/traces"
    sample_ratio: float = Field(1.0, ge=0, le=1)
    service_name: str = "streamgate-gateway"


class ProfilingSettings(BaseModel):
    """On-demand captures (POST /v1/admin/profile) and the always-on agent (runtime/observability/
    continuous.py), which pushes tagged CPU profiles to a Pyroscope push endpoint when one is named."""

    max_seconds: float = Field(30.0, gt=0)
    interval_seconds: float = Field(0.001, gt=0)
    continuous_url: str | None = Field(
        None, description="Pyroscope server (or the local profile store) the agent pushes to; unset: off"
    )
    continuous_application: str = "streamgate-gateway"
    continuous_sample_hz: int = Field(
        19,
        ge=1,
        le=250,
        description="samples per second; each costs the agent ~250 us of CPU (bench_gateway): ~1 % of a worker",
    )
    continuous_upload_seconds: int = Field(10, ge=1, le=60)


class DebugSettings(BaseModel):
    """Debug probes (runtime/observability/debugging.py) and debug tokens (Server-Timing)."""

    snapshot_retain_seconds: float = Field(900.0, gt=0, le=86400, description="how long snapshots are kept")
    sync_seconds: float = Field(1.0, gt=0, le=60, description="how soon every instance applies an arming")
    token_max_ttl_seconds: int = Field(3600, gt=0, le=86400, description="longest debug token an admin gets")


class GatewaySettings(BaseSettings):
    """Everything the gateway process reads; `GatewaySettings()` loads the environment."""

    model_config = SettingsConfigDict(
        env_prefix=ENV_PREFIX, env_nested_delimiter=ENV_NESTED, extra="ignore", frozen=False
    )

    version: str = Field("dev", json_schema_extra=DEPLOY_REQUIRED)
    color: Literal["blue", "green"] = Field("blue", json_schema_extra=DEPLOY_REQUIRED)
    region: str = Field("local-a", json_schema_extra=DEPLOY_REQUIRED)

    server: ServerSettings = ServerSettings()
    redis: RedisSettings = RedisSettings()
    storage: StorageSettings = StorageSettings()
    cache: CacheSettings = CacheSettings()
    security: SecuritySettings = SecuritySettings()
    auth: AuthSettings = AuthSettings()
    content: ContentSettings = ContentSettings()
    cors: CorsSettings = CorsSettings()
    cdn: CdnSettings = CdnSettings()
    catalog: CatalogSettings = CatalogSettings()
    events: EventSettings = EventSettings()
    faults: FaultSettings = FaultSettings()
    health: HealthSettings = HealthSettings()
    tracing: TracingSettings = TracingSettings()
    profiling: ProfilingSettings = ProfilingSettings()
    debug: DebugSettings = DebugSettings()


def env_name(*path: str) -> str:
    """The environment variable of a setting: `env_name("redis", "url")` → STREAMGATE_REDIS__URL."""
    return ENV_PREFIX + ENV_NESTED.join(part.upper() for part in path)


def deploy_required() -> tuple[str, ...]:
    """Every setting a deployment must set explicitly: its default only works on a developer's machine
    (127.0.0.1 Redis, an empty signing key, the `local-a` region...). Marked in the models with
    `DEPLOY_REQUIRED`, so a setting added with the marker is required everywhere at once."""

    def walk(model: type[BaseModel], path: tuple[str, ...]) -> Iterator[str]:
        for name, info in model.model_fields.items():
            annotation = info.annotation
            if isinstance(annotation, type) and issubclass(annotation, BaseModel):
                yield from walk(annotation, (*path, name))
            elif info.json_schema_extra == DEPLOY_REQUIRED:
                yield env_name(*path, name)

    return tuple(sorted(walk(GatewaySettings, ())))
