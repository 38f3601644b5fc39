"""The typed stack model: `stacks/Pulumi.<stack>.yaml` (`streamgate:` namespace), validated once.

Every other module takes a `StackConfig`; none reads raw config. Errors name the file, the key path and
what would be valid, so a user can fix a stack file without reading this code.
"""

from __future__ import annotations

import hashlib
import ipaddress
import itertools
import os
import re
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, Literal, Self

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
from runtime.security.cors import AllowOrigins, has_port_wildcard

if TYPE_CHECKING:
    from infra.automation.targets.kinds import TargetKind

NAMESPACE = "streamgate"
PROJECT_ROOT = Path(__file__).resolve().parents[1]
# Keys whose values must be Pulumi secrets (`pulumi config set --secret`), never plain text. Which of them a
# stack needs: `StackConfig.required_secrets`; apiTokenPreviousSigningKeys is a JSON list (key rotation).
SECRET_KEYS = (
    "redisAuthToken",
    "apiTokenSigningKey",
    "apiTokenPreviousSigningKeys",
    "mfaPepper",
    "grafanaAdminPassword",
    "pagerDutyRoutingKey",
    "slackWebhookUrl",
    "notificationsSlackUrl",
    "notificationsWebhookUrl",
)
# How to create each secret (the command a missing-secret error prints).
SECRET_VALUES = {
    "redisAuthToken": '"$(openssl rand -hex 32)"',
    "apiTokenSigningKey": '"$(openssl rand -hex 32)"',
    "apiTokenPreviousSigningKeys": "'[\"<the previous signing key>\"]'",
    "mfaPepper": '"$(openssl rand -hex 32)"',
    "grafanaAdminPassword": '"$(openssl rand -base64 24)"',
    "pagerDutyRoutingKey": '"<the PagerDuty Events API v2 integration key>"',
    "slackWebhookUrl": '"<the Slack incoming webhook URL>"',
    "notificationsSlackUrl": '"<the Slack (or compatible) incoming webhook URL for operations>"',
    "notificationsWebhookUrl": '"<the URL that receives operation events as JSON>"',
}


class Environment(StrEnum):
    DEV = "dev"
    STAGING = "staging"
    PROD = "prod"
    LOCAL = "local"


