"""The gateway's environment for one deployment target, built in one place from the gateway's own settings
model: the Kubernetes Deployment (`infra/k8s/workload.py`) and the local platform (`infra/local/gateway.py`)
both call `gateway_environment`.

A target states its facts (`GatewayTarget`: buckets, key, Redis endpoint and AUTH, signing keys, the CDN to
purge, ...); values are plain strings, Pulumi Outputs, or `SecretRef`s to a Kubernetes Secret. The result is
checked against `runtime.service.settings`: every setting marked deploy-required must be set (its default
only works on a developer's machine), every name must be a setting the gateway reads, and the CDN purge
target must be named. So a setting the gateway requires can never be silently missing in either target.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from types import UnionType
from typing import Any, Union, get_args, get_origin

from pydantic import BaseModel

from infra.config import Color, StackConfig
from infra.errors import ConfigError
from runtime.service.settings import GatewaySettings, deploy_required, env_name


class ContractError(ConfigError):
    """A target's environment lacks a setting the gateway requires there."""


@dataclass(frozen=True)
class SecretRef:
    """A value kept in a Kubernetes Secret (`valueFrom.secretKeyRef`), never written into the pod spec."""

    secret: str
    key: str


# A str, a Pulumi Output[str] or a SecretRef (the builder never looks inside).
EnvValue = Any


@dataclass(frozen=True)
class CatalogTarget:
    """Where one gateway finds the catalog's PostgreSQL: the writer (or a forwarding endpoint), a reader,
    and how it logs in (a password from a Secret, or IAM tokens for RDS Proxy)."""

    primary_url: EnvValue
    replica_url: EnvValue | None = None
    password: EnvValue | None = None
    iam_auth_region: str | None = None
    pooler: str = "direct"  # "transaction" behind RDS Proxy / PgBouncer


@dataclass(frozen=True)
class GatewayTarget:
    """What a deployment target knows about one gateway (one region, one color)."""

    region: str
    color: Color
    version: str
    host: str
    port: int
    trusted_proxies: str  # who may set X-Forwarded-For: the edge / ingress in front of the gateway
    redis_url: EnvValue  # rediss:// where Redis speaks TLS
    content_bucket: EnvValue
    storage_region: str
    kms_key: EnvValue
    signing_key: EnvValue
    mfa_pepper: EnvValue
    redis_password: EnvValue | None = None
    previous_signing_keys: EnvValue | None = None  # JSON list (key rotation)
    l3_bucket: EnvValue | None = None  # default: the content bucket (under its own prefix)
    purge_url: EnvValue | None = None  # an HTTP cache answering PURGE (the local edge)
    cloudfront_distribution_id: EnvValue | None = None
    otlp_endpoint: str | None = None
    profiles_url: str | None = None  # where the continuous profiling agent pushes (Pyroscope, or its analog)
    aws_endpoint_url: str | None = None  # one endpoint for S3 and KMS (the local platform's moto)
    catalog: CatalogTarget | None = None  # the content catalog, where this region serves it
    tuning: Mapping[str, EnvValue] = field(default_factory=dict)  # target-specific settings, by env name


def gateway_environment(cfg: StackConfig, target: GatewayTarget) -> dict[str, EnvValue]:
    """The `STREAMGATE_*` (and AWS SDK) environment of one gateway, checked (see `check_environment`)."""
    t = target
    env: dict[str, EnvValue] = {
        env_name("version"): t.version,
        env_name("color"): t.color,
        env_name("region"): t.region,
        env_name("server", "host"): t.host,
        env_name("server", "port"): str(t.port),
        env_name("server", "forwarded_allow_ips"): t.trusted_proxies,
        env_name("redis", "url"): t.redis_url,
        env_name("storage", "bucket"): t.content_bucket,
        env_name("storage", "region"): t.storage_region,
        env_name("security", "encryption", "kms_key_id"): t.kms_key,
        env_name("security", "encryption", "region"): t.storage_region,
        env_name("security", "mfa", "pepper"): t.mfa_pepper,
        env_name("auth", "signing_key"): t.signing_key,
        # The gateway's Cache-Control for viewers is what the CDN honours: both follow the stack's TTLs.
        env_name("content", "segment_max_age_seconds"): str(cfg.cdn.segment_ttl_seconds),
        env_name("content", "manifest_max_age_seconds"): str(cfg.cdn.manifest_ttl_seconds),
        # Player origins, as the edge and CloudFront answer them too (comma-separated: a JSON list's
        # quotes would break supervisord's environment line).
        env_name("cors", "allow_origins"): ",".join(cfg.cors.allow_origins),
        env_name("cors", "max_age_seconds"): str(cfg.cors.max_age_seconds),
        # The AWS SDK's own region, for any client built without one.
        "AWS_REGION": t.storage_region,
        "AWS_DEFAULT_REGION": t.storage_region,
    }
    optional = {
        env_name("redis", "password"): t.redis_password,
        env_name("auth", "previous_signing_keys"): t.previous_signing_keys,
        env_name("storage", "l3_bucket"): t.l3_bucket,
        env_name("cdn", "purge_url"): t.purge_url,
        env_name("cdn", "cloudfront_distribution_id"): t.cloudfront_distribution_id,
        env_name("storage", "endpoint_url"): t.aws_endpoint_url,
        env_name("security", "encryption", "kms_endpoint_url"): t.aws_endpoint_url,
    }
    env.update({name: value for name, value in optional.items() if value is not None})
    if t.catalog is not None:
        env.update(_catalog_environment(cfg, t.catalog))
    if t.otlp_endpoint:
        env[env_name("tracing", "exporter")] = "otlp"
        env[env_name("tracing", "otlp_endpoint")] = t.otlp_endpoint
    if t.profiles_url:
        env[env_name("profiling", "continuous_url")] = t.profiles_url
    env.update(t.tuning)
    check_environment(env, f"{cfg.stack}/{t.region}/{t.color}")
    return env


