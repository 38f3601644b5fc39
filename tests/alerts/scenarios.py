"""promtool unit-test cases generated from the rule definitions and a stack's real thresholds.

Every alert rule gets cases where it fires (with the labels and annotations promtool must produce) and
cases where it must stay silent: just under its threshold, a blip shorter than its `for`, or traffic below
its guard. Expected annotation texts are the definitions' texts expanded with concrete values here in
Python; promtool renders the Go templates the renderer made of them. A mismatch fails the test.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from infra.alerts.model import AlertRule, RuleGroup, expand
from infra.alerts.platform_alerts import (
    GATEWAY_JOB,
    GATEWAY_NAMESPACE,
    MIN_CACHE_LOOKUPS_PER_SECOND,
    MIN_RATELIMIT_CHECKS_PER_SECOND,
    backup_max_age_seconds,
    scale_stale_seconds,
)
from infra.alerts.promql import Scope, duration
from infra.alerts.render import definitions
from infra.alerts.slo import SEGMENT_ROUTE, Slo, bucket_label, slos

VERSION = "1.4.2"
# promtool's cost is steps x rules: cases spanning hours sample (and evaluate) every 5m or 15m.
STEPS = (15 * 60, 5 * 60, 60)
OTHER_VERSION = "9.9.9"  # runs in the other regions: must never show up in this region's annotations
MINUTE = 60


# --- what Prometheus's template functions print (prometheus/template/template.go) -------------------------
def humanize_percentage(v: float) -> str:
    return f"{v * 100:.4g}%"


def humanize_duration(v: float) -> str:
    assert v == 0 or v >= 1, "only whole seconds are used in the scenarios"
    seconds = int(v)
    days, rest = divmod(seconds, 86400)
    hours, rest = divmod(rest, 3600)
    minutes, secs = divmod(rest, 60)
    if days:
        return f"{days}d {hours}h {minutes}m {secs}s"
    if hours:
        return f"{hours}h {minutes}m {secs}s"
    if minutes:
        return f"{minutes}m {secs}s"
    return f"{v:.4g}s"


def humanize(v: float) -> str:
    assert v == 0 or 1 <= abs(v) < 1000, "humanize adds SI prefixes outside [1, 1000)"
    return f"{v:.4g}"


def nice(v: float) -> float:
    """Round to 3 significant digits, so `{value}` renders exactly."""
    return float(f"{v:.3g}")


# --- cases -----------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Series:
    metric: str
    region: str
    labels: Mapping[str, str]
    values: str  # promtool notation; `{n}` is replaced by the number of steps up to the evaluation time
    regional: bool = True  # carries its own region label (gateway, pushed metrics); exporters do not


@dataclass(frozen=True)
class Firing:
    rule: AlertRule
    labels: Mapping[str, str]  # the expression's labels
    value: str  # expected `{value}` text
    versions: str = VERSION


@dataclass(frozen=True)
class Case:
    title: str
    rule: AlertRule  # the rule the case is about
    fires: bool  # whether `rule` is among the firing alerts at evaluation time
    eval_seconds: int
    series: tuple[Series, ...]
    expected: tuple[Firing, ...]  # every alert named `rule.name` firing at evaluation time
    interval_seconds: int = MINUTE

    def __post_init__(self) -> None:
        ours = [f for f in self.expected if rule_id(f.rule) == rule_id(self.rule)]
        assert bool(ours) == self.fires, f"{self.title}: expectation contradicts `fires`"


def rule_id(rule: AlertRule) -> tuple[str, tuple[tuple[str, str], ...]]:
    return rule.name, tuple(sorted(rule.labels.items()))


@dataclass
class World:
    """The Prometheus a rule file is for: one cluster (`scope.region`) or all regions."""

    scope: Scope
    thorough: bool = False  # also the burst and recovery cases of every SLO tier (costlier)
    groups: list[RuleGroup] = field(init=False)

    def __post_init__(self) -> None:
        self.groups = definitions(self.scope.cfg, self.scope.region)

    @property
    def cfg(self) -> Any:
        return self.scope.cfg

    @property
    def region(self) -> str:
        """The region the cases break: the cluster's own, or the last one (not only the primary works)."""
        return self.scope.region or self.cfg.regions[-1].name

    @property
    def others(self) -> list[str]:
        """Other regions this Prometheus sees: healthy in every case."""
        if self.scope.region is not None:
            return []
        return [r.name for r in self.cfg.regions if r.name != self.region]

    def alert(self, name: str, **labels: str) -> AlertRule:
        found = [
            a
            for g in self.groups
            for a in g.alerts
            if a.name == name and all(a.labels.get(k) == v for k, v in labels.items())
        ]
        assert len(found) == 1, f"{name} {labels}: {len(found)} rules"
        return found[0]

    def build_info(self, values: str = "1x{n}") -> list[Series]:
        info = [Series("streamgate_build_info", self.region, {"version": VERSION, "color": "blue"}, values)]
        info += [
            Series("streamgate_build_info", other, {"version": OTHER_VERSION, "color": "blue"}, "1x{n}")
            for other in self.others
        ]
        return info


