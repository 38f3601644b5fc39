"""The StreamGate dashboards, generated per stack with grafana-foundation-sdk from the alerts' catalogue:
the SLO recording rules and burn-rate factors (infra/alerts/slo.py), the cache and rate-limit rules and
names (infra/alerts/platform_alerts.py), the exporters' metric names (infra/alerts/exporters.py), and the
runtime's own metrics. A name the alerts stop recording disappears here too, and the local test runs every
panel's query against a real Prometheus (tests/automation/test_dashboards_local.py).

Every dashboard has a `region` variable. The overview's uid is the one every alert links to
(`infra.alerts.render.DASHBOARD_UID`, `?var-region=<region>`); it links to the area dashboards."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

from grafana_foundation_sdk.builders import dashboard as gd
from grafana_foundation_sdk.builders import prometheus, stat, timeseries
from grafana_foundation_sdk.cog.encoder import JSONEncoder
from grafana_foundation_sdk.models.dashboard import DashboardLinkType, DataSourceRef, VariableRefresh

from infra.alerts.platform_alerts import (
    CACHE_HIT_RATIO,
    CACHE_LOOKUPS,
    CRYPTO_FAILED,
    CRYPTO_OPERATIONS,
    GATEWAY_HPAS,
    GATEWAY_JOB,
    GATEWAY_NAMESPACE,
)
from infra.alerts.promql import Scope, duration, number, regex
from infra.alerts.render import DASHBOARD_UID, VERSIONS_LOOKBACK
from infra.alerts.slo import REQUESTS, SEGMENT_ROUTES, bucket_label, slos
from infra.config import StackConfig

PROMETHEUS = DataSourceRef(type_val="prometheus", uid="prometheus")  # kube-prometheus-stack's data source
RATE = "$__rate_interval"
REGION = 'region="$region"'
TAGS = ["streamgate"]
Panel = timeseries.Panel | stat.Panel


@dataclass(frozen=True)
class Query:
    expr: str
    legend: str = ""


def _target(q: Query, ref: str) -> prometheus.Dataquery:
    target = prometheus.Dataquery().expr(q.expr).ref_id(ref).datasource(PROMETHEUS)
    return target.legend_format(q.legend) if q.legend else target


def series(title: str, unit: str, *queries: Query, description: str = "") -> timeseries.Panel:
    panel = timeseries.Panel().title(title).unit(unit).datasource(PROMETHEUS).line_width(1).fill_opacity(10)
    if description:
        panel = panel.description(description)
    for i, q in enumerate(queries):
        panel = panel.with_target(_target(q, chr(ord("A") + i)))
    return panel


def single(title: str, unit: str, query: Query, description: str = "") -> stat.Panel:
    panel = stat.Panel().title(title).unit(unit).datasource(PROMETHEUS).with_target(_target(query, "A"))
    return panel.description(description) if description else panel


def _region_variable() -> gd.QueryVariable:
    return (
        gd.QueryVariable("region")
        .label("Region")
        .query("label_values(streamgate_build_info, region)")
        .datasource(PROMETHEUS)
        .refresh(VariableRefresh.ON_TIME_RANGE_CHANGED)
    )


def _dashboard(
    uid: str, title: str, rows: list[tuple[str, list[Panel]]], links: bool = True
) -> dict[str, Any]:
    builder = (
        gd.Dashboard(title)
        .uid(uid)
        .tags(TAGS)
        .time("now-3h", "now")
        .refresh("30s")
        .timezone("utc")
        .editable()
        .with_variable(_region_variable())
    )
    if links:
        builder = builder.links(
            [
                gd.DashboardLink("StreamGate")
                .type(DashboardLinkType.DASHBOARDS)
                .tags(TAGS)
                .as_dropdown(True)
                .include_vars(True)
                .keep_time(True)
            ]
        )
    panel_id = 0
    for row, panels in rows:
        builder = builder.with_row(gd.Row(row))
        for panel in panels:
            panel_id += 1
            builder = builder.with_panel(panel.id(panel_id).height(8).span(12))
    document: dict[str, Any] = json.loads(json.dumps(builder.build(), cls=JSONEncoder))
    for panel in document["panels"]:  # the SDK writes `"options": null`; Grafana wants it absent
        for key in [k for k, v in panel.items() if v is None]:
            del panel[key]
    for i, row_panel in enumerate(p for p in document["panels"] if p.get("type") == "row"):
        row_panel["id"] = 1000 + i  # rows need ids too; the builder leaves them at 0
    return document


# -- the areas ---------------------------------------------------------------------------------------------
def _rate(metric: str, extra: str = "") -> str:
    matchers = ", ".join(m for m in (REGION, extra) if m)
    return f"rate({metric}{{{matchers}}}[{RATE}])"


def slo_rows(cfg: StackConfig, scope: Scope) -> list[tuple[str, list[Panel]]]:
    rows: list[tuple[str, list[Panel]]] = []
    for slo in slos(scope):
        long_windows = [t.window for t in slo.tiers()]
        budget = number(slo.budget)
        burn = [
            Query(
                f"{slo.errors_record(duration(w.long_seconds))}{{{REGION}}} / {budget}",
                duration(w.long_seconds),
            )
            for w in long_windows
        ]
        rows.append(
            (
                f"{slo.title} SLO ({slo.objective * 100:.4g}% over {slo.window_days}d)",
                [
                    single(
                        "Error budget left",
                        "percentunit",
                        Query(f"{slo.budget_record}{{{REGION}}}"),
                        f"Share of the {slo.window_days}-day error budget not yet spent ({slo.failures}).",
                    ),
                    series(
                        "Burn rate per window",
                        "none",
                        *burn,
                        description=(
                            "Error ratio over each alert window divided by the budget: 1 spends the budget "
                            "exactly over the SLO window; the alerts fire at "
                            + ", ".join(
                                f"{number(t.factor)}x ({duration(t.window.long_seconds)})"
                                for t in slo.tiers()
                            )
                        ),
                    ),
                    series(
                        "Error ratio",
                        "percentunit",
                        # the fastest alert's windows (a recorded ratio each)
                        *(
                            Query(f"{slo.errors_record(duration(s))}{{{REGION}}}", duration(s))
                            for s in (long_windows[0].short_seconds, long_windows[0].long_seconds)
                        ),
                    ),
                ],
            )
        )
    return rows


def traffic_row(scope: Scope) -> tuple[str, list[Panel]]:
    latency = scope.cfg.slo.latency_objective_seconds
    return (
        "Gateway traffic",
        [
            series(
                "Requests by status class",
                "reqps",
                Query(f"sum by (status_class) ({_rate(REQUESTS)})", "{{status_class}}"),
            ),
            series(
                "Segment latency",
                "s",
                *(
                    Query(
                        f"histogram_quantile({q}, sum by (le) ({_rate('streamgate_http_request_duration_seconds_bucket', regex('route', SEGMENT_ROUTES))}))",
                        f"p{int(q * 100)}",
                    )
                    for q in (0.5, 0.99)
                ),
                description=f"The latency objective is {latency:g}s (bucket le={bucket_label(latency)}).",
            ),
            series(
                "Requests in flight",
                "short",
                Query(f"sum by (color) (streamgate_http_requests_in_flight{{{REGION}}})", "{{color}}"),
            ),
            series(
                "Gateways up",
                "short",
                Query(f'sum by (color) (up{{job="{GATEWAY_JOB}", {REGION}}})', "{{color}}"),
            ),
        ],
    )


def cache_rows() -> list[tuple[str, list[Panel]]]:
    return [
        (
            "Cache tiers",
            [
                series(
                    "Hit ratio (L1, L2 or L3 answered)",
                    "percentunit",
                    Query(f"{CACHE_HIT_RATIO}{{{REGION}}}", "{{version}}"),
                ),
                series("Lookups", "ops", Query(f"{CACHE_LOOKUPS}{{{REGION}}}", "{{version}}")),
                series(
                    "Hits by tier",
                    "ops",
                    Query(f"sum by (tier) ({_rate('streamgate_cache_hits_total')})", "{{tier}}"),
                ),
                series(
                    "Misses by tier",
                    "ops",
                    Query(f"sum by (tier) ({_rate('streamgate_cache_misses_total')})", "{{tier}}"),
                ),
                series(
                    "Bytes held by tier",
                    "bytes",
                    Query(f"sum by (tier) (streamgate_cache_bytes{{{REGION}}})", "{{tier}}"),
                ),
                series(  # L1's admission (runtime/cache/l1.py): refusals are one-off reads kept from evicting
                    "L1 evictions and refusals",
                    "ops",
                    Query(
                        f"sum by (reason) ({_rate('streamgate_cache_evictions_total')})",
                        "evicted: {{reason}}",
                    ),
                    Query(f"sum ({_rate('streamgate_cache_l1_refused_total')}) or vector(0)", "refused"),
                ),
                series(
                    "Redis (L2) errors and breaker",
                    "short",
                    Query(f"sum ({_rate('streamgate_cache_l2_errors_total')}) or vector(0)", "errors/s"),
                    Query(f"max (streamgate_cache_l2_breaker_open{{{REGION}}})", "breaker open"),
                ),
                series(  # what StreamgateEnvelopeFailures reads, and the L3 tier they turn into misses
                    "Envelope failures and L3 errors",
                    "short",
                    Query(
                        f"sum by (operation, result) ({_rate(CRYPTO_OPERATIONS, CRYPTO_FAILED)})"
                        " * 60 or vector(0)",
                        "{{operation}} {{result}}/min",
                    ),
                    Query(
                        f"sum ({_rate('streamgate_cache_l3_errors_total')}) * 60 or vector(0)",
                        "L3 errors/min",
                    ),
                ),
            ],
        )
    ]


def ratelimit_rows() -> list[tuple[str, list[Panel]]]:
    metric = "streamgate_ratelimit_requests_total"
    total = f"sum ({_rate(metric)})"
    denied_only = 'result="denied"'
    denied = f"sum ({_rate(metric, denied_only)})"
    return [
        (
            "Rate limiting",
            [
                series(
                    "Decisions by result and scope",
                    "reqps",
                    Query(f"sum by (result, scope) ({_rate(metric)})", "{{result}} {{scope}}"),
                ),
                series(
                    "Rejection ratio",
                    "percentunit",
                    # `or 0 * total`: before the first denial there is no denied series; the ratio is 0.
                    Query(f"({denied} or 0 * {total}) / {total}", "rejected"),
                ),
            ],
        )
    ]


def rollout_rows(cfg: StackConfig) -> list[tuple[str, list[Panel]]]:
    by = "version, color"
    not_failed = 'status_class!="5xx"'
    ok = f"sum by ({by}) ({_rate(REQUESTS, not_failed)})"
    every = f"sum by ({by}) ({_rate(REQUESTS)})"
    return [
        (
            "Versions and colors",
            [
                series("Requests by version and color", "reqps", Query(every, "{{version}} {{color}}")),
                series(
                    "Success rate by version and color",
                    "percentunit",
                    Query(f"{ok} / {every}", "{{version}} {{color}}"),
                ),
                series(
                    "p99 latency by version and color",
                    "s",
                    Query(
                        f"histogram_quantile(0.99, sum by ({by}, le) ({_rate('streamgate_http_request_duration_seconds_bucket')}))",
                        "{{version}} {{color}}",
                    ),
                ),
                series(
                    "Gateways running by version",
                    "short",
                    Query(
                        f"count by ({by}) (last_over_time(streamgate_build_info{{{REGION}}}[{VERSIONS_LOOKBACK}]))",
                        "{{version}} {{color}}",
                    ),
                ),
            ],
        ),
        (
            "Rollouts (pushed by `streamgate rollout`)",
            [
                series(
                    "New version's weight",
                    "percent",
                    Query(f'streamgate_rollout_weight{{stack="{cfg.stack}", {REGION}}}', "{{rollout}}"),
                ),
                series(
                    "Failed analysis checks in a row",
                    "short",
                    Query(
                        f'streamgate_rollout_failed_checks{{stack="{cfg.stack}", {REGION}}}', "{{rollout}}"
                    ),
                ),
                single(
                    "Phase",
                    "none",
                    Query(
                        f'max by (phase) (streamgate_rollout_phase{{stack="{cfg.stack}", {REGION}}}) == 1',
                        "{{phase}}",
                    ),
                ),
            ],
        ),
    ]


def data_rows(cfg: StackConfig) -> list[tuple[str, list[Panel]]]:
    rpo = cfg.alerts.replication_lag_rpo_seconds
    interval = cfg.backup.interval_hours
    rows: list[tuple[str, list[Panel]]] = [
        (
            "Redis replication and failover (all regions)",
            [
                series(
                    "Replication lag",
                    "s",
                    Query(
                        "max by (region, instance) (redis_connected_slave_lag_seconds)",
                        "{{region}} {{instance}}",
                    ),
                    description=f"Seconds since the primary last heard from a replica; the RPO is {number(rpo)}s.",
                ),
                series(
                    "Replica link up",
                    "short",
                    Query("min by (region) (redis_master_link_up)", "{{region}}"),
                ),
                series(
                    "Primary by region (moves on failover)",
                    "short",
                    Query('count by (region) (redis_instance_info{role="master"})', "{{region}}"),
                ),
                series(
                    "Replicas attached to the primary",
                    "short",
                    Query("max by (region) (redis_connected_slaves)", "{{region}}"),
                ),
            ],
        ),
        (
            "Backups (pushed by `streamgate backup`)",
            [
                single(
                    "Newest backup's age",
                    "s",
                    Query(
                        f'time() - max by (region) (streamgate_backup_last_success_timestamp_seconds{{stack="{cfg.stack}", {REGION}}})',
                        "{{region}}",
                    ),
                    f"Backups run every {interval}h (alert after {interval}h + {cfg.alerts.backup_grace_minutes}m).",
                ),
            ],
        ),
    ]
    if cfg.target == "aws":  # kube-state-metrics runs only in the clusters
        hpa = f'namespace="{GATEWAY_NAMESPACE}", horizontalpodautoscaler=~"{GATEWAY_HPAS}"'
        rows.append(
            (
                "Autoscaling",
                [
                    series(
                        "Gateway replicas (current, desired, max)",
                        "short",
                        Query(
                            f"sum by (horizontalpodautoscaler) (kube_horizontalpodautoscaler_status_current_replicas{{{hpa}}})",
                            "{{horizontalpodautoscaler}} current",
                        ),
                        Query(
                            f"sum by (horizontalpodautoscaler) (kube_horizontalpodautoscaler_status_desired_replicas{{{hpa}}})",
                            "{{horizontalpodautoscaler}} desired",
                        ),
                        Query(
                            f"sum by (horizontalpodautoscaler) (kube_horizontalpodautoscaler_spec_max_replicas{{{hpa}}})",
                            "{{horizontalpodautoscaler}} max",
                        ),
                    )
                ],
            )
        )
    return rows


@dataclass(frozen=True)
class DashboardSpec:
    uid: str
    title: str
    rows: Callable[[StackConfig, Scope], list[tuple[str, list[Panel]]]]


DASHBOARDS = (
    DashboardSpec(
        DASHBOARD_UID,
        "StreamGate overview",
        lambda cfg, scope: [*slo_rows(cfg, scope), traffic_row(scope), *cache_rows()[:1], *ratelimit_rows()],
    ),
    DashboardSpec(
        "streamgate-slo", "StreamGate SLOs and burn rates", lambda cfg, scope: slo_rows(cfg, scope)
    ),
    DashboardSpec("streamgate-cache", "StreamGate cache tiers", lambda cfg, scope: cache_rows()),
    DashboardSpec("streamgate-ratelimit", "StreamGate rate limiting", lambda cfg, scope: ratelimit_rows()),
    DashboardSpec(
        "streamgate-rollouts",
        "StreamGate rollouts by version and color",
        lambda cfg, scope: rollout_rows(cfg),
    ),
    DashboardSpec(
        "streamgate-data", "StreamGate replication, failover and backups", lambda cfg, scope: data_rows(cfg)
    ),
)


def dashboards(cfg: StackConfig) -> dict[str, dict[str, Any]]:
    """uid → the Grafana dashboard JSON model, for one stack."""
    scope = Scope(cfg)
    return {spec.uid: _dashboard(spec.uid, spec.title, spec.rows(cfg, scope)) for spec in DASHBOARDS}


def panel_queries(document: dict[str, Any]) -> Iterator[tuple[str, str]]:
    """(panel title, PromQL) of every target of a dashboard."""
    for panel in document.get("panels", []):
        for target in panel.get("targets") or []:
            if target.get("expr"):
                yield panel.get("title", "?"), target["expr"]