class Model(BaseModel):
    """Stack-file models: camelCase keys as Pulumi config uses, unknown keys rejected, immutable."""

    model_config = ConfigDict(
        # camelCase both ways: stack files are read with it, `stack_document` writes with it.
        alias_generator=AliasGenerator(validation_alias=to_camel, serialization_alias=to_camel),
        populate_by_name=True,
        extra="forbid",
        frozen=True,
        # No coercion: YAML's `yes`/`on` are booleans and `2.0` is a float; where a count or a number
        # belongs they are mistakes, not 1 and 2.
        strict=True,
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


class CatalogConfig(Model):
    """The content catalog's PostgreSQL (infra/aws/catalog.py): an Aurora PostgreSQL global database on
    prod (writer in the primary region, a secondary cluster in each other region), one regional cluster on
    other stacks; RDS Proxy in front with IAM authentication end to end (no password in a pod or in the
    proxy); the master user's password in Secrets Manager, managed and rotated by RDS."""

    enabled: bool = True
    engine_version: str = Field("15.8", pattern=r"^1[5-9]\.[0-9]{1,2}$")
    instance_class: str = Field("db.r7g.large", pattern=r"^db\.[a-z0-9]+\.[a-z0-9]+$")
    readers: int = Field(1, ge=0, le=15, description="reader instances per region (besides the writer)")
    backup_retention_days: int = Field(14, ge=1, le=35)
    deletion_protection: bool = True
    rotation_days: int = Field(30, ge=1, le=365)
    max_replica_lag_seconds: float = Field(1.0, ge=0, le=60)
    pool_max_size: int = Field(10, ge=1, le=100)
    enforce_on_content: bool = False


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


class CorsConfig(Model):
    """Player origins allowed to read content cross-origin (browsers' CORS): the gateway answers them,
    the local edge and CloudFront (a response headers policy) answer the same for cached content.
    Entries: `*`, scheme://host[:port], or (local stacks only) scheme://host:* for any port."""

    allow_origins: AllowOrigins = Field(default_factory=list)
    max_age_seconds: int = Field(600, ge=0, le=86400)


class WafConfig(Model):
    # Requests per 5 minutes per client IP (AWS WAF's minimum is 10).
    rate_per_five_minutes: int = Field(2000, ge=10, le=2_000_000_000)


class BackupConfig(Model):
    retention_days: int = Field(35, ge=1)
    cold_storage_after_days: int = Field(30, ge=1)
    interval_hours: int = Field(24, ge=1, le=168)
    object_lock: bool = False
    # `streamgate backup prune` never deletes the newest N complete backups, however old they are.
    keep_last: int = Field(3, ge=1)
    # Where `backup create` pushes streamgate_backup_last_success_timestamp_seconds (local: the platform's).
    pushgateway_url: str | None = Field(None, pattern=r"^https?://")
    # A backup without its manifest (a crashed `create`) older than this is debris that prune removes.
    incomplete_grace_hours: int = Field(6, ge=1)

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


# A Kubernetes resource quantity ("500m", "2", "512Mi", "1.5Gi"), as the API server accepts it.
QUANTITY = re.compile(r"^(\d+(\.\d+)?|\.\d+)(m|k|M|G|T|P|E|Ki|Mi|Gi|Ti|Pi|Ei)?$")
_QUANTITY_FACTORS = {
    "": 1.0,
    "m": 1e-3,
    **{p: 1000.0 ** (i + 1) for i, p in enumerate("kMGTPE")},
    **{f"{p}i": 1024.0 ** (i + 1) for i, p in enumerate("KMGTPE")},
}


def quantity_value(quantity: str) -> float:
    """The number a quantity stands for (cores or bytes), to compare requests with limits."""
    match = QUANTITY.match(quantity)
    if not match:
        raise ValueError(f"{quantity!r} is not a Kubernetes quantity such as 500m, 2, 512Mi or 1Gi")
    return float(match.group(1)) * _QUANTITY_FACTORS[match.group(3) or ""]


def _vpa_floor() -> dict[VpaResource, str]:
    return {"cpu": "100m", "memory": "256Mi"}


def _vpa_ceiling() -> dict[VpaResource, str]:
    return {"cpu": "4", "memory": "4Gi"}


class VpaConfig(Model):
    mode: Literal["Off", "Initial", "Recreate", "InPlaceOrRecreate"] = "Initial"
    controlled_resources: list[VpaResource] = Field(default_factory=_memory_only, min_length=1)
    # Bounds on what VPA may set, per resource it controls.
    min_allowed: dict[VpaResource, str] = Field(default_factory=_vpa_floor)
    max_allowed: dict[VpaResource, str] = Field(default_factory=_vpa_ceiling)

    @model_validator(mode="after")
    def _bounds(self) -> Self:
        for bound in (*self.min_allowed.values(), *self.max_allowed.values()):
            quantity_value(bound)
        for resource in self.controlled_resources:
            low, high = self.min_allowed.get(resource), self.max_allowed.get(resource)
            if low is not None and high is not None and quantity_value(low) > quantity_value(high):
                raise ValueError(f"minAllowed.{resource} ({low}) must be ≤ maxAllowed.{resource} ({high})")
        return self


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
                "they would fight; let VPA control memory only (controlledResources: memory), or set vpa.mode: Off"
            )
        return self


Color = Literal["blue", "green"]
COLORS: tuple[Color, Color] = ("blue", "green")


class WorkloadConfig(Model):
    """The gateway Deployments: the live color serves through the stable Service; the other color is the
    candidate that canary and blue-green rollouts shift traffic to."""

    image: str = "ghcr.io/streamgate/gateway"
    tag: str = "0.1.0"
    # The version the non-live color runs (a rollout's candidate); unset = the live color's tag.
    candidate_tag: str | None = None
    live_color: Color = "blue"
    port: int = Field(8080, ge=1024, le=65535)
    cpu_request: str = "500m"
    cpu_limit: str = "2"
    memory_request: str = "512Mi"
    memory_limit: str = "1Gi"
    # Where the gateways send traces (OTLP/HTTP, e.g. an OpenTelemetry Collector); unset = no tracing export.
    otlp_endpoint: str | None = Field(None, pattern=r"^https?://")

    @field_validator("tag", "candidate_tag")
    @classmethod
    def _tag(cls, v: str | None) -> str | None:
        # An OCI tag; it also becomes the app.kubernetes.io/version label, which allows the same characters.
        if v is not None and not re.fullmatch(r"[A-Za-z0-9_][A-Za-z0-9_.-]{0,62}", v):
            raise ValueError(f"{v!r} is not an image tag (letters, digits, _ . -; at most 63 characters)")
        return v

    @model_validator(mode="after")
    def _resources(self) -> Self:
        for resource, request, limit in (
            ("cpu", self.cpu_request, self.cpu_limit),
            ("memory", self.memory_request, self.memory_limit),
        ):
            if quantity_value(request) > quantity_value(limit):
                raise ValueError(f"{resource}Request ({request}) must be ≤ {resource}Limit ({limit})")
        return self

    @property
    def idle_color(self) -> Color:
        return "green" if self.live_color == "blue" else "blue"

    def tag_of(self, color: Color) -> str:
        return self.tag if color == self.live_color else (self.candidate_tag or self.tag)


