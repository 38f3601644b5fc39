"""Platform alerts: the gateway per region, its cache, envelope encryption, rate limiter and event
pipeline, Redis replication, backups, autoscaling and canary analysis. Thresholds come from the stack
(`alerts`, `backup`, `rollout`)."""

from __future__ import annotations

from infra.alerts.model import AlertRule, Impact, RecordingRule, RuleGroup, Severity, ValueFormat
from infra.alerts.promql import Scope, by, duration, number, regex

GATEWAY_JOB = "streamgate-gateway"  # the scrape job of the gateway (metrics contract)
# The gateway's HPAs as the Kubernetes layer names them: one per color Deployment (gateway-blue|green).
GATEWAY_NAMESPACE = "streamgate"
GATEWAY_HPAS = "gateway-.*"
# Below this many cache lookups per second a hit ratio says little (a cold or idle instance).
MIN_CACHE_LOOKUPS_PER_SECOND = 1
# Below this many rate-limit checks per second a rejection ratio is a handful of clients, not a spike.
MIN_RATELIMIT_CHECKS_PER_SECOND = 1

CACHE_LOOKUPS = "streamgate:cache_lookups:rate5m"
CACHE_HIT_RATIO = "streamgate:cache_hit_ratio:ratio_rate5m"
# Envelope operations that failed (the alert and the dashboard panel read the same series).
CRYPTO_OPERATIONS = "streamgate_crypto_operations_total"
CRYPTO_FAILED = 'result!="ok"'


def gateway_group(scope: Scope) -> RuleGroup:
    up = scope.unlabelled("up", job=GATEWAY_JOB)
    down = AlertRule(
        name="StreamgateGatewayDown",
        expr=f"sum {by('region')} ({up}) == 0",
        severity=Severity.PAGE,
        impact=Impact.REGION,
        summary="Every gateway in {region} is down",
        description=(
            "Prometheus has scraped no healthy gateway in {region} for 2m: the region serves no viewers "
            "and its SLO and service alerts are muted while this fires. Versions last seen there: {versions}."
        ),
        output_labels=("region",),
        for_seconds=120,
    )
    absent = AlertRule(
        name="StreamgateGatewayAbsent",
        expr=scope.absent_per_region("up", labelled=False, job=GATEWAY_JOB),
        severity=Severity.PAGE,
        impact=Impact.REGION,
        summary="No gateway target in {region}",
        description=(
            "Prometheus has discovered no gateway to scrape in {region} for 5m (no pods, or service "
            "discovery broke): the region may serve no viewers and nothing about it is measured. "
            "Versions last seen there: {versions}."
        ),
        output_labels=("region", "job"),
        for_seconds=300,
    )
    return RuleGroup("streamgate-gateway", (down, absent))


def cache_group(scope: Scope) -> RuleGroup:
    alerts = scope.cfg.alerts
    rv = by("region", "version")

    def rate(metric: str, tiers: str) -> str:
        return f"sum {rv} (rate({scope.labelled(metric, tiers)}[5m]))"

    # Every lookup starts at L1 (hit or miss); a hit in any tier spares the origin.
    l1 = 'tier="l1"'
    lookups = RecordingRule(
        CACHE_LOOKUPS,
        f"{rate('streamgate_cache_hits_total', l1)}\n+\n{rate('streamgate_cache_misses_total', l1)}",
    )
    ratio = RecordingRule(
        CACHE_HIT_RATIO,
        f"{rate('streamgate_cache_hits_total', regex('tier', 'l1|l2|l3'))}\n/\n{CACHE_LOOKUPS}",
    )
    collapse = AlertRule(
        name="StreamgateCacheHitRatioCollapse",
        expr=(
            f"{CACHE_HIT_RATIO} < {number(alerts.cache_hit_ratio_floor)}\n"
            f"and\n{CACHE_LOOKUPS} > {MIN_CACHE_LOOKUPS_PER_SECOND}"
        ),
        severity=Severity.TICKET,
        impact=Impact.SERVICE,
        summary="Cache hit ratio of gateway {version} in {region} collapsed to {value}",
        description=(
            "Only {value} of cache lookups of gateway {version} in {region} were answered by L1, L2 or L3 "
            f"over 15m (floor {alerts.cache_hit_ratio_floor * 100:g}%): the rest go to the origin, "
            "which may not carry that load."
        ),
        output_labels=("region", "version"),
        for_seconds=900,
        value_format=ValueFormat.PERCENT,
    )
    errors = AlertRule(
        name="StreamgateCacheL2Errors",
        expr=(
            f"sum {rv} (rate({scope.labelled('streamgate_cache_l2_errors_total')}[5m]))"
            f" > {number(alerts.l2_errors_per_second)}"
        ),
        severity=Severity.TICKET,
        impact=Impact.SERVICE,
        summary="Redis (L2) operations of gateway {version} in {region} are failing",
        description=(
            "Gateway {version} in {region} has seen {value} failed Redis operations per second for 5m "
            f"(threshold {number(alerts.l2_errors_per_second)}/s): L2 is degraded, lookups fall through "
            "to L3 and the origin, and the circuit breaker may open."
        ),
        output_labels=("region", "version"),
        for_seconds=300,
    )
    return RuleGroup("streamgate-cache", (lookups, ratio, collapse, errors))


