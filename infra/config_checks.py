"""Cross-field and cross-section checks of a stack, run once it parsed: what the Pulumi program, the runtime,
the automation, the policy pack or AWS itself would otherwise reject later (or, worse, accept and misbehave).

Each check returns `Issue`s naming the key path under `streamgate:` and the fix; `parse_stack` reports them
all at once with the file, exit 2, before any resource is built. Also here: "did you mean" suggestions for
misspelt keys and namespaces.
"""

from __future__ import annotations

import difflib
import inspect
import ipaddress
import itertools
import re
import types
import typing
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel
from pydantic.alias_generators import to_camel

from infra.config import (
    NAMESPACE,
    SECRET_KEYS,
    Environment,
    StackConfig,
    quantity_value,
    scrape_interval_seconds,
)


@dataclass(frozen=True)
class Issue:
    key: str  # key path under the namespace, e.g. "regions[1].vpcCidr"
    message: str  # what is wrong and what would be valid


Check = Callable[[StackConfig], Iterable[Issue]]

# AWS limits and facts the program relies on (each names its source in the message it backs).
VPC_LARGEST_PREFIX = 16  # AWS: a VPC's primary CIDR is /16 to /28
EKS_MAX_PUBLIC_CIDRS = 40  # EKS: publicAccessCidrs takes at most 40 blocks
EKS_MAX_NODES_PER_GROUP = 450  # EKS quota: nodes per managed node group
GLOBAL_DATASTORE_MAX_REGIONS = 3  # ElastiCache Global Datastore: a primary and up to two secondaries
OBJECT_LOCK_MAX_DAYS = 36500  # S3 Object Lock: default retention at most 100 years
AWS_MAX_TAGS = 50  # per resource
STANDARD_TAGS = 3  # the ones resource_tags adds (part-of, stack, environment)
CRON_HOURS = (1, 2, 3, 4, 6, 8, 12, 24)  # `cron(0 */N ...)` runs every N hours only when N divides 24
KUBERNETES_VERSION = re.compile(r"^1\.\d{2}$")
INSTANCE_TYPE = re.compile(r"^[a-z][a-z0-9-]*\.[a-z0-9-]+$")
CACHE_NODE_TYPE = re.compile(r"^cache\.[a-z][a-z0-9-]*\.[a-z0-9-]+$")
ENGINE_VERSION = re.compile(r"^\d+\.\d+$")
STACK_NAME = re.compile(r"^[a-z0-9]([a-z0-9-]{0,38}[a-z0-9])?$")
# An OCI image reference without tag: [registry[:port]/]path, lower case.
IMAGE = re.compile(r"^[a-z0-9]+([._-][a-z0-9]+)*(\.[a-z0-9-]+)*(:\d+)?(/[a-z0-9]+([._-][a-z0-9]+)*)+$")


def check_stack(cfg: StackConfig) -> list[Issue]:
    return [issue for check in CHECKS for issue in check(cfg)]


# -- networks ---------------------------------------------------------------------------------------


def _networks(cfg: StackConfig) -> Iterator[Issue]:
    nets: list[tuple[int, ipaddress.IPv4Network]] = []
    for i, region in enumerate(cfg.regions):
        net = ipaddress.ip_network(region.vpc_cidr)
        if not isinstance(net, ipaddress.IPv4Network) or net.prefixlen < VPC_LARGEST_PREFIX:
            yield Issue(
                f"regions[{i}].vpcCidr",
                f"{region.vpc_cidr} is not an IPv4 block of /16 to /20 (AWS VPCs are /16 at most; three AZs "
                "of public + private subnets need /20)",
            )
            continue
        nets.append((i, net))
    taken = [net for _, net in nets]
    for (i, a), (j, b) in itertools.combinations(nets, 2):
        if a.overlaps(b):
            free = _free_block(taken, b.prefixlen)
            hint = f" such as {free}" if free else ""
            yield Issue(
                f"regions[{j}].vpcCidr",
                f"{b} overlaps regions[{i}].vpcCidr {a} ({cfg.regions[i].name}): the regions' VPCs must not "
                f"overlap so they can be peered; give {cfg.regions[j].name} a disjoint block{hint}",
            )