class SloConfig(Model):
    availability_target: float = Field(0.999, gt=0.5, lt=1)
    latency_objective_seconds: float = Field(0.3, gt=0)
    latency_target: float = Field(0.99, gt=0.5, lt=1)
    window_days: int = Field(30, ge=1, le=90)


class PagerDutyReceiver(Model):
    """Pages (severity=page) go to PagerDuty's Events API v2; the integration (routing) key is the secret
    streamgate:pagerDutyRoutingKey."""

    # PagerDuty's event severity for our pages.
    severity: Literal["critical", "error", "warning", "info"] = "critical"


class SlackReceiver(Model):
    """Tickets (severity=ticket), and a copy of every page, go to a Slack channel through an incoming
    webhook: the secret streamgate:slackWebhookUrl."""

    channel: str = Field(pattern=r"^[#@][A-Za-z0-9._-]{1,80}$")


class ReceiversConfig(Model):
    pagerduty: PagerDutyReceiver | None = None
    slack: SlackReceiver | None = None


class AlertsConfig(Model):
    team: str = "streaming-platform"
    # Where on-call reads the runbooks and dashboards that alerts link to; cloud stacks set both.
    runbook_base_url: str = "https://github.com/streamgate/streamgate/blob/main/infra/alerts/runbooks"
    dashboard_base_url: str | None = None
    receivers: ReceiversConfig = Field(default_factory=ReceiversConfig)
    replication_lag_rpo_seconds: float = Field(1.0, gt=0)
    cache_hit_ratio_floor: float = Field(0.5, gt=0, lt=1)
    rate_limit_rejection_ratio: float = Field(0.1, gt=0, lt=1)
    # Failed Redis operations per second (per region and version) above which L2 is considered unhealthy.
    l2_errors_per_second: float = Field(1.0, gt=0)
    # Failed envelope operations per minute (per region, version, operation and error) that open a ticket:
    # normally none fail, so a few a minute already name a cause (KMS refusing, objects altered).
    envelope_errors_per_minute: float = Field(3.0, gt=0)
    # Age of the oldest unprocessed playback event, and the share of events shed (queue full), that alert.
    event_lag_seconds: float = Field(30.0, gt=0)
    events_shed_ratio: float = Field(0.01, gt=0, lt=1)
    # A backup may take this long beyond backup.intervalHours before its absence alerts.
    backup_grace_minutes: int = Field(30, ge=0)

    @field_validator("team")
    @classmethod
    def _team(cls, v: str) -> str:
        # The team becomes an alert label and part of Alertmanager receiver names.
        if not re.fullmatch(r"[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?", v):
            raise ValueError(f"{v!r} is not a team name (lower-case letters, digits and -)")
        return v

    @field_validator("runbook_base_url", "dashboard_base_url")
    @classmethod
    def _base_url(cls, v: str | None) -> str | None:
        if v is not None and not re.fullmatch(r"https?://\S+[^/]", v):
            raise ValueError(f"{v!r} is not an http(s) URL without a trailing slash")
        return v


class MetricCheckConfig(Model):
    """An extra analysis check: a PromQL template evaluated for the canary; it passes when the value lies
    within [min, max]. Empty result or NaN = no data = failed. Variables (`{{ name }}`): version, color,
    region, stack, window, selector (`version="..",color="..",region=".."`), and stable_version,
    stable_color, stable_selector for the stable side."""

    name: str = Field(pattern=r"^[a-z][a-z0-9-]{0,62}$")
    query: str = Field(min_length=1)
    min: float | None = None
    max: float | None = None
    # Also compare canary with stable using the Mann-Whitney judge: over the histogram named here
    # (e.g. `my_seconds_bucket{ {{ selector }} }`, request distributions) or, unset, over the query's
    # time series (Kayenta style).
    judge: bool = False
    judge_histogram: str | None = None

    @model_validator(mode="after")
    def _range(self) -> Self:
        if self.min is None and self.max is None:
            raise ValueError(f"check {self.name}: set min and/or max (the range a healthy canary stays in)")
        if self.min is not None and self.max is not None and self.min > self.max:
            raise ValueError(f"check {self.name}: min ({self.min}) must be ≤ max ({self.max})")
        return self