def envelope_group(scope: Scope) -> RuleGroup:
    threshold = number(scope.cfg.alerts.envelope_errors_per_minute)
    failed = scope.labelled(CRYPTO_OPERATIONS, CRYPTO_FAILED)
    failures = AlertRule(
        name="StreamgateEnvelopeFailures",
        expr=(
            f"sum {by('region', 'version', 'operation', 'result')} (rate({failed}[5m])) * 60 > {threshold}"
        ),
        severity=Severity.TICKET,
        impact=Impact.SERVICE,
        summary="Envelope {operation} fails with {result} in gateway {version} in {region}",
        description=(
            "Gateway {version} in {region} has failed {value} envelope {operation} operations a minute "
            f"with {{result}} for 5m (threshold {threshold}). KeyManagementError: KMS refuses or cannot "
            "be reached (a disabled or deleted key, a missing grant, throttling), so content needing a new "
            "data key can be neither sealed nor opened. TamperedError or ContextMismatchError: stored "
            "objects do not authenticate (altered, or read under another context)."
        ),
        output_labels=("region", "version", "operation", "result"),
        for_seconds=300,
    )
    return RuleGroup("streamgate-envelope", (failures,))


def ratelimit_group(scope: Scope) -> RuleGroup:
    ratio = scope.cfg.alerts.rate_limit_rejection_ratio
    metric = "streamgate_ratelimit_requests_total"  # per request (leases admit many without a Redis check)
    requests = f"sum {by('region')} (rate({scope.labelled(metric)}[5m]))"
    denied = f"sum {by('region', 'scope')} (rate({scope.labelled(metric, result='denied')}[5m]))"
    spike = AlertRule(
        name="StreamgateRateLimitRejectionSpike",
        expr=(
            f"{denied}\n/ ignoring (scope) group_left\n{requests}\n> {number(ratio)}\n"
            f"and ignoring (scope)\n{requests} > {MIN_RATELIMIT_CHECKS_PER_SECOND}"
        ),
        severity=Severity.TICKET,
        impact=Impact.SERVICE,
        summary="Rate limiter in {region} rejects {value} of requests on the {scope} scope",
        description=(
            "For 10m the gateway in {region} has refused {value} of its requests on the {scope} "
            f"rate-limit scope (threshold {ratio * 100:g}%): an abusive client, a retry storm, or limits too "
            "tight for real traffic. Gateway versions serving there: {versions}."
        ),
        output_labels=("region", "scope"),
        for_seconds=600,
        value_format=ValueFormat.PERCENT,
    )
    return RuleGroup("streamgate-ratelimit", (spike,))


def events_group(scope: Scope) -> RuleGroup:
    alerts = scope.cfg.alerts
    rv = by("region", "version")
    lag = AlertRule(
        name="StreamgateEventsProcessingLag",
        expr=(
            f"max {rv} ({scope.labelled('streamgate_events_processing_lag_seconds')})"
            f" > {number(alerts.event_lag_seconds)}"
        ),
        severity=Severity.TICKET,
        impact=Impact.SERVICE,
        summary="Playback events of gateway {version} in {region} are processed {value} late",
        description=(
            "The oldest unprocessed playback event of gateway {version} in {region} is {value} old "
            f"(threshold {number(alerts.event_lag_seconds)}s, for 5m): real-time viewer counts and load "
            "forecasts lag behind."
        ),
        output_labels=("region", "version"),
        for_seconds=300,
        value_format=ValueFormat.DURATION,
    )
    shed = f"sum {rv} (rate({scope.labelled('streamgate_events_shed_total')}[5m]))"
    received = f"sum {rv} (rate({scope.labelled('streamgate_events_received_total')}[5m]))"
    shedding = AlertRule(
        name="StreamgateEventsShed",
        # `or 0 * shed`: a gateway that sheds everything may never have counted a received event.
        expr=f"{shed}\n/\n({shed} + ({received} or 0 * {shed}))\n> {number(alerts.events_shed_ratio)}",
        severity=Severity.TICKET,
        impact=Impact.SERVICE,
        summary="Gateway {version} in {region} sheds {value} of playback events",
        description=(
            "For 5m gateway {version} in {region} has refused {value} of playback events with 503 because "
            f"its queue was full (threshold {alerts.events_shed_ratio * 100:g}%): analytics lose data."
        ),
        output_labels=("region", "version"),
        for_seconds=300,
        value_format=ValueFormat.PERCENT,
    )
    return RuleGroup("streamgate-events", (lag, shedding))