def _free_block(taken: Sequence[ipaddress.IPv4Network], prefix: int) -> str | None:
    """A private block of `prefix` bits that overlaps none of `taken` (for the fix in a message)."""
    for candidate in ipaddress.ip_network("10.0.0.0/8").subnets(new_prefix=prefix):
        if not any(candidate.overlaps(t) for t in taken):
            return str(candidate)
    return None


def _public_access(cfg: StackConfig) -> Iterator[Issue]:
    for i, region in enumerate(cfg.regions):
        key = f"regions[{i}].cluster.publicAccessCidrs"
        cidrs = region.cluster.public_access_cidrs
        if len(cidrs) > EKS_MAX_PUBLIC_CIDRS:
            yield Issue(key, f"{len(cidrs)} blocks; EKS takes at most {EKS_MAX_PUBLIC_CIDRS}")
        if len(set(cidrs)) != len(cidrs):
            yield Issue(key, f"lists a block twice: {sorted(c for c in cidrs if cidrs.count(c) > 1)[0]}")
        for cidr in cidrs:
            try:
                net = ipaddress.ip_network(cidr, strict=True)
            except ValueError:
                yield Issue(
                    key, f"{cidr} has host bits set: EKS wants the network address (e.g. 203.0.113.0/24)"
                )
                continue
            if net.version != 4:
                yield Issue(key, f"{cidr}: EKS public endpoint access takes IPv4 blocks only")
            elif cfg.environment is Environment.PROD and net.prefixlen == 0:
                yield Issue(
                    key,
                    f"{cidr} opens the prod API endpoint to the whole internet (policy "
                    "eks-public-endpoint-restricted): list your admin CIDRs, or [] for a private endpoint",
                )


# -- compute ----------------------------------------------------------------------------------------


def _clusters(cfg: StackConfig) -> Iterator[Issue]:
    for i, region in enumerate(cfg.regions):
        c = region.cluster
        key = f"regions[{i}].cluster"
        if not KUBERNETES_VERSION.match(c.kubernetes_version):
            yield Issue(
                f"{key}.kubernetesVersion",
                f'{c.kubernetes_version!r} is not a Kubernetes minor version such as "1.31" (quote it: '
                "YAML reads 1.30 as the number 1.3)",
            )
        if not cfg.kind.cloud:
            continue
        for t in c.node_instance_types:
            if not INSTANCE_TYPE.match(t):
                yield Issue(
                    f"{key}.nodeInstanceTypes", f"{t!r} is not an EC2 instance type such as m6i.large"
                )
        if len(set(c.node_instance_types)) != len(c.node_instance_types):
            yield Issue(f"{key}.nodeInstanceTypes", "lists an instance type twice")
        if c.max_nodes > EKS_MAX_NODES_PER_GROUP:
            yield Issue(
                f"{key}.maxNodes",
                f"{c.max_nodes} is above EKS's {EKS_MAX_NODES_PER_GROUP} nodes per managed node group",
            )
        if cfg.environment is Environment.PROD and c.min_nodes < 2:
            yield Issue(
                f"{key}.minNodes",
                f"{c.min_nodes}: a prod node group needs at least 2 nodes to survive losing one (policy "
                "eks-node-group-min-size)",
            )


