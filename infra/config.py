"""The typed stack model: `stacks/Pulumi.<stack>.yaml` (`streamgate:` namespace), validated once.

Every other module takes a `StackConfig`; none reads raw config. Errors name the file, the key path and
what would be valid, so a user can fix a stack file without reading this code.
"""

from __future__ import annotations

import ipaddress
import itertools
import os
import re
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any, Literal, Self

import yaml
from pydantic import (
    AliasGenerator,
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)
from pydantic.alias_generators import to_camel

from infra.errors import ConfigError

NAMESPACE = "streamgate"
PROJECT_ROOT = Path(__file__).resolve().parents[1]
AWS_REGION = re.compile(r"^[a-z]{2}(-gov)?-[a-z]+-\d$")
LOCAL_REGION = re.compile(r"^local-[a-z]$")
# Keys whose values must be Pulumi secrets (`pulumi config set --secret`), never plain text.
SECRET_KEYS = ("redisAuthToken", "apiTokenSigningKey")


class Environment(StrEnum):
    DEV = "dev"
    STAGING = "staging"
    PROD = "prod"
    LOCAL = "local"


class Model(BaseModel):
    """Stack-file models: camelCase keys as Pulumi config uses, unknown keys rejected, immutable."""

    model_config = ConfigDict(
        alias_generator=AliasGenerator(validation_alias=to_camel),
        populate_by_name=True,
        extra="forbid",
        frozen=True,
    )


Percent = Annotated[int, Field(ge=1, le=100)]
Seconds = Annotated[int, Field(ge=0)]


class ClusterConfig(Model):
    """EKS cluster sizing for one region."""

    kubernetes_version: str = "1.31"
    node_instance_types: list[str] = Field(default_factory=lambda: ["m6i.large"], min_length=1)
    min_nodes: int = Field(2, ge=1)
    max_nodes: int = Field(6, ge=1)
    desired_nodes: int | None = None
    # CIDRs allowed to reach the public API endpoint; empty list = public endpoint off.
    public_access_cidrs: list[str] = Field(default_factory=list)

    @field_validator("public_access_cidrs")
    @classmethod
    def _cidrs(cls, v: list[str]) -> list[str]:
        for cidr in v:
            ipaddress.ip_network(cidr, strict=False)
        return v

    @model_validator(mode="after")
    def _bounds(self) -> Self:
        if self.min_nodes > self.max_nodes:
            raise ValueError(f"minNodes ({self.min_nodes}) must be ≤ maxNodes ({self.max_nodes})")
        desired = self.desired
        if not self.min_nodes <= desired <= self.max_nodes:
            raise ValueError(f"desiredNodes ({desired}) must lie within minNodes..maxNodes")
        return self

    @property
    def desired(self) -> int:
        return self.desired_nodes if self.desired_nodes is not None else self.min_nodes


class RegionConfig(Model):
    name: str
    vpc_cidr: str = "10.0.0.0/16"
    cluster: ClusterConfig = Field(default_factory=ClusterConfig)

    @field_validator("vpc_cidr")
    @classmethod
    def _vpc(cls, v: str) -> str:
        net = ipaddress.ip_network(v, strict=True)
        if net.prefixlen > 20:
            raise ValueError(f"{v} is too small for 3 AZs x (public + private) subnets: use a /20 or larger")
        return v


class RedisConfig(Model):
    node_type: str = "cache.r7g.large"
    replicas: int = Field(1, ge=0, le=5)
    engine_version: str = "7.1"
    snapshot_retention_days: int = Field(7, ge=0, le=35)


class CdnConfig(Model):
    price_class: Literal["PriceClass_100", "PriceClass_200", "PriceClass_All"] = "PriceClass_100"
    segment_ttl_seconds: int = Field(86400, ge=1)
    manifest_ttl_seconds: int = Field(2, ge=0)
    minimum_tls: Literal["TLSv1.2_2019", "TLSv1.2_2021"] = "TLSv1.2_2021"

    @model_validator(mode="after")
    def _ttls(self) -> Self:
        if self.manifest_ttl_seconds > self.segment_ttl_seconds:
            raise ValueError(
                "manifestTtlSeconds must be ≤ segmentTtlSeconds (manifests change, segments don't)"
            )
        return self


class WafConfig(Model):
    # Requests per 5 minutes per client IP (AWS WAF's minimum is 10).
    rate_per_five_minutes: int = Field(2000, ge=10, le=2_000_000_000)


class BackupConfig(Model):
    retention_days: int = Field(35, ge=1)
    cold_storage_after_days: int = Field(30, ge=1)
    interval_hours: int = Field(24, ge=1, le=168)
    object_lock: bool = False

    @model_validator(mode="after")
    def _days(self) -> Self:
        # S3 requires objects to stay ≥ 90 days in Glacier-class storage before expiry, so expiry must
        # fall after the transition; equal days would expire what was just moved.
        if self.retention_days <= self.cold_storage_after_days:
            raise ValueError(
                f"retentionDays ({self.retention_days}) must be greater than coldStorageAfterDays "
                f"({self.cold_storage_after_days})"
            )
        return self