def redis_group(scope: Scope) -> RuleGroup:
    rpo = scope.cfg.alerts.replication_lag_rpo_seconds
    ri = by("region", "instance")
    link = AlertRule(
        name="StreamgateRedisReplicationLinkDown",
        expr=f"min {ri} ({scope.unlabelled('redis_master_link_up')}) == 0",
        severity=Severity.PAGE,
        impact=Impact.PLATFORM,
        summary="Redis replica {instance} in {region} lost its primary",
        description=(
            "The Redis replica {instance} in {region} has had no replication link to its primary for 1m: "
            "it serves ever staler data, and failing over to {region} now would lose every write since."
        ),
        output_labels=("region", "instance"),
        for_seconds=60,
    )
    lag = AlertRule(
        name="StreamgateRedisReplicationLagHigh",
        expr=f"max {ri} ({scope.unlabelled('redis_connected_slave_lag_seconds')}) > {number(rpo)}",
        severity=Severity.TICKET,
        impact=Impact.PLATFORM,
        summary="Redis replication from {instance} in {region} lags {value}, beyond the RPO",
        description=(
            "The Redis primary {instance} in {region} last heard from a replica {value} ago for 2m, more "
            f"than the stack's RPO of {number(rpo)}s: a failover now would lose more writes than promised."
        ),
        output_labels=("region", "instance"),
        for_seconds=120,
        value_format=ValueFormat.DURATION,
    )
    return RuleGroup("streamgate-redis", (link, lag))


def backup_max_age_seconds(scope: Scope) -> int:
    cfg = scope.cfg
    return cfg.backup.interval_hours * 3600 + cfg.alerts.backup_grace_minutes * 60


def backup_group(scope: Scope) -> RuleGroup:
    cfg = scope.cfg
    metric = "streamgate_backup_last_success_timestamp_seconds"
    max_age = backup_max_age_seconds(scope)
    expected = f"every {cfg.backup.interval_hours}h, with {cfg.alerts.backup_grace_minutes}m grace"
    old = AlertRule(
        name="StreamgateBackupTooOld",
        expr=f"time() - max {by('region')} ({scope.labelled(metric, stack=cfg.stack)}) > {max_age}",
        severity=Severity.TICKET,
        impact=Impact.PLATFORM,
        summary="Newest backup of stack " + cfg.stack + " in {region} is {value} old",
        description=(
            "The newest successful backup of stack "
            + cfg.stack
            + " in {region} finished {value} ago; backups should complete "
            + expected
            + ": the achievable RPO after a data loss grows every hour."
        ),
        output_labels=("region",),
        for_seconds=600,
        value_format=ValueFormat.DURATION,
    )
    missing = AlertRule(
        name="StreamgateBackupMissing",
        expr=scope.absent_per_region(metric, labelled=True, stack=cfg.stack),
        severity=Severity.TICKET,
        impact=Impact.PLATFORM,
        summary="No backup of stack " + cfg.stack + " in {region} is on record",
        description=(
            "No successful backup of stack "
            + cfg.stack
            + " in {region} has been reported for "
            + duration(max_age)
            + " (backups should complete "
            + expected
            + "): the backup job is not running or cannot push its result."
        ),
        output_labels=("region", "stack"),
        for_seconds=max_age,
    )
    return RuleGroup("streamgate-backup", (old, missing))