class JudgeConfig(Model):
    """The statistical judge (Kayenta-like): Mann-Whitney U of canary vs stable samples per judged check,
    then a score = % of judged metrics that pass; ≥ passScore passes, ≥ marginalScore holds, else fails."""

    alpha: float = Field(0.05, gt=0, lt=0.5)
    # Tolerated probability that a canary sample is worse than a stable one (0.5 = identical).
    max_effect: float = Field(0.6, gt=0.5, lt=1)
    min_samples: int = Field(20, ge=3)
    pass_score: float = Field(95, gt=0, le=100)
    marginal_score: float = Field(75, ge=0, le=100)

    @model_validator(mode="after")
    def _scores(self) -> Self:
        if self.marginal_score > self.pass_score:
            raise ValueError(f"marginalScore ({self.marginal_score}) must be ≤ passScore ({self.pass_score})")
        return self


WebhookType = Literal["pre-rollout", "rollout", "confirm-promotion", "post-rollout", "rollback"]


class WebhookConfig(Model):
    """A gate: an HTTP POST (2xx = pass) or a local command (exit 0 = pass), given the rollout as JSON.
    pre-rollout runs before any traffic moves (smoke tests), rollout on every analysis tick (load, extra
    checks), confirm-promotion before the last step, post-rollout after success, rollback after a rollback."""

    name: str = Field(pattern=r"^[a-z][a-z0-9-]{0,62}$")
    type: WebhookType
    url: str | None = Field(None, pattern=r"^https?://")
    command: list[str] | None = Field(None, min_length=1)
    timeout_seconds: float = Field(10.0, gt=0, le=3600)
    metadata: dict[str, str] = Field(default_factory=dict)

    @model_validator(mode="after")
    def _target(self) -> Self:
        if (self.url is None) == (self.command is None):
            raise ValueError(f"webhook {self.name}: set exactly one of url and command")
        return self


class Route53RouterConfig(Model):
    """Route 53 weighted records: one record name, one weighted record (set identifier = color) per color."""

    zone_id: str | None = None  # default: the hosted zone named after the stack's domain
    record_name: str  # e.g. gateway.us-east-1.streamgate.example.com
    targets: dict[Color, str]  # color -> CNAME target (that color's load balancer)
    ttl: int = Field(30, ge=1)

    @field_validator("targets")
    @classmethod
    def _both(cls, v: dict[str, str]) -> dict[str, str]:
        if set(v) != {"blue", "green"}:
            raise ValueError("targets: give both colors, blue and green")
        return v


# The analysis' own checks (infra/automation/rollout/analysis.py): a stack's extra checks cannot take these names.
BUILTIN_CHECKS = frozenset({"canary-targets", "canary-requests", "success-rate", "latency-p99", "judge"})


class RolloutConfig(Model):
    steps: list[Percent] = Field(default_factory=lambda: [5, 10, 25, 50, 100], min_length=1)
    interval_seconds: int = Field(60, ge=1)
    failure_threshold: int = Field(3, ge=1)
    min_success_rate: float = Field(0.99, gt=0, le=1)
    # API requests the canary must have served in the window for a tick to count: a success rate over a
    # handful of requests passes a failing canary by chance (5 requests at 20% errors: 1 in 3). Fewer is
    # no data. 0 = no minimum.
    min_requests: int = Field(20, ge=0)
    max_p99_latency_seconds: float = Field(0.5, gt=0)
    rollback_window_seconds: int = Field(900, ge=0)
    # PromQL range of every check; unset = max(interval, 30 s). Give it ≥ 2 scrape intervals.
    analysis_window_seconds: int | None = Field(None, ge=1)
    judge_latency: bool = True  # run the judge on canary vs stable request latency
    judge: JudgeConfig = Field(default_factory=JudgeConfig)
    checks: list[MetricCheckConfig] = Field(default_factory=list)
    webhooks: list[WebhookConfig] = Field(default_factory=list)
    confirm_promotion: bool = False  # manual gate: wait for `streamgate rollout promote` before 100%
    # A router the stack's target has (infra/automation/targets): auto is its first (local: nginx; aws:
    # ingress-nginx, or route53).
    router: str = "auto"
    route53: Route53RouterConfig | None = None
    # Overrides only: by default the local platform's, or on a cloud stack each region's in-cluster
    # Prometheus / Pushgateway reached through its cluster's API server (from the stack outputs).
    prometheus_url: str | None = Field(None, pattern=r"^https?://")
    pushgateway_url: str | None = Field(None, pattern=r"^https?://")

    @field_validator("steps")
    @classmethod
    def _steps(cls, v: list[int]) -> list[int]:
        if any(b <= a for a, b in itertools.pairwise(v)):
            raise ValueError(f"steps must increase strictly, got {v}")
        if v[-1] != 100:
            raise ValueError(f"the last step must be 100 (full promotion), got {v[-1]}")
        return v

    @model_validator(mode="after")
    def _names(self) -> Self:
        names = [c.name for c in self.checks]
        if clash := BUILTIN_CHECKS.intersection(names):
            raise ValueError(f"checks: {sorted(clash)} are built-in check names; pick another name")
        if len(set(names)) != len(names):
            raise ValueError(f"checks: names must be distinct, got {names}")
        if self.router == "route53" and self.route53 is None:
            raise ValueError("router route53 needs a route53: {recordName, targets} section")
        return self

    @property
    def window_seconds(self) -> int:
        return self.analysis_window_seconds or max(self.interval_seconds, 30)