def _capacity(cfg: StackConfig) -> Iterator[Issue]:
    """Pods must fit on the nodes the node group may have (`failover.podsPerNode` gateway pods per node)."""
    if not cfg.kind.cloud:
        return
    scaling, per_node = cfg.autoscaling, cfg.failover.pods_per_node
    for i, region in enumerate(cfg.regions):
        c = region.cluster
        # Both colors run at least minReplicas (the idle one is the canary / blue-green standby).
        if 2 * scaling.min_replicas > c.min_nodes * per_node:
            yield Issue(
                f"regions[{i}].cluster.minNodes",
                f"{c.min_nodes} node(s) x failover.podsPerNode {per_node} cannot hold both colors' "
                f"autoscaling.minReplicas ({scaling.min_replicas} each): raise minNodes to "
                f"{-(-2 * scaling.min_replicas // per_node)}",
            )
        if scaling.max_replicas > c.max_nodes * per_node:
            yield Issue(
                f"regions[{i}].cluster.maxNodes",
                f"{c.max_nodes} node(s) x failover.podsPerNode {per_node} cannot hold "
                f"autoscaling.maxReplicas ({scaling.max_replicas}): raise maxNodes to "
                f"{-(-scaling.max_replicas // per_node)} or lower maxReplicas",
            )


def _autoscaling(cfg: StackConfig) -> Iterator[Issue]:
    scaling, wl = cfg.autoscaling, cfg.workload
    if cfg.environment is Environment.PROD and scaling.min_replicas < 2:
        yield Issue(
            "autoscaling.minReplicas",
            f"{scaling.min_replicas}: prod gateways need at least 2 replicas (policy gateway-autoscaled)",
        )
    vpa = scaling.vpa
    if vpa.mode == "Off":
        return
    requests = {"cpu": wl.cpu_request, "memory": wl.memory_request}
    for resource in vpa.controlled_resources:
        request = quantity_value(requests[resource])
        low, high = vpa.min_allowed.get(resource), vpa.max_allowed.get(resource)
        if low is not None and request < quantity_value(low):
            yield Issue(
                f"autoscaling.vpa.minAllowed.{resource}",
                f"{low} is above workload.{resource}Request ({requests[resource]}): VPA would resize every "
                "pod at once; keep the request within minAllowed..maxAllowed",
            )
        if high is not None and request > quantity_value(high):
            yield Issue(
                f"autoscaling.vpa.maxAllowed.{resource}",
                f"{high} is below workload.{resource}Request ({requests[resource]}): keep the request within "
                "minAllowed..maxAllowed",
            )


def _workload(cfg: StackConfig) -> Iterator[Issue]:
    if not IMAGE.match(cfg.workload.image):
        yield Issue(
            "workload.image",
            f"{cfg.workload.image!r} is not an image repository such as ghcr.io/streamgate/gateway "
            "(lower case, no tag: the tag comes from workload.tag)",
        )


# -- data -------------------------------------------------------------------------------------------


def _redis(cfg: StackConfig) -> Iterator[Issue]:
    redis = cfg.redis
    if not ENGINE_VERSION.match(redis.engine_version):
        yield Issue("redis.engineVersion", f'{redis.engine_version!r} is not major.minor such as "7.1"')
    if not cfg.kind.cloud:
        return
    if not CACHE_NODE_TYPE.match(redis.node_type):
        yield Issue(
            "redis.nodeType", f"{redis.node_type!r} is not an ElastiCache node type such as cache.r7g.large"
        )
    if cfg.multi_region:
        if redis.node_type.startswith("cache.t"):
            yield Issue(
                "redis.nodeType",
                f"{redis.node_type}: a multi-region stack joins its Redis into a Global Datastore, which does "
                "not support burstable (cache.t*) nodes; use e.g. cache.r7g.large or cache.m7g.large",
            )
        if len(cfg.regions) > GLOBAL_DATASTORE_MAX_REGIONS:
            yield Issue(
                "regions",
                f"{len(cfg.regions)} regions: an ElastiCache Global Datastore spans at most "
                f"{GLOBAL_DATASTORE_MAX_REGIONS} (a primary and two secondaries)",
            )
    if cfg.environment is Environment.PROD and redis.replicas < 1:
        yield Issue(
            "redis.replicas",
            "0: prod Redis needs a replica to fail over to (policy elasticache-high-availability)",
        )