def _catalog_environment(cfg: StackConfig, c: CatalogTarget) -> dict[str, EnvValue]:
    env: dict[str, EnvValue] = {
        env_name("catalog", "enabled"): "true",
        env_name("catalog", "primary_url"): c.primary_url,
        env_name("catalog", "pooler"): c.pooler,
        env_name("catalog", "pool_max_size"): str(cfg.catalog.pool_max_size),
        env_name("catalog", "max_replica_lag_seconds"): str(cfg.catalog.max_replica_lag_seconds),
        env_name("catalog", "enforce_on_content"): str(cfg.catalog.enforce_on_content).lower(),
    }
    optional = {
        env_name("catalog", "replica_url"): c.replica_url,
        env_name("catalog", "password"): c.password,
        env_name("catalog", "iam_auth_region"): c.iam_auth_region,
    }
    env.update({name: value for name, value in optional.items() if value is not None})
    if c.password is None and c.iam_auth_region is None:
        raise ContractError(f"catalog of {cfg.stack}: a password (Secret) or IAM auth is required")
    return env


def check_environment(env: Mapping[str, EnvValue], where: str) -> None:
    """Raise ContractError unless `env` sets every deploy-required setting, names only settings the gateway
    reads, and names a CDN to purge."""
    problems = [f"{name} is required" for name in deploy_required() if env.get(name) in (None, "")]
    leaves, open_prefixes = setting_names()
    problems += [
        f"{name} is not a gateway setting"
        for name in env
        if name.startswith("STREAMGATE_") and name not in leaves and not name.startswith(open_prefixes)
    ]
    purge = (env_name("cdn", "purge_url"), env_name("cdn", "cloudfront_distribution_id"))
    if not any(env.get(name) for name in purge):
        problems.append(f"one of {' or '.join(purge)} is required (content updates must reach the edge)")
    if problems:
        raise ContractError(f"gateway environment of {where}: " + "; ".join(problems))


def setting_names() -> tuple[frozenset[str], tuple[str, ...]]:
    """The environment variables the gateway's settings model reads: its leaves, and the prefixes under
    which mappings take any key (e.g. `..._RATE_LIMIT__SERVICE_OVERRIDES__<service>__...`)."""
    leaves: set[str] = set()
    open_prefixes: list[str] = []

    def walk(model: type[BaseModel], path: tuple[str, ...]) -> None:
        for name, info in model.model_fields.items():
            here = (*path, name)
            unwrapped = get_args(info.annotation) if get_origin(info.annotation) in (Union, UnionType) else ()
            nested = [a for a in (info.annotation, *unwrapped) if _is_model(a)]
            if nested:
                walk(nested[0], here)
                if info.annotation is not nested[0]:  # optional section: settable as a whole (JSON) too
                    leaves.add(env_name(*here))
            else:
                leaves.add(env_name(*here))
                if get_origin(info.annotation) is dict:
                    open_prefixes.append(env_name(*here) + "__")

    walk(GatewaySettings, ())
    return frozenset(leaves), tuple(open_prefixes)


def _is_model(annotation: Any) -> bool:
    return isinstance(annotation, type) and issubclass(annotation, BaseModel)