def rollout_group(scope: Scope) -> RuleGroup:
    cfg = scope.cfg
    rr = by("region", "rollout")
    failed = f"max {rr} ({scope.labelled('streamgate_rollout_failed_checks', stack=cfg.stack)})"
    weight = f"max {rr} ({scope.labelled('streamgate_rollout_weight', stack=cfg.stack)})"
    failing = AlertRule(
        name="StreamgateCanaryAnalysisFailing",
        expr=f"{failed} >= 1\nand\n{weight} > 0",
        severity=Severity.TICKET,
        impact=Impact.SERVICE,
        summary="Canary analysis of rollout {rollout} in {region} is failing",
        description=(
            "Rollout {rollout} in {region} has failed its last {value} analysis check(s) while the canary "
            f"still takes traffic; it is rolled back automatically after {cfg.rollout.failure_threshold}. "
            "Gateway versions serving there: {versions}."
        ),
        output_labels=("region", "rollout"),
        for_seconds=60,
    )
    return RuleGroup("streamgate-rollout", (failing,))


def autoscaling_group(scope: Scope) -> RuleGroup:
    keys = by("region", "namespace", "horizontalpodautoscaler")
    match = regex("horizontalpodautoscaler", GATEWAY_HPAS)
    current = scope.unlabelled(
        "kube_horizontalpodautoscaler_status_current_replicas", match, namespace=GATEWAY_NAMESPACE
    )
    ceiling = scope.unlabelled(
        "kube_horizontalpodautoscaler_spec_max_replicas", match, namespace=GATEWAY_NAMESPACE
    )
    pinned = AlertRule(
        name="StreamgateHpaMaxedOut",
        expr=f"max {keys} ({current})\n>=\nmax {keys} ({ceiling})",
        severity=Severity.TICKET,
        impact=Impact.SERVICE,
        summary="{horizontalpodautoscaler} in {region} is pinned at its maximum of {value} replicas",
        description=(
            "The HPA {horizontalpodautoscaler} in {region} has run at its maximum of {value} replicas for "
            f"15m (autoscaling.maxReplicas = {scope.cfg.autoscaling.max_replicas}): it cannot absorb more "
            "load, and latency follows. Gateway versions serving there: {versions}."
        ),
        output_labels=("region", "namespace", "horizontalpodautoscaler"),
        for_seconds=900,
    )
    return RuleGroup("streamgate-autoscaling", (pinned,))


def scale_stale_seconds(scope: Scope) -> int:
    """After this long without a `scale apply` run, predictive scaling counts as stopped."""
    return 3 * scope.cfg.scale.schedule_minutes * 60


def scale_group(scope: Scope) -> RuleGroup:
    """Predictive scaling (`streamgate scale apply`, job streamgate-scale) has fallen back to reactive scaling:
    its recent forecast error is over the bound (it reset the floors itself), or it stopped running."""
    cfg = scope.cfg
    region = by("region")
    active = scope.labelled("streamgate_scale_predictive_active", stack=cfg.stack)
    last_run = scope.labelled("streamgate_scale_last_run_timestamp_seconds", stack=cfg.stack)
    stale = scale_stale_seconds(scope)
    degraded = AlertRule(
        name="StreamgatePredictiveScalingDegraded",
        expr=f"min {region} ({active}) == 0\nor\ntime() - max {region} ({last_run}) > {stale}",
        severity=Severity.TICKET,
        impact=Impact.PLATFORM,
        summary="Predictive scaling in {region} has fallen back to reactive scaling",
        description=(
            "Predictive scaling of stack "
            + cfg.stack
            + " in {region} is not acting: either the forecast made a day earlier missed the last 24 h by "
            f"more than scale.maxRecentMape ({cfg.scale.max_recent_mape:.0%}), or it could not be measured, so "
            f"the gateway's floor is back at autoscaling.minReplicas ({cfg.autoscaling.min_replicas}); or "
            f"`scale apply` has not run for {duration(stale)}. The HPA still scales reactively: demand ramps "
            "are met a pod start-up later. Gateway versions serving there: {versions}."
        ),
        output_labels=("region",),
        for_seconds=max(1800, 2 * cfg.scale.schedule_minutes * 60),
    )
    return RuleGroup("streamgate-scale", (degraded,))


def platform_groups(scope: Scope) -> list[RuleGroup]:
    groups = [
        gateway_group(scope),
        cache_group(scope),
        envelope_group(scope),
        ratelimit_group(scope),
        events_group(scope),
        redis_group(scope),
        backup_group(scope),
        rollout_group(scope),
    ]
    if scope.cfg.kind.cloud:  # kube-state-metrics runs only in the clusters
        groups.append(autoscaling_group(scope))
    if scope.cfg.scale.enabled:
        groups.append(scale_group(scope))
    return groups