def _backup(cfg: StackConfig) -> Iterator[Issue]:
    b = cfg.backup
    if b.interval_hours not in CRON_HOURS:
        yield Issue(
            "backup.intervalHours",
            f"{b.interval_hours}: the backup schedule runs every N hours from midnight, so N must divide 24 "
            f"({', '.join(map(str, CRON_HOURS))})",
        )
    if b.object_lock and b.retention_days > OBJECT_LOCK_MAX_DAYS:
        yield Issue(
            "backup.retentionDays",
            f"{b.retention_days}: S3 Object Lock retains at most {OBJECT_LOCK_MAX_DAYS} days",
        )


# -- observability and automation -------------------------------------------------------------------


def _slo(cfg: StackConfig) -> Iterator[Issue]:
    from infra.alerts.errors import AlertsError
    from infra.alerts.slo import bucket_label

    slo = cfg.slo
    try:
        bucket_label(slo.latency_objective_seconds)
    except AlertsError as exc:
        yield Issue("slo.latencyObjectiveSeconds", str(exc).partition(": ")[2])


def _rollout(cfg: StackConfig) -> Iterator[Issue]:
    r, scrape = cfg.rollout, scrape_interval_seconds(cfg)
    if r.window_seconds < 2 * scrape:
        yield Issue(
            "rollout.analysisWindowSeconds",
            f"{r.window_seconds}s holds fewer than 2 scrapes ({scrape}s apart): rate() needs two samples; "
            f"give it ≥ {2 * scrape}",
        )
    if r.interval_seconds < scrape:
        yield Issue(
            "rollout.intervalSeconds",
            f"{r.interval_seconds}s is shorter than the scrape interval ({scrape}s): ticks would judge the "
            "same samples twice",
        )
    kind = cfg.kind
    router = kind.router(r.router)
    if router not in kind.routers:
        yield Issue(
            "rollout.router",
            f"{router} does not route target {kind.name} stacks (auto or {', '.join(kind.routers)})",
        )
    if r.route53 is not None and router != "route53":
        yield Issue(
            "rollout.route53", "is set but rollout.router is not route53: remove it or set router: route53"
        )
    if r.route53 is not None and r.route53.zone_id is None and not _within(r.route53.record_name, cfg.domain):
        yield Issue(
            "rollout.route53.recordName",
            f"{r.route53.record_name} is outside the stack's zone {cfg.domain}: use a name under it or set zoneId",
        )
    hooks = [h.name for h in r.webhooks]
    if len(set(hooks)) != len(hooks):
        yield Issue("rollout.webhooks", f"names must be distinct, got {hooks}")
    if r.checks:
        yield from _check_templates(cfg)


def _check_templates(cfg: StackConfig) -> Iterator[Issue]:
    """Custom checks render with the known variables and read at least one series (freshness needs it)."""
    from infra.automation.rollout.analysis import CheckSpec, Target, series_selectors, validate
    from infra.automation.rollout.errors import TemplateError

    target = Target(cfg.stack, cfg.primary.name, "v", "green", "v0", "blue", cfg.rollout.window_seconds)
    for i, check in enumerate(cfg.rollout.checks):
        key = f"rollout.checks[{i}]"
        try:
            validate([CheckSpec(check.name, check.query, judge_histogram=check.judge_histogram)], target)
        except TemplateError as exc:
            yield Issue(f"{key}.query", str(exc))
            continue
        if not series_selectors(check.query):
            yield Issue(
                f"{key}.query",
                "reads no series selector (metric{...}): the analysis cannot tell whether its data is fresh; "
                "select the canary's series, e.g. my_metric{ {{ selector }} }",
            )


def _failover(cfg: StackConfig) -> Iterator[Issue]:
    f = cfg.failover
    if f.catch_up_timeout_seconds >= f.fence_timeout_seconds:
        yield Issue(
            "failover.catchUpTimeoutSeconds",
            f"{f.catch_up_timeout_seconds:g}s must be shorter than fenceTimeoutSeconds "
            f"({f.fence_timeout_seconds:g}s): the write fence would lapse while the replica catches up, and "
            "writes to the old primary would be lost",
        )