class ScalingPolicy(Model):
    type: Literal["Pods", "Percent"]
    value: int = Field(ge=1)
    period_seconds: int = Field(ge=1, le=1800)


class ScalingBehavior(Model):
    stabilization_window_seconds: int = Field(ge=0, le=3600)
    policies: list[ScalingPolicy] = Field(min_length=1)


VpaResource = Literal["cpu", "memory"]


def _memory_only() -> list[VpaResource]:
    return ["memory"]


class VpaConfig(Model):
    mode: Literal["Off", "Initial", "Recreate", "InPlaceOrRecreate"] = "Initial"
    controlled_resources: list[VpaResource] = Field(default_factory=_memory_only)


class AutoscalingConfig(Model):
    min_replicas: int = Field(2, ge=1)
    max_replicas: int = Field(20, ge=1)
    cpu_target_utilization: Percent | None = 70
    requests_per_second_per_pod: int | None = Field(200, ge=1)
    scale_up: ScalingBehavior = Field(
        default_factory=lambda: ScalingBehavior(
            stabilization_window_seconds=0,
            policies=[
                ScalingPolicy(type="Percent", value=100, period_seconds=15),
                ScalingPolicy(type="Pods", value=4, period_seconds=15),
            ],
        )
    )
    scale_down: ScalingBehavior = Field(
        default_factory=lambda: ScalingBehavior(
            stabilization_window_seconds=300,
            policies=[ScalingPolicy(type="Percent", value=20, period_seconds=60)],
        )
    )
    vpa: VpaConfig = Field(default_factory=VpaConfig)

    @model_validator(mode="after")
    def _consistent(self) -> Self:
        if self.min_replicas > self.max_replicas:
            raise ValueError(f"minReplicas ({self.min_replicas}) must be ≤ maxReplicas ({self.max_replicas})")
        if self.cpu_target_utilization is None and self.requests_per_second_per_pod is None:
            raise ValueError(
                "set cpuTargetUtilization and/or requestsPerSecondPerPod: the HPA needs a metric"
            )
        # HPA scaling on CPU while VPA resizes CPU requests is a feedback loop: both react to the same signal.
        if (
            self.cpu_target_utilization is not None
            and "cpu" in self.vpa.controlled_resources
            and self.vpa.mode != "Off"
        ):
            raise ValueError(
                "vpa.controlledResources includes cpu while the HPA scales on cpuTargetUtilization: "
                "they would fight; let VPA control [memory] only, or set vpa.mode: Off"
            )
        return self


class WorkloadConfig(Model):
    image: str = "ghcr.io/streamgate/gateway"
    tag: str = "0.1.0"
    live_color: Literal["blue", "green"] = "blue"
    cpu_request: str = "500m"
    cpu_limit: str = "2"
    memory_request: str = "512Mi"
    memory_limit: str = "1Gi"


class SloConfig(Model):
    availability_target: float = Field(0.999, gt=0.5, lt=1)
    latency_objective_seconds: float = Field(0.3, gt=0)
    latency_target: float = Field(0.99, gt=0.5, lt=1)
    window_days: int = Field(30, ge=1, le=90)


class AlertsConfig(Model):
    team: str = "streaming-platform"
    runbook_base_url: str = "https://github.com/streamgate/streamgate/blob/main/infra/alerts/runbooks"
    replication_lag_rpo_seconds: float = Field(1.0, gt=0)
    cache_hit_ratio_floor: float = Field(0.5, gt=0, lt=1)
    rate_limit_rejection_ratio: float = Field(0.1, gt=0, lt=1)


class RolloutConfig(Model):
    steps: list[Percent] = Field(default_factory=lambda: [5, 10, 25, 50, 100], min_length=1)
    interval_seconds: int = Field(60, ge=1)
    failure_threshold: int = Field(3, ge=1)
    min_success_rate: float = Field(0.99, gt=0, le=1)
    max_p99_latency_seconds: float = Field(0.5, gt=0)
    rollback_window_seconds: int = Field(900, ge=0)

    @field_validator("steps")
    @classmethod
    def _steps(cls, v: list[int]) -> list[int]:
        if any(b <= a for a, b in itertools.pairwise(v)):
            raise ValueError(f"steps must increase strictly, got {v}")
        if v[-1] != 100:
            raise ValueError(f"the last step must be 100 (full promotion), got {v[-1]}")
        return v


class LocalConfig(Model):
    """The local platform (target: local) — ports and paths on one machine."""

    base_port: int = Field(18000, ge=1024, le=65000)