class FailoverConfig(Model):
    """Regional failover (`streamgate failover`): readiness thresholds, the fence and what verifies it.

    Cloud resource ids (global datastore, replication groups, health checks, distribution, clusters) come
    from the Pulumi stack outputs (`pulumi stack output --json --show-secrets > outputs.json`, passed as
    `--outputs`), not from here: the program that created them is their single source of truth."""

    # A planned switchover waits for the replica to catch up while writes are fenced; refuse to start when
    # the replica lags more than this (the fence would hold writes too long).
    max_lag_seconds: float = Field(1.0, gt=0)
    max_lag_bytes: int = Field(16 * 1024 * 1024, ge=0)
    # Writes on the old primary are paused (CLIENT PAUSE WRITE) at most this long: a crashed run never
    # leaves them paused for good.
    fence_timeout_seconds: float = Field(10.0, gt=0, le=300)
    catch_up_timeout_seconds: float = Field(5.0, gt=0, le=300)
    # Objectives the report compares measured figures with.
    rto_objective_seconds: float = Field(60.0, gt=0)
    rpo_objective_seconds: float = Field(1.0, ge=0)
    # The target's capacity floor during and after a failover, as a share of the old primary's capacity.
    capacity_ratio: float = Field(1.0, gt=0, le=4)
    # Gateway pods one node fits: raising the pod floor raises the node group's floor to match.
    pods_per_node: int = Field(3, ge=1)
    # A request through the edge that the gateway answers with its region (`/version` returns it as JSON).
    smoke_path: str = Field("/version", pattern=r"^/")
    smoke_timeout_seconds: float = Field(10.0, gt=0)


NotificationEvent = Literal[
    "rollout.started",
    "rollout.step",
    "rollout.rolled-back",
    "rollout.promoted",
    "failover.began",
    "failover.ended",
    "failover.failed",
]


class NotificationChannel(Model):
    # The events this channel hears (default: all of them).
    events: list[NotificationEvent] | None = Field(None, min_length=1)


class SlackNotifications(NotificationChannel):
    """A Slack-compatible incoming webhook (Slack, Mattermost, Rocket.Chat take `{"text": ...}`); its URL
    is the secret streamgate:notificationsSlackUrl."""


class WebhookNotifications(NotificationChannel):
    """A generic webhook that receives every event as one JSON object; its URL is the secret
    streamgate:notificationsWebhookUrl."""


class NotificationsConfig(Model):
    """Who hears of rollouts and failovers (`streamgate rollout`, `failover run`): delivered in order per
    channel, retried with exponential backoff, never holding up the operation."""

    slack: SlackNotifications | None = None
    webhook: WebhookNotifications | None = None
    attempts: int = Field(5, ge=1, le=20)
    backoff_seconds: float = Field(1.0, gt=0, le=60)
    timeout_seconds: float = Field(5.0, gt=0, le=60)
    # How long a command waits, once its operation is over, for the last notifications to be delivered.
    drain_seconds: float = Field(10.0, ge=0, le=300)

    @property
    def secrets(self) -> dict[str, str]:
        """Channel name → the secret key holding its URL, for the channels configured."""
        return {
            name: key
            for name, key in (("slack", "notificationsSlackUrl"), ("webhook", "notificationsWebhookUrl"))
            if getattr(self, name) is not None
        }