def _local(cfg: StackConfig) -> Iterator[Issue]:
    if cfg.kind.cloud:  # the local platform's settings
        return
    local = cfg.local
    from infra.local.layout import REGION_BLOCK

    top = local.base_port + REGION_BLOCK * (len(cfg.regions) + 1) - 1  # the last region block's end
    if top > 65535:
        yield Issue(
            "local.basePort", f"{local.base_port}: the last region's ports would reach {top} (> 65535)"
        )
    from infra.local.sample import expected_bytes

    sample = expected_bytes(local.sample_segments)
    if sample > local.edge_cache_max_megabytes * 1024 * 1024:
        yield Issue(
            "local.edgeCacheMaxMegabytes",
            f"{local.edge_cache_max_megabytes} MiB cannot hold the sample (about {sample} bytes): `local "
            "smoke` plays it through the edge cache",
        )


# -- names and tags ---------------------------------------------------------------------------------


def _names(cfg: StackConfig) -> Iterator[Issue]:
    if not STACK_NAME.match(cfg.stack):
        yield Issue(
            "stack",
            f"{cfg.stack!r}: stack names become EKS cluster, KMS alias and Global Datastore names: use lower-case "
            "letters, digits and - (at most 40)",
        )
    longest = max(
        (f"origin.{r.name}.{cfg.domain}" for r in cfg.regions),
        key=len,
    )
    chain = f"failover-{max(1, len(cfg.regions) - 2)}.api.{cfg.domain}"
    for name in (longest, chain):
        if len(name) > 253:
            yield Issue("domain", f"{cfg.domain} is too long: the derived name {name} exceeds 253 characters")


def _tags(cfg: StackConfig) -> Iterator[Issue]:
    standard = {k: v for k, v in cfg.resource_tags.items() if k not in cfg.tags}
    standard_names = ("app.kubernetes.io/part-of", "streamgate/stack", "streamgate/environment")
    for name in standard_names:
        if name in cfg.tags:
            yield Issue(f"tags.{name}", "is set by the stack itself (the policy pack keys on it): remove it")
    if len(cfg.tags) + len(standard) > AWS_MAX_TAGS:
        yield Issue(
            "tags",
            f"{len(cfg.tags)} tags: AWS takes {AWS_MAX_TAGS} per resource, {STANDARD_TAGS} are the stack's",
        )
    for key, value in cfg.tags.items():
        if key.lower().startswith("aws:"):
            yield Issue(f"tags.{key}", "the aws: prefix is reserved for AWS")
        if not 1 <= len(key) <= 128:
            yield Issue(f"tags.{key}", "tag keys are 1 to 128 characters")
        if len(value) > 256:
            yield Issue(f"tags.{key}", "tag values are at most 256 characters")


def _within(name: str, domain: str) -> bool:
    return name == domain or name.endswith(f".{domain}")


# Prometheus refuses range queries of more than 11,000 points per series.
PROMETHEUS_MAX_POINTS = 11_000