class StackConfig(Model):
    """One stack: everything the Pulumi program, the local platform and automation need to know."""

    stack: str
    environment: Environment
    target: Literal["aws", "local"] = "aws"
    domain: str
    regions: list[RegionConfig] = Field(min_length=1)
    redis: RedisConfig = Field(default_factory=RedisConfig)
    cdn: CdnConfig = Field(default_factory=CdnConfig)
    waf: WafConfig = Field(default_factory=WafConfig)
    backup: BackupConfig = Field(default_factory=BackupConfig)
    autoscaling: AutoscalingConfig = Field(default_factory=AutoscalingConfig)
    workload: WorkloadConfig = Field(default_factory=WorkloadConfig)
    slo: SloConfig = Field(default_factory=SloConfig)
    alerts: AlertsConfig = Field(default_factory=AlertsConfig)
    rollout: RolloutConfig = Field(default_factory=RolloutConfig)
    local: LocalConfig = Field(default_factory=LocalConfig)
    tags: dict[str, str] = Field(default_factory=dict)

    @field_validator("domain")
    @classmethod
    def _domain(cls, v: str) -> str:
        if not re.fullmatch(r"(?=.{1,253}$)([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z]{2,63}", v):
            raise ValueError(f"{v!r} is not a lower-case DNS name such as streamgate.example.com")
        return v

    @model_validator(mode="after")
    def _topology(self) -> Self:
        names = [r.name for r in self.regions]
        pattern = LOCAL_REGION if self.target == "local" else AWS_REGION
        for name in names:
            if not pattern.match(name):
                valid = (
                    "local-a, local-b, ..." if self.target == "local" else "an AWS region such as us-east-1"
                )
                raise ValueError(f"regions: {name!r} is not {valid}")
        if len(set(names)) != len(names):
            raise ValueError(f"regions: names must be distinct, got {names}")
        if self.environment is Environment.PROD and len(names) < 2:
            raise ValueError(
                "regions: prod must span at least 2 regions (primary first) to survive a region outage"
            )
        if self.target == "aws" and self.environment is Environment.LOCAL:
            raise ValueError("target: environment local needs target: local")
        if self.environment is Environment.PROD and not self.backup.object_lock:
            raise ValueError(
                "backup.objectLock: prod backups need objectLock: true (ransomware-proof retention)"
            )
        if len(names) > 1 and len({r.vpc_cidr for r in self.regions}) != len(names):
            raise ValueError("regions: each region needs its own vpcCidr so the VPCs can be peered later")
        return self

    @property
    def primary(self) -> RegionConfig:
        return self.regions[0]

    @property
    def multi_region(self) -> bool:
        return len(self.regions) > 1

    @property
    def resource_tags(self) -> dict[str, str]:
        return {
            "app.kubernetes.io/part-of": "streamgate",
            "streamgate/stack": self.stack,
            "streamgate/environment": self.environment.value,
            **self.tags,
        }


def stacks_dir() -> Path:
    return Path(os.environ.get("STREAMGATE_STACKS_DIR", PROJECT_ROOT / "stacks"))


def stack_file(stack: str) -> Path:
    return stacks_dir() / f"Pulumi.{stack}.yaml"


def available_stacks() -> list[str]:
    return sorted(p.name[len("Pulumi.") : -len(".yaml")] for p in stacks_dir().glob("Pulumi.*.yaml"))


def load_stack(stack: str, path: Path | None = None) -> StackConfig:
    """Read and validate a stack file; raise ConfigError naming the file, key path and fix."""
    path = path or stack_file(stack)
    if not path.is_file():
        known = ", ".join(available_stacks()) or "none"
        raise ConfigError(f"{path}: no such stack file (known stacks: {known})")
    try:
        document = yaml.safe_load(path.read_text()) or {}
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path}: not valid YAML: {exc}") from exc
    return parse_stack(stack, document, path)


def parse_stack(stack: str, document: Any, path: Path) -> StackConfig:
    if not isinstance(document, dict) or not isinstance(document.get("config"), dict):
        raise ConfigError(f"{path}: expected a top-level `config:` mapping, as `pulumi config set` writes")
    raw: dict[str, Any] = {}
    for key, value in document["config"].items():
        namespace, _, name = str(key).partition(":")
        if namespace != NAMESPACE:
            continue  # aws:, pulumi:, kubernetes: belong to their providers
        if name in SECRET_KEYS:
            if not (isinstance(value, dict) and set(value) == {"secure"}):
                raise ConfigError(
                    f"{path}: {key}: must be a secret; set it with "
                    f"`pulumi config set --secret {key} ... -s {stack}` instead of a plain value"
                )
            continue
        raw[name] = value
    raw.setdefault("stack", stack)
    try:
        return StackConfig.model_validate(raw)
    except ValidationError as exc:
        raise ConfigError(format_errors(path, exc)) from None


def format_errors(path: Path, exc: ValidationError) -> str:
    lines = []
    for err in exc.errors():
        loc = list(err["loc"])
        key = f"{NAMESPACE}:{loc[0]}" if loc else NAMESPACE  # whole-stack checks name their key
        for part in loc[1:]:
            key += f"[{part}]" if isinstance(part, int) else f".{part}"
        message = err["msg"].removeprefix("Value error, ")
        if err["type"] == "extra_forbidden":
            message = "unknown key (check its spelling; keys are camelCase)"
        elif err["type"] == "missing":
            message = "required key is missing"
        elif "input" in err and err["type"] not in ("value_error",) and not isinstance(err["input"], dict):
            message += f" (got {err['input']!r})"
        lines.append(f"{path}: {key}: {message}" if loc else f"{path}: {key}:{message}")
    return "\n".join(lines)