class ScaleConfig(Model):
    """Predictive scaling (`streamgate scale`): learn each region's request rate from Prometheus, forecast it
    hourly `horizonHours` ahead, and raise the gateway HPAs' minReplicas ahead of demand (never below
    autoscaling.minReplicas; scale-in stays with the HPA). Cloud stacks run `scale apply` from a CronJob in
    every cluster, every `scheduleMinutes`."""

    enabled: bool = True
    # History read per forecast, and the least a region needs (two weeks: a weekly season seen twice).
    history_days: int = Field(28, ge=7, le=35)
    min_history_days: int = Field(14, ge=10, le=35)
    # Resolution of the history read from Prometheus (seconds, dividing an hour); the models work hourly.
    step_seconds: int = Field(300, ge=60, le=3600)
    horizon_hours: int = Field(48, ge=24, le=168)
    # Rolling-origin backtest that picks the model per region: one origin per day over the last N days.
    backtest_days: int = Field(7, ge=3, le=14)
    # Two-sided coverage of the prediction interval; floors are planned on its upper bound.
    interval_coverage: float = Field(0.95, gt=0.5, lt=1)
    # Above this error over the last 24 h (MAPE of the forecast made a day earlier), predictive scaling
    # stops acting: floors go back to autoscaling.minReplicas and the HPA scales reactively alone.
    max_recent_mape: float = Field(0.25, gt=0, le=1)
    # How long a new gateway pod takes to serve (image pull, start, startup probe): floors rise this much
    # ahead of the demand they are for.
    pod_startup_seconds: int = Field(180, ge=0, le=3600)
    # How often `scale apply` runs (the CronJob's schedule): a floor covers until the next run.
    schedule_minutes: int = Field(15, ge=1, le=60)
    # Gateway CPU time per request, measured by tests/benchmarks/bench_gateway.py
    # (`gateway_profiled_cpu_us_per_request`: a cached 256 KiB HLS segment through the production middleware
    # stack with the Pyroscope agent on, as pods run; best of the quick run's rounds, 2 workers on 2 shared
    # cores, load average 12, December 2026): 146.3 µs (135.5 µs without the agent). A pod's capacity at the
    # HPA's CPU target is workload.cpuRequest x autoscaling.cpuTargetUtilization / this (2,392 req/s at 500m
    # and 70 %).
    cpu_microseconds_per_request: float = Field(146.3, gt=0)
    # The automation image the CronJob runs (infra/automation/Dockerfile), tagged workload.tag.
    image: str = "ghcr.io/streamgate/automation"


class LocalConfig(Model):
    """The local platform (target: local): where its ports start and how fast it observes itself.

    The port layout derived from `base_port` is documented in `infra/local/layout.py`."""

    base_port: int = Field(18000, ge=1024, le=65000)
    # Short intervals keep automation tests (rollout analysis, alert firing) fast on one machine.
    scrape_interval_seconds: int = Field(2, ge=1, le=60)
    evaluation_interval_seconds: int = Field(2, ge=1, le=60)
    # Edge (nginx proxy cache, the CDN's analog) size on disk.
    edge_cache_max_megabytes: int = Field(256, ge=1, le=65536)
    # Content id of the sample title that `local up` seeds and `local smoke` plays, and its length in
    # segments (of 2 s, per rendition: infra/local/sample.py).
    sample_content_id: str = Field("sample", pattern=r"^[a-z0-9][a-z0-9-]{0,62}$")
    sample_segments: int = Field(3, ge=1, le=100)