def _scale(cfg: StackConfig) -> Iterator[Issue]:
    scale = cfg.scale
    if scale.min_history_days > scale.history_days:
        yield Issue(
            "scale.minHistoryDays",
            f"{scale.min_history_days} is more than scale.historyDays ({scale.history_days}), the history read",
        )
    if 3600 % scale.step_seconds:
        yield Issue("scale.stepSeconds", f"{scale.step_seconds} does not divide an hour (e.g. 60, 300, 900)")
    points = scale.history_days * 86400 // scale.step_seconds
    if points > PROMETHEUS_MAX_POINTS:
        yield Issue(
            "scale.stepSeconds",
            f"{scale.history_days} days at {scale.step_seconds}s is {points} points; Prometheus answers at most "
            f"{PROMETHEUS_MAX_POINTS} per query: raise stepSeconds to "
            f"{-(-scale.history_days * 86400 // PROMETHEUS_MAX_POINTS)} or more, or lower historyDays",
        )
    if 60 % scale.schedule_minutes:
        yield Issue(
            "scale.scheduleMinutes",
            f"{scale.schedule_minutes} does not divide an hour: the CronJob runs `*/N` minutes (1, 5, 10, 15, 30, ...)",
        )
    if not IMAGE.match(scale.image):
        yield Issue(
            "scale.image",
            f"{scale.image!r} is not an image repository such as ghcr.io/streamgate/automation (no tag: "
            "the tag comes from workload.tag)",
        )
    from infra.local.layout import MAX_PROCESSES_PER_COLOR

    if cfg.target == "local" and cfg.autoscaling.max_replicas > MAX_PROCESSES_PER_COLOR:
        yield Issue(
            "autoscaling.maxReplicas",
            f"{cfg.autoscaling.max_replicas}: the local platform runs at most {MAX_PROCESSES_PER_COLOR} "
            f"gateway processes per color (its port layout); use {MAX_PROCESSES_PER_COLOR} or fewer",
        )


CHECKS: tuple[Check, ...] = (
    _names,
    _tags,
    _networks,
    _public_access,
    _clusters,
    _capacity,
    _autoscaling,
    _workload,
    _redis,
    _backup,
    _slo,
    _rollout,
    _failover,
    _local,
    _scale,
)


# -- "did you mean" ---------------------------------------------------------------------------------


def suggest_key(loc: Sequence[str | int]) -> str | None:
    """The valid key closest to the unknown last key of `loc` (a pydantic error location), if any."""
    *parents, unknown = loc
    if not isinstance(unknown, str):
        return None
    model = _model_at(parents)
    if model is None:
        return None
    names = [to_camel(name) for name in model.model_fields]
    if model is StackConfig:
        names += list(SECRET_KEYS)
    return closest(unknown, names)


def closest(word: str, candidates: Sequence[str]) -> str | None:
    by_lower = {c.lower(): c for c in candidates}
    if word.lower() in by_lower:
        return by_lower[word.lower()]
    match = difflib.get_close_matches(word.lower(), list(by_lower), n=1, cutoff=0.6)
    return by_lower[match[0]] if match else None


def _model_at(loc: Sequence[str | int]) -> type[BaseModel] | None:
    current: Any = StackConfig
    for part in loc:
        if isinstance(part, int):
            continue  # list items: the model is found inside list[...] below
        model = _model_in(current)
        if model is None:
            return None
        fields = {to_camel(name): f for name, f in model.model_fields.items()}
        field = fields.get(part) or model.model_fields.get(part)
        if field is None:
            return None
        current = field.annotation
    return _model_in(current)


def _model_in(annotation: Any) -> type[BaseModel] | None:
    """The model an annotation holds: itself, or inside Optional / list / Annotated."""
    if inspect.isclass(annotation) and issubclass(annotation, BaseModel):
        return annotation
    if isinstance(annotation, types.UnionType) or typing.get_origin(annotation) is not None:
        for arg in typing.get_args(annotation):
            if (found := _model_in(arg)) is not None:
                return found
    return None


def namespace_issue(key: str) -> str | None:
    """A stack key whose namespace looks like a misspelt `streamgate` (else it would be silently ignored)."""
    namespace, colon, name = key.partition(":")
    if not colon:
        fields = [to_camel(n) for n in StackConfig.model_fields]
        if closest(key, [*fields, *SECRET_KEYS]):
            return f"no namespace: did you mean {NAMESPACE}:{closest(key, [*fields, *SECRET_KEYS])}?"
        return None
    if namespace != NAMESPACE and difflib.SequenceMatcher(None, namespace.lower(), NAMESPACE).ratio() >= 0.8:
        return f"unknown namespace {namespace!r}: did you mean {NAMESPACE}:{name}?"
    return None