def _steps(per_minute: float) -> str:
    return f"0+{per_minute:g}x{{n}}"


# --- SLOs ------------------------------------------------------------------------------------------------
PER_STEP = 1_000_000  # requests per sample interval: integer error counts keep every ratio exact
CLIENT_SHARE = 0.05  # of SLO traffic is 4xx: served, not failed


@dataclass(frozen=True)
class Phase:
    seconds: int
    ratio: float  # error ratio of the SLO during the phase


@dataclass(frozen=True)
class Traffic:
    """Cumulative error and request counts of one region, sampled every `interval` from t=0."""

    interval: int
    errors: tuple[int, ...]
    totals: tuple[int, ...]

    @classmethod
    def of(cls, phases: list[Phase], interval: int) -> Traffic:
        errors, totals = [0], [0]
        for phase in phases:
            assert phase.seconds % interval == 0 and phase.ratio + CLIENT_SHARE <= 1
            for _ in range(phase.seconds // interval):
                errors.append(errors[-1] + round(phase.ratio * PER_STEP))
                totals.append(totals[-1] + PER_STEP)
        errors.append(errors[-1] + errors[-1] - errors[-2])  # one sample past the end
        totals.append(totals[-1] + PER_STEP)
        return cls(interval, tuple(errors), tuple(totals))

    def ratio(self, step: int, window: int) -> float | None:
        """The recorded error ratio at sample `step` over `window`, as Prometheus 2.42 computes it.

        A range holds the samples in [t - window, t]; every counter starts at 0 at t=0 and all share
        sample times, so rate()'s extrapolation is the same for errors and requests and cancels out."""
        first = max(0, -(-(step * self.interval - window) // self.interval))
        if first >= step:
            return None  # fewer than two samples: no rate
        return (self.errors[step] - self.errors[first]) / (self.totals[step] - self.totals[first])

    def values(self, counts: tuple[int, ...]) -> str:
        return " ".join(str(c) for c in counts)


def _slo_series(slo: Slo, traffic: Traffic, region: str) -> list[Series]:
    base = {"route": SEGMENT_ROUTE, "method": "GET", "version": VERSION, "color": "blue"}
    requests = "streamgate_http_requests_total"
    client = tuple(round(CLIENT_SHARE * t) for t in traffic.totals)
    if slo.kind == "availability":
        served = tuple(t - e - c for t, e, c in zip(traffic.totals, traffic.errors, client, strict=True))
        return [
            Series(requests, region, {**base, "status_class": "5xx"}, traffic.values(traffic.errors)),
            Series(requests, region, {**base, "status_class": "2xx"}, traffic.values(served)),
            # 4xx are the client's fault: they count as served, not as failures
            Series(
                requests, region, {**base, "route": "other", "status_class": "4xx"}, traffic.values(client)
            ),
        ]
    le = bucket_label(slo.latency_seconds)
    ok = {**base, "status_class": "2xx"}
    fast = tuple(t - e for t, e in zip(traffic.totals, traffic.errors, strict=True))
    return [
        Series(
            "streamgate_http_request_duration_seconds_bucket", region, {**ok, "le": le}, traffic.values(fast)
        ),
        Series(
            "streamgate_http_request_duration_seconds_bucket",
            region,
            {**ok, "le": "+Inf"},
            traffic.values(traffic.totals),
        ),
        Series("streamgate_http_request_duration_seconds_count", region, ok, traffic.values(traffic.totals)),
        # 5xx (half of them fast) spend the availability budget, not the latency one: ignored here
        Series(
            "streamgate_http_request_duration_seconds_bucket",
            region,
            {**base, "status_class": "5xx", "le": le},
            traffic.values(tuple(c // 2 for c in client)),
        ),
        Series(
            "streamgate_http_request_duration_seconds_count",
            region,
            {**base, "status_class": "5xx"},
            traffic.values(client),
        ),
    ]


def _firing_tiers(world: World, slo: Slo, traffic: Traffic, eval_s: int) -> tuple[Firing, ...]:
    """Burn-rate rules firing at `eval_s`: each rule's condition at every evaluation, and its `for`."""
    firing = []
    last = eval_s // traffic.interval
    for tier in slo.tiers():
        active_since = None
        long_ratio = None
        for step in range(last + 1):
            long_ratio = traffic.ratio(step, tier.window.long_seconds)
            short_ratio = traffic.ratio(step, tier.window.short_seconds)
            holds = (
                long_ratio is not None
                and short_ratio is not None
                and long_ratio > tier.threshold
                and short_ratio > tier.threshold
            )
            active_since = (active_since if active_since is not None else step) if holds else None
        fired = (
            active_since is not None and eval_s - active_since * traffic.interval >= tier.window.for_seconds
        )
        if fired and long_ratio is not None:
            rule = world.alert(slo.alert_name, long_window=duration(tier.window.long_seconds))
            firing.append(Firing(rule, {"region": world.region}, humanize_percentage(long_ratio)))
    return tuple(firing)


def _slo_case(
    world: World, slo: Slo, rule: AlertRule, fires: bool, title: str, phases: list[Phase], interval: int
) -> Case:
    """Traffic in phases; which burn-rate rules fire is simulated, and `rule` must (not) be among them."""
    eval_s = sum(p.seconds for p in phases)
    traffic = Traffic.of(phases, interval)
    quiet = Traffic.of([Phase(eval_s, 0.0)], interval)
    series = [
        *_slo_series(slo, traffic, world.region),
        *(s for other in world.others for s in _slo_series(slo, quiet, other)),
        *world.build_info(),
    ]
    expected = _firing_tiers(world, slo, traffic, eval_s)
    return Case(title, rule, fires, eval_s, tuple(series), expected, interval)


def slo_cases(world: World) -> list[Case]:
    cases = []
    for slo in slos(world.scope):
        tiers = slo.tiers()
        for i, tier in enumerate(tiers):
            w = tier.window
            rule = world.alert(slo.alert_name, long_window=duration(w.long_seconds))
            name = f"{rule.name} {duration(w.long_seconds)}/{duration(w.short_seconds)} ({tier.factor:g}x)"
            # Sample well inside the short window (5m -> 1m, 30m -> 5m, hours -> 15m). Faster tiers may
            # lack samples then, but their thresholds are above the ratios of such a case.
            step = next(s for s in STEPS if s <= w.short_seconds / 3 or s == MINUTE)
            higher = tiers[i - 1].threshold if i else 1.0
            over = nice(min(tier.threshold * 1.05, (tier.threshold + higher) / 2))
            under = nice(tier.threshold * 0.97)
            burst = nice(min(tier.threshold * 3, 1 - CLIENT_SHARE))
            assert tier.threshold < over < 1 and under < tier.threshold
            steady = w.for_seconds + 3 * step
            cases.append(_slo_case(world, slo, rule, True, f"{name}: 5% over", [Phase(steady, over)], step))
            cases.append(
                _slo_case(world, slo, rule, False, f"{name}: 3% under", [Phase(steady, under)], step)
            )
            if world.thorough:
                # Fired, then fixed: the short window is clean while the long one still burns.
                clean = w.short_seconds + 2 * step
                recovered = [Phase(steady, burst), Phase(clean, 0.0)]
                cases.append(
                    _slo_case(
                        world, slo, rule, False, f"{name}: recovered {duration(clean)} ago", recovered, step
                    )
                )
                # A fresh burst: the short window burns, the long one has not yet.
                spike = w.short_seconds + step
                late = [Phase(3 * spike, 0.0), Phase(spike, burst)]
                cases.append(
                    _slo_case(world, slo, rule, False, f"{name}: {duration(spike)} burst", late, step)
                )
        rule = world.alert("StreamgateErrorBudgetExhausted", slo=slo.kind)
        step = STEPS[1]
        for ratio, fires in (
            (nice(min(1.5 * slo.budget, (slo.budget + 1 - CLIENT_SHARE) / 2)), True),
            (nice(0.9 * slo.budget), False),
        ):
            remaining = 1 - ratio / slo.budget
            eval_s = rule.for_seconds + 3 * step
            traffic = Traffic.of([Phase(eval_s, ratio)], step)
            calm = Traffic.of([Phase(eval_s, 0.0)], step)
            series = [
                *_slo_series(slo, traffic, world.region),
                *(s for other in world.others for s in _slo_series(slo, calm, other)),
                *world.build_info(),
            ]
            expected = (
                (Firing(rule, {"region": world.region}, humanize_percentage(remaining)),) if fires else ()
            )
            title = f"{rule.name} {slo.kind}: {'over' if fires else 'within'} budget ({remaining:.2f} left)"
            cases.append(Case(title, rule, fires, eval_s, tuple(series), expected, step))
    return cases


# --- gateway ---------------------------------------------------------------------------------------------
def _up(world: World, region: str, instance: str, values: str) -> Series:
    return Series("up", region, {"job": GATEWAY_JOB, "instance": instance}, values, regional=False)


def _up_elsewhere(world: World) -> list[Series]:
    return [_up(world, other, f"gw-{other}-1:8080", "1x{n}") for other in world.others]


def gateway_cases(world: World) -> list[Case]:
    down = world.alert("StreamgateGatewayDown")
    absent = world.alert("StreamgateGatewayAbsent")
    r = world.region
    labels = {"region": r}
    # The region's last build_info samples are old: `{versions}` looks back an hour.
    last_seen = world.build_info("1 1 1")
    return [
        Case(
            "GatewayDown: both gateways of the region down for 4m",
            down,
            True,
            5 * MINUTE,
            (
                _up(world, r, "gw-a:8080", "1 0x10"),
                _up(world, r, "gw-b:8080", "1 0x10"),
                *_up_elsewhere(world),
                *last_seen,
            ),
            (Firing(down, labels, ""),),
        ),
        Case(
            "GatewayDown: one of two gateways down is not a region down",
            down,
            False,
            5 * MINUTE,
            (
                _up(world, r, "gw-a:8080", "1 0x10"),
                _up(world, r, "gw-b:8080", "1x10"),
                *_up_elsewhere(world),
                *last_seen,
            ),
            (),
        ),
        Case(
            "GatewayDown: a 1m blip under `for`",
            down,
            False,
            10 * MINUTE,
            (
                _up(world, r, "gw-a:8080", "1 0 1x10"),
                _up(world, r, "gw-b:8080", "1 0 1x10"),
                *_up_elsewhere(world),
                *last_seen,
            ),
            (),
        ),
        Case(
            "GatewayAbsent: no target in the region for 6m",
            absent,
            True,
            6 * MINUTE,
            (*_up_elsewhere(world), *last_seen),
            (Firing(absent, {**labels, "job": GATEWAY_JOB}, ""),),
        ),
        Case(
            "GatewayAbsent: no target for 4m (under `for`)",
            absent,
            False,
            4 * MINUTE,
            (*_up_elsewhere(world), *last_seen),
            (),
        ),
        Case(
            "GatewayAbsent: targets discovered after 3m",
            absent,
            False,
            6 * MINUTE,
            (_up(world, r, "gw-a:8080", "_x3 1x10"), *_up_elsewhere(world), *last_seen),
            (),
        ),
    ]


# --- cache -----------------------------------------------------------------------------------------------
def _cache(world: World, ratio: float, lookups_per_minute: float) -> list[Series]:
    """Lookups of this region's gateway of which `ratio` hit L1, L2 or L3 (split 1/2, 1/3, 1/6)."""
    hits = ratio * lookups_per_minute
    l1 = hits / 2
    series = [
        Series("streamgate_cache_hits_total", world.region, {"version": VERSION, "tier": "l1"}, _steps(l1)),
        Series(
            "streamgate_cache_misses_total",
            world.region,
            {"version": VERSION, "tier": "l1"},
            _steps(lookups_per_minute - l1),
        ),
        Series(
            "streamgate_cache_hits_total", world.region, {"version": VERSION, "tier": "l2"}, _steps(hits / 3)
        ),
        Series(
            "streamgate_cache_hits_total", world.region, {"version": VERSION, "tier": "l3"}, _steps(hits / 6)
        ),
        # values the loader computed are misses of every tier: not hits
        Series(
            "streamgate_cache_hits_total",
            world.region,
            {"version": VERSION, "tier": "loader"},
            _steps(lookups_per_minute - hits),
        ),
    ]
    for other in world.others:
        series += [
            Series(
                "streamgate_cache_hits_total", other, {"version": OTHER_VERSION, "tier": "l1"}, _steps(600)
            ),
            Series(
                "streamgate_cache_misses_total", other, {"version": OTHER_VERSION, "tier": "l1"}, _steps(0)
            ),
        ]
    return series


def cache_cases(world: World) -> list[Case]:
    collapse = world.alert("StreamgateCacheHitRatioCollapse")
    errors = world.alert("StreamgateCacheL2Errors")
    floor = world.cfg.alerts.cache_hit_ratio_floor
    low, just_above = nice(floor / 2), nice(min(floor * 1.05, (floor + 1) / 2))
    busy = 60 * MIN_CACHE_LOOKUPS_PER_SECOND * 10
    idle = 60 * MIN_CACHE_LOOKUPS_PER_SECOND / 2
    labels = {"region": world.region, "version": VERSION}
    threshold = world.cfg.alerts.l2_errors_per_second
    rate_high = nice(threshold * 2)

    def l2(per_second: float) -> list[Series]:
        # split over two operations: the rule sums them
        return [
            Series(
                "streamgate_cache_l2_errors_total",
                world.region,
                {"version": VERSION, "op": op},
                _steps(per_second * 30),
            )
            for op in ("get", "set")
        ]

    return [
        Case(
            f"CacheHitRatioCollapse: {low} < floor {floor} for 19m",
            collapse,
            True,
            20 * MINUTE,
            (*_cache(world, low, busy), *world.build_info()),
            (Firing(collapse, labels, humanize_percentage(low)),),
        ),
        Case(
            f"CacheHitRatioCollapse: {just_above} just above the floor",
            collapse,
            False,
            20 * MINUTE,
            (*_cache(world, just_above, busy), *world.build_info()),
            (),
        ),
        Case(
            "CacheHitRatioCollapse: no hits at all, but under 1 lookup/s (idle instance)",
            collapse,
            False,
            20 * MINUTE,
            (*_cache(world, 0.0, idle), *world.build_info()),
            (),
        ),
        Case(
            f"CacheL2Errors: {rate_high}/s for 9m",
            errors,
            True,
            10 * MINUTE,
            (*l2(rate_high), *world.build_info()),
            (Firing(errors, labels, humanize(rate_high)),),
        ),
        Case(
            "CacheL2Errors: just under the threshold",
            errors,
            False,
            10 * MINUTE,
            (*l2(threshold * 0.9), *world.build_info()),
            (),
        ),
    ]


# --- rate limiting ---------------------------------------------------------------------------------------
def envelope_cases(world: World) -> list[Case]:
    failures = world.alert("StreamgateEnvelopeFailures")
    threshold = world.cfg.alerts.envelope_errors_per_minute
    rate_high = nice(threshold * 4)

    def crypto(result: str, per_minute: float, operation: str = "decrypt") -> Series:
        labels = {"version": VERSION, "operation": operation, "result": result}
        return Series("streamgate_crypto_operations_total", world.region, labels, _steps(per_minute))

    labels = {"region": world.region, "version": VERSION, "operation": "decrypt"}
    return [
        Case(
            f"EnvelopeFailures: KMS refuses {rate_high}/min for 9m",
            failures,
            True,
            10 * MINUTE,
            (crypto("KeyManagementError", rate_high), crypto("ok", 30_000), *world.build_info()),
            (Firing(failures, {**labels, "result": "KeyManagementError"}, humanize(rate_high)),),
        ),
        Case(
            "EnvelopeFailures: each error under the threshold (they are told apart, not summed)",
            failures,
            False,
            10 * MINUTE,
            (
                crypto("KeyManagementError", threshold * 0.9),
                crypto("TamperedError", threshold * 0.9),
                *world.build_info(),
            ),
            (),
        ),
        Case(
            "EnvelopeFailures: many operations, all ok",
            failures,
            False,
            10 * MINUTE,
            (crypto("ok", 30_000), crypto("ok", 30_000, "encrypt"), *world.build_info()),
            (),
        ),
    ]


def ratelimit_cases(world: World) -> list[Case]:
    spike = world.alert("StreamgateRateLimitRejectionSpike")
    ratio = world.cfg.alerts.rate_limit_rejection_ratio
    high, under = nice(min(ratio * 2, (ratio + 1) / 2)), nice(ratio * 0.9)
    busy = 60 * MIN_RATELIMIT_CHECKS_PER_SECOND * 10

    def checks(denied_share: float, per_minute: float) -> list[Series]:
        m = "streamgate_ratelimit_requests_total"
        return [
            Series(
                m,
                world.region,
                {"version": VERSION, "scope": "ip", "result": "denied"},
                _steps(denied_share * per_minute),
            ),
            Series(
                m,
                world.region,
                {"version": VERSION, "scope": "none", "result": "allowed"},
                _steps((1 - denied_share - 0.001) * per_minute),
            ),
            # a little denied on another scope, well under the threshold: must not alert
            Series(
                m,
                world.region,
                {"version": VERSION, "scope": "user", "result": "denied"},
                _steps(0.001 * per_minute),
            ),
        ]

    return [
        Case(
            f"RateLimitRejectionSpike: {high} of ip checks denied for 14m",
            spike,
            True,
            15 * MINUTE,
            (*checks(high, busy), *world.build_info()),
            (Firing(spike, {"region": world.region, "scope": "ip"}, humanize_percentage(high)),),
        ),
        Case(
            f"RateLimitRejectionSpike: {under} denied, under the threshold",
            spike,
            False,
            15 * MINUTE,
            (*checks(under, busy), *world.build_info()),
            (),
        ),
        Case(
            "RateLimitRejectionSpike: half denied but under 1 check/s",
            spike,
            False,
            15 * MINUTE,
            (*checks(0.5, 60 * MIN_RATELIMIT_CHECKS_PER_SECOND / 2), *world.build_info()),
            (),
        ),
    ]


# --- events ----------------------------------------------------------------------------------------------
def events_cases(world: World) -> list[Case]:
    lag = world.alert("StreamgateEventsProcessingLag")
    shed = world.alert("StreamgateEventsShed")
    limit = world.cfg.alerts.event_lag_seconds
    late = float(math.ceil(limit) * 2)
    fine = 1.0
    shed_limit = world.cfg.alerts.events_shed_ratio
    shed_high, shed_under = nice(min(shed_limit * 5, (shed_limit + 1) / 2)), nice(shed_limit * 0.9)
    labels = {"region": world.region, "version": VERSION}

    def gauge(values: str) -> Series:
        return Series("streamgate_events_processing_lag_seconds", world.region, {"version": VERSION}, values)

    def traffic(share: float, received: bool = True) -> list[Series]:
        total = 600.0
        series = [
            Series("streamgate_events_shed_total", world.region, {"version": VERSION}, _steps(share * total))
        ]
        if received:
            series.append(
                Series(
                    "streamgate_events_received_total",
                    world.region,
                    {"version": VERSION, "result": "accepted"},
                    _steps((1 - share) * total),
                )
            )
        return series

    return [
        Case(
            f"EventsProcessingLag: {late:g}s for 9m",
            lag,
            True,
            10 * MINUTE,
            (gauge(f"{late:g}x{{n}}"), *world.build_info()),
            (Firing(lag, labels, humanize_duration(late)),),
        ),
        Case(
            "EventsProcessingLag: a 3m spike under `for`",
            lag,
            False,
            10 * MINUTE,
            (gauge(f"{fine:g}x2 {late:g}x3 {fine:g}x10"), *world.build_info()),
            (),
        ),
        Case(
            f"EventsShed: {shed_high} of events shed for 9m",
            shed,
            True,
            10 * MINUTE,
            (*traffic(shed_high), *world.build_info()),
            (Firing(shed, labels, humanize_percentage(shed_high)),),
        ),
        Case(
            "EventsShed: every event shed, none ever received",
            shed,
            True,
            10 * MINUTE,
            (*traffic(1.0, received=False), *world.build_info()),
            (Firing(shed, labels, humanize_percentage(1.0)),),
        ),
        Case(
            f"EventsShed: {shed_under} shed, under the threshold",
            shed,
            False,
            10 * MINUTE,
            (*traffic(shed_under), *world.build_info()),
            (),
        ),
    ]


# --- Redis -----------------------------------------------------------------------------------------------
def redis_cases(world: World) -> list[Case]:
    link = world.alert("StreamgateRedisReplicationLinkDown")
    lag = world.alert("StreamgateRedisReplicationLagHigh")
    rpo = world.cfg.alerts.replication_lag_rpo_seconds
    replica = "redis-replica:9121"
    primary = "redis-primary:9121"
    master = {"master_host": "10.0.0.5", "master_port": "6379"}
    slave = {"slave_ip": "10.1.0.7", "slave_port": "6379", "slave_state": "online"}

    def link_up(values: str) -> Series:
        return Series(
            "redis_master_link_up", world.region, {"instance": replica, **master}, values, regional=False
        )

    def lag_seconds(values: str) -> Series:
        return Series(
            "redis_connected_slave_lag_seconds",
            world.region,
            {"instance": primary, **slave},
            values,
            regional=False,
        )

    late = float(math.floor(rpo) + 2)
    return [
        Case(
            "RedisReplicationLinkDown: link down for 4m",
            link,
            True,
            5 * MINUTE,
            (link_up("1 0x10"),),
            (Firing(link, {"region": world.region, "instance": replica}, ""),),
        ),
        Case(
            "RedisReplicationLinkDown: a single failed scrape under `for`",
            link,
            False,
            5 * MINUTE,
            (link_up("1 0 1x10"),),
            (),
        ),
        Case(
            f"RedisReplicationLagHigh: {late:g}s lag for 4m (RPO {rpo:g}s)",
            lag,
            True,
            5 * MINUTE,
            (lag_seconds(f"0 {late:g}x10"),),
            (Firing(lag, {"region": world.region, "instance": primary}, humanize_duration(late)),),
        ),
        Case(
            "RedisReplicationLagHigh: lag equal to the RPO",
            lag,
            False,
            5 * MINUTE,
            (lag_seconds(f"0 {rpo:g}x10"),),
            (),
        ),
    ]


# --- backups ---------------------------------------------------------------------------------------------
def backup_cases(world: World) -> list[Case]:
    old = world.alert("StreamgateBackupTooOld")
    missing = world.alert("StreamgateBackupMissing")
    stack = world.cfg.stack
    max_age = backup_max_age_seconds(world.scope)
    metric = "streamgate_backup_last_success_timestamp_seconds"
    # These cases span a whole backup interval: the coarsest step that divides it.
    step = next(s for s in STEPS if max_age % s == 0)

    def stamp(region: str, values: str, stack_name: str = stack) -> Series:
        return Series(metric, region, {"stack": stack_name, "job": "streamgate-backup"}, values)

    fresh_elsewhere = [stamp(o, f"0+{step}x{{n}}") for o in world.others]  # a backup every step there
    # The last backup finished at t=0 and none since: too old from the first step past the limit, firing
    # as soon as `for` has passed. In the silent case a newer one lands so that it is exactly at the limit.
    late_eval = max_age + step + -(-old.for_seconds // step) * step
    newer_at = late_eval - max_age
    return [
        Case(
            f"BackupTooOld: newest backup {duration(late_eval)} old (limit {duration(max_age)})",
            old,
            True,
            late_eval,
            (
                stamp(world.region, "0x{n}"),
                *fresh_elsewhere,
                stamp(world.region, f"0+{step}x{{n}}", "other-stack"),
            ),
            (Firing(old, {"region": world.region}, humanize_duration(late_eval)),),
            step,
        ),
        Case(
            f"BackupTooOld: newest backup {duration(late_eval - newer_at)} old, exactly the limit",
            old,
            False,
            late_eval,
            (stamp(world.region, f"0x{newer_at // step - 1} {newer_at}x{{n}}"), *fresh_elsewhere),
            (),
            step,
        ),
        Case(
            f"BackupMissing: no backup on record for {duration(max_age + 2 * step)}",
            missing,
            True,
            max_age + 2 * step,
            # another stack's backups in this region do not count
            (*fresh_elsewhere, stamp(world.region, f"0+{step}x{{n}}", "other-stack")),
            (Firing(missing, {"region": world.region, "stack": stack}, ""),),
            step,
        ),
        Case(
            "BackupMissing: first backup reported shortly before the interval ran out",
            missing,
            False,
            max_age + 2 * step,
            (
                stamp(world.region, f"_x{(max_age - 2 * step) // step} 0x{{n}}"),
                *fresh_elsewhere,
            ),
            (),
            step,
        ),
    ]


# --- rollouts --------------------------------------------------------------------------------------------
def rollout_cases(world: World) -> list[Case]:
    failing = world.alert("StreamgateCanaryAnalysisFailing")
    stack = world.cfg.stack
    rollout = f"gateway-{VERSION}"

    def pushed(failed: int, weight: int, stack_name: str = stack) -> list[Series]:
        labels = {"stack": stack_name, "rollout": rollout, "job": "streamgate-rollout"}
        return [
            Series("streamgate_rollout_failed_checks", world.region, labels, f"0 {failed}x{{n}}"),
            Series("streamgate_rollout_weight", world.region, labels, f"{weight}x{{n}}"),
        ]

    return [
        Case(
            "CanaryAnalysisFailing: 2 failed checks while the canary takes 25%",
            failing,
            True,
            5 * MINUTE,
            (*pushed(2, 25), *world.build_info()),
            (Firing(failing, {"region": world.region, "rollout": rollout}, humanize(2)),),
        ),
        Case(
            "CanaryAnalysisFailing: failed checks after the rollback (weight 0)",
            failing,
            False,
            5 * MINUTE,
            (*pushed(2, 0), *world.build_info()),
            (),
        ),
        Case(
            "CanaryAnalysisFailing: a healthy canary here, a failing one of another stack",
            failing,
            False,
            5 * MINUTE,
            (*pushed(0, 25), *pushed(2, 25, "other-stack"), *world.build_info()),
            (),
        ),
    ]


# --- predictive scaling ----------------------------------------------------------------------------------
def scale_cases(world: World) -> list[Case]:
    if not world.cfg.scale.enabled:
        return []
    degraded = world.alert("StreamgatePredictiveScalingDegraded")
    stack = world.cfg.stack
    stale = scale_stale_seconds(world.scope)
    step = 5 * MINUTE
    # Long enough for the stale case: past the limit, then `for`, on the 5-minute grid.
    late_eval = stale + step + -(-degraded.for_seconds // step) * step

    def pushed(
        region: str, active: int, last_run: str = "0+300x{n}", stack_name: str = stack
    ) -> list[Series]:
        labels = {"stack": stack_name, "job": "streamgate-scale"}
        return [
            Series("streamgate_scale_predictive_active", region, labels, f"{active}x{{n}}"),
            # Each run pushes the time it ran; the Pushgateway keeps serving the last one if runs stop.
            Series("streamgate_scale_last_run_timestamp_seconds", region, labels, last_run),
        ]

    healthy_elsewhere = [s for o in world.others for s in pushed(o, 1)]
    return [
        Case(
            "PredictiveScalingDegraded: forecast error over the bound, back to reactive scaling",
            degraded,
            True,
            late_eval,
            (*pushed(world.region, 0), *healthy_elsewhere, *world.build_info()),
            (Firing(degraded, {"region": world.region}, humanize(0)),),
            step,
        ),
        Case(
            f"PredictiveScalingDegraded: no run for {duration(late_eval)} (limit {duration(stale)})",
            degraded,
            True,
            late_eval,
            (*pushed(world.region, 1, "0x{n}"), *healthy_elsewhere, *world.build_info()),
            (Firing(degraded, {"region": world.region}, ""),),
            step,
        ),
        Case(
            "PredictiveScalingDegraded: acting and running; another stack degraded",
            degraded,
            False,
            late_eval,
            (
                *pushed(world.region, 1),
                *pushed(world.region, 0, stack_name="other-stack"),
                *healthy_elsewhere,
                *world.build_info(),
            ),
            (),
            step,
        ),
    ]


# --- autoscaling -----------------------------------------------------------------------------------------
def autoscaling_cases(world: World) -> list[Case]:
    if world.cfg.target != "aws":
        return []
    pinned = world.alert("StreamgateHpaMaxedOut")
    top = world.cfg.autoscaling.max_replicas

    def hpa(name: str, current: int) -> list[Series]:
        labels = {
            "namespace": GATEWAY_NAMESPACE,
            "horizontalpodautoscaler": name,
            "job": "kube-state-metrics",
        }
        return [
            Series(
                "kube_horizontalpodautoscaler_status_current_replicas",
                world.region,
                labels,
                f"{current}x{{n}}",
                regional=False,
            ),
            Series(
                "kube_horizontalpodautoscaler_spec_max_replicas",
                world.region,
                labels,
                f"{top}x{{n}}",
                regional=False,
            ),
        ]

    labels = {
        "region": world.region,
        "namespace": GATEWAY_NAMESPACE,
        "horizontalpodautoscaler": "gateway-blue",
    }
    return [
        Case(
            f"HpaMaxedOut: gateway-blue at {top} of {top} replicas for 19m",
            pinned,
            True,
            20 * MINUTE,
            (*hpa("gateway-blue", top), *hpa("gateway-green", 1), *world.build_info()),
            (Firing(pinned, labels, humanize(top)),),
        ),
        Case(
            f"HpaMaxedOut: {top - 1} of {top} replicas",
            pinned,
            False,
            20 * MINUTE,
            (*hpa("gateway-blue", top - 1), *world.build_info()),
            (),
        ),
    ]


BUILDERS: tuple[Callable[[World], list[Case]], ...] = (
    slo_cases,
    gateway_cases,
    cache_cases,
    envelope_cases,
    ratelimit_cases,
    events_cases,
    redis_cases,
    backup_cases,
    rollout_cases,
    autoscaling_cases,
    scale_cases,
)


def cases(world: World) -> list[Case]:
    return [case for build in BUILDERS for case in build(world)]


# --- promtool test files ---------------------------------------------------------------------------------
def series_text(world: World, s: Series) -> str:
    labels = dict(s.labels)
    if s.regional or world.scope.region is None:
        labels["region"] = s.region  # per cluster, exporters' series carry no region
    inner = ",".join(f"{k}={json.dumps(v)}" for k, v in labels.items())
    return f"{s.metric}{{{inner}}}"


def expected_alert(world: World, firing: Firing) -> dict[str, Any]:
    rule = firing.rule
    labels = {
        **firing.labels,
        "severity": rule.severity.value,
        "team": world.cfg.alerts.team,
        "impact": rule.impact.value,
        **rule.labels,
    }
    values = {**firing.labels, "value": firing.value, "versions": firing.versions}
    return {
        "exp_labels": labels,
        "exp_annotations": {
            "summary": expand(rule.summary, values),
            "description": expand(rule.description, values),
            "runbook_url": f"{world.cfg.alerts.runbook_base_url}/{rule.name}.md",
            **(
                {"dashboard_url": f"{base}/d/streamgate-overview?var-region={firing.labels['region']}"}
                if (base := world.cfg.alerts.dashboard_base_url)
                else {}
            ),
        },
    }


def test_group(world: World, case: Case) -> dict[str, Any]:
    steps = case.eval_seconds // case.interval_seconds + 2
    return {
        "name": case.title,
        "interval": duration(case.interval_seconds),
        "input_series": [
            {"series": series_text(world, s), "values": s.values.replace("{n}", str(steps))}
            for s in case.series
        ],
        "alert_rule_test": [
            {
                "eval_time": duration(case.eval_seconds),
                "alertname": case.rule.name,
                "exp_alerts": [expected_alert(world, f) for f in case.expected],
            }
        ],
    }


def test_files(world: World, rule_file: Callable[[str], str]) -> dict[tuple[int, str], dict[str, Any]]:
    """promtool test documents, one per (evaluation interval, rule group): each loads only the group its
    cases test (`rule_file(group)` names that group's file), which keeps promtool fast."""
    group_of = {rule_id(a): g.name for g in world.groups for a in g.alerts}
    docs: dict[tuple[int, str], dict[str, Any]] = {}
    for case in cases(world):
        group = group_of[rule_id(case.rule)]
        doc = docs.setdefault(
            (case.interval_seconds, group),
            {
                "rule_files": [rule_file(group)],
                "evaluation_interval": duration(case.interval_seconds),
                "tests": [],
            },
        )
        doc["tests"].append(test_group(world, case))
    return docs