class StackConfig(Model):
    """One stack: everything the Pulumi program, the local platform and automation need to know."""

    stack: str
    environment: Environment = Field(strict=False)  # a plain string in the file
    target: str = "aws"  # a kind registered in infra/automation/targets
    domain: str
    regions: list[RegionConfig] = Field(min_length=1)
    redis: RedisConfig = Field(default_factory=RedisConfig)
    catalog: CatalogConfig = Field(default_factory=CatalogConfig)
    cdn: CdnConfig = Field(default_factory=CdnConfig)
    waf: WafConfig = Field(default_factory=WafConfig)
    cors: CorsConfig = Field(default_factory=CorsConfig)
    backup: BackupConfig = Field(default_factory=BackupConfig)
    autoscaling: AutoscalingConfig = Field(default_factory=AutoscalingConfig)
    workload: WorkloadConfig = Field(default_factory=WorkloadConfig)
    slo: SloConfig = Field(default_factory=SloConfig)
    alerts: AlertsConfig = Field(default_factory=AlertsConfig)
    rollout: RolloutConfig = Field(default_factory=RolloutConfig)
    failover: FailoverConfig = Field(default_factory=FailoverConfig)
    scale: ScaleConfig = Field(default_factory=ScaleConfig)
    local: LocalConfig = Field(default_factory=LocalConfig)
    notifications: NotificationsConfig = Field(default_factory=NotificationsConfig)
    tags: dict[str, str] = Field(default_factory=dict)

    @field_validator("target")
    @classmethod
    def _target(cls, v: str) -> str:
        from infra.automation.targets.kinds import kind_of

        try:
            kind_of(v)
        except KeyError as exc:
            raise ValueError(exc.args[0]) from None
        return v

    @property
    def kind(self) -> TargetKind:
        """What the stack's target is (its regions, routers, scrape interval, whether it is a cloud)."""
        from infra.automation.targets.kinds import kind_of

        return kind_of(self.target)

    @field_validator("domain")
    @classmethod
    def _domain(cls, v: str) -> str:
        if not re.fullmatch(r"(?=.{1,253}$)([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z]{2,63}", v):
            raise ValueError(f"{v!r} is not a lower-case DNS name such as streamgate.example.com")
        return v

    @model_validator(mode="after")
    def _topology(self) -> Self:
        names = [r.name for r in self.regions]
        kind = self.kind
        for name in names:
            if not kind.regions.match(name):
                raise ValueError(f"regions: {name!r} is not {kind.regions_example}")
        if len(set(names)) != len(names):
            raise ValueError(f"regions: names must be distinct, got {names}")
        if self.environment is Environment.PROD and len(names) < 2:
            raise ValueError(
                "regions: prod must span at least 2 regions (primary first) to survive a region outage"
            )
        if kind.cloud and self.environment is Environment.LOCAL:
            raise ValueError(
                f"target: environment local needs a target that is not a cloud (not {kind.name})"
            )
        if self.environment is Environment.PROD and not self.backup.object_lock:
            raise ValueError(
                "backup.objectLock: prod backups need objectLock: true (ransomware-proof retention)"
            )
        if len(names) > 1 and len({r.vpc_cidr for r in self.regions}) != len(names):
            raise ValueError("regions: each region needs its own vpcCidr so the VPCs can be peered later")
        return self

    @model_validator(mode="after")
    def _alerting(self) -> Self:
        """A cloud stack's alerts must reach people: Slack for tickets, PagerDuty for prod's pages, and
        links on-call can open."""
        if not self.kind.cloud:
            return self
        alerts = self.alerts
        receivers = alerts.receivers
        if receivers.slack is None:
            raise ValueError(
                "alerts.receivers.slack: a cloud stack needs a chat receiver for tickets: "
                'add `slack: {channel: "#your-channel"}` (its webhook is the secret streamgate:slackWebhookUrl)'
            )
        if self.environment is Environment.PROD and receivers.pagerduty is None:
            raise ValueError(
                "alerts.receivers.pagerduty: prod pages must reach on-call: add `pagerduty: {}` (its "
                "integration key is the secret streamgate:pagerDutyRoutingKey)"
            )
        for key in ("runbook_base_url", "dashboard_base_url"):
            if key not in alerts.model_fields_set:
                raise ValueError(
                    f"alerts.{to_camel(key)}: set it for a cloud stack (alerts link to it), e.g. "
                    "https://runbooks.example.com/streamgate"
                )
        return self

    @property
    def required_secrets(self) -> tuple[str, ...]:
        """The secrets `pulumi up` needs for this stack (the local platform generates its own)."""
        if not self.kind.cloud:
            return ()
        needed = ["redisAuthToken", "apiTokenSigningKey", "mfaPepper", "grafanaAdminPassword"]
        if self.alerts.receivers.pagerduty is not None:
            needed.append("pagerDutyRoutingKey")
        if self.alerts.receivers.slack is not None:
            needed.append("slackWebhookUrl")
        needed.extend(self.notifications.secrets.values())
        return tuple(needed)

    @model_validator(mode="after")
    def _cors_target(self) -> Self:
        if self.kind.cloud and any(has_port_wildcard(o) for o in self.cors.allow_origins):
            raise ValueError(
                "cors.allowOrigins: CloudFront takes exact origins or *, not scheme://host:* (local stacks only)"
            )
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


# Each cluster's Prometheus keeps its data on an emptyDir (no persistent volume): weeks of it are bounded so
# they cannot fill the node's disk; a restarted Prometheus starts empty.
CLUSTER_PROMETHEUS_MAX_GB = 10


def cluster_prometheus_retention_days(cfg: StackConfig) -> int:
    """How long each cluster's Prometheus keeps data: 15 days in prod, 3 elsewhere, and with predictive
    scaling on, enough to backtest its weekly model (scale.minHistoryDays + backtestDays + a day)."""
    days = 15 if cfg.environment is Environment.PROD else 3
    if cfg.scale.enabled:
        days = max(days, cfg.scale.min_history_days + cfg.scale.backtest_days + 1)
    return days


def scrape_interval_seconds(cfg: StackConfig) -> int:
    """How often Prometheus scrapes the gateways of this stack (analysis windows and freshness rely on it)."""
    return cfg.kind.scrape_interval_seconds(cfg)


def stack_document(cfg: StackConfig) -> dict[str, Any]:
    """The stack file `cfg` came from, as far as the model holds it: every key that was set, camelCase, and
    no secrets (the model never holds them). Loading it gives back an equal model; the predictive-scaling
    CronJob reads its stack from it (a ConfigMap)."""
    values = cfg.model_dump(mode="json", by_alias=True, exclude_unset=True, exclude={"stack"})
    return {"config": {f"{NAMESPACE}:{key}": value for key, value in values.items()}}


def stacks_dir() -> Path:
    return Path(os.environ.get("STREAMGATE_STACKS_DIR", PROJECT_ROOT / "stacks"))


def stack_file(stack: str) -> Path:
    return stacks_dir() / f"Pulumi.{stack}.yaml"


def available_stacks() -> list[str]:
    return sorted(p.name[len("Pulumi.") : -len(".yaml")] for p in stacks_dir().glob("Pulumi.*.yaml"))


def load_stack(stack: str, path: Path | None = None, *, require_secrets: bool = False) -> StackConfig:
    """Read and validate a stack file; raise ConfigError naming the file, key path and fix.

    `require_secrets`: also require every secret the stack needs (`pulumi up` does; an offline plan
    substitutes placeholders)."""
    path = path or stack_file(stack)
    return parse_stack(stack, _read_document(path), path, require_secrets=require_secrets)


def _read_document(path: Path) -> Any:
    if not path.is_file():
        known = ", ".join(available_stacks()) or "none"
        raise ConfigError(f"{path}: no such stack file (known stacks: {known})")
    from infra.stack_yaml import load_yaml

    return load_yaml(path) or {}


def secret_versions(stack: str, path: Path | None = None) -> dict[str, str]:
    """Per secret key the stack file sets, a digest of its `secure:` ciphertext: it changes whenever
    `pulumi config set --secret` rewrites the value, so an offline plan can show a rotation without ever
    holding the secret (the ciphertext is in the repository already). No stack file: no versions."""
    path = path or stack_file(stack)
    if not path.is_file():
        return {}
    document = _read_document(path)
    config = document.get("config") if isinstance(document, dict) else None
    versions = {}
    for key in SECRET_KEYS:
        value = config.get(f"{NAMESPACE}:{key}") if isinstance(config, dict) else None
        if isinstance(value, dict) and isinstance(value.get("secure"), str):
            versions[key] = hashlib.sha256(value["secure"].encode()).hexdigest()[:12]
    return versions


def parse_stack(stack: str, document: Any, path: Path, *, require_secrets: bool = False) -> StackConfig:
    if not isinstance(document, dict) or not isinstance(document.get("config"), dict):
        raise ConfigError(f"{path}: expected a top-level `config:` mapping, as `pulumi config set` writes")
    from infra.config_checks import check_stack, namespace_issue

    raw: dict[str, Any] = {}
    secrets_set: set[str] = set()
    for key, value in document["config"].items():
        namespace, _, name = str(key).partition(":")
        if namespace != NAMESPACE:
            if (problem := namespace_issue(str(key))) is not None:
                raise ConfigError(f"{path}: {key}: {problem}")
            continue  # aws:, pulumi:, kubernetes: belong to their providers
        if name in SECRET_KEYS:
            if not (isinstance(value, dict) and set(value) == {"secure"}):
                raise ConfigError(
                    f"{path}: {key}: must be a secret; set it with "
                    f"`pulumi config set --secret {key} ... -s {stack}` instead of a plain value"
                )
            secrets_set.add(name)
            continue
        raw[name] = value
    raw.setdefault("stack", stack)
    try:
        cfg = StackConfig.model_validate(raw)
    except ValidationError as exc:
        raise ConfigError(format_errors(path, exc)) from None
    if issues := check_stack(cfg):
        raise ConfigError("\n".join(f"{path}: {NAMESPACE}:{i.key}: {i.message}" for i in issues))
    missing = [name for name in cfg.required_secrets if name not in secrets_set]
    if require_secrets and missing:
        raise ConfigError(
            "\n".join(
                f"{path}: {NAMESPACE}:{name}: required secret is not set; set it with "
                f"`pulumi config set --secret {NAMESPACE}:{name} {SECRET_VALUES[name]} -s {stack}`"
                for name in missing
            )
        )
    return cfg


def format_errors(path: Path, exc: ValidationError) -> str:
    from infra.config_checks import suggest_key

    lines = []
    for err in exc.errors():
        loc = list(err["loc"])
        key = f"{NAMESPACE}:{loc[0]}" if loc else NAMESPACE  # whole-stack checks name their key
        for part in loc[1:]:
            key += f"[{part}]" if isinstance(part, int) else f".{part}"
        message = err["msg"].removeprefix("Value error, ")
        if err["type"] == "extra_forbidden":
            guess = suggest_key(loc)
            message = f"unknown key: did you mean {guess}?" if guess else "unknown key (keys are camelCase)"
        elif err["type"] == "missing":
            message = "required key is missing"
        elif "input" in err and err["type"] not in ("value_error",) and not isinstance(err["input"], dict):
            message += f" (got {err['input']!r})"
            if isinstance(err["input"], bool):
                message += "; YAML reads unquoted yes/no/on/off/true/false as booleans"
        lines.append(f"{path}: {key}: {message}" if loc else f"{path}: {key}:{message}")
    return "\n".join(lines)
