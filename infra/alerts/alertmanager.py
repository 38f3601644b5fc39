"""The Alertmanager config: a route per team, below it one per severity, and inhibitions.

Receivers are named `<team>-<severity>` (plus `default` for alerts of a team we do not know). On a cloud stack
their integrations come from the stack (`alerts.receivers`): pages go to PagerDuty (and a copy to Slack),
tickets to Slack; `info` reaches no one. The keys are never in the config: it names files
(`routing_key_file`, `api_url_file`) in the Secret `RECEIVER_SECRET`, which Alertmanager mounts beside it, so
the config can be shown in plans and reviews. A receiver given no integration drops what it receives.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from infra.alerts.errors import AlertsError
from infra.alerts.model import Impact, Severity
from infra.alerts.promql import Scope
from infra.alerts.render import definitions, to_yaml
from infra.alerts.slo import slos
from infra.config import StackConfig

if TYPE_CHECKING:
    import pulumi

    from infra.stack_secrets import StackSecrets

DEFAULT_RECEIVER = "default"
GROUP_BY = ("alertname", "region")
# kube-prometheus-stack mounts each Secret of `alertmanagerSpec.secrets` at /etc/alertmanager/secrets/<name>.
RECEIVER_SECRET = "alertmanager-receivers"
SECRETS_MOUNT = f"/etc/alertmanager/secrets/{RECEIVER_SECRET}"
PAGERDUTY_KEY = "pagerduty-routing-key"
SLACK_KEY = "slack-webhook-url"


@dataclass(frozen=True)
class Timing:
    """How soon the first notification of a group goes out, how often it updates and repeats."""

    group_wait: str
    group_interval: str
    repeat_interval: str


TIMINGS = {
    Severity.PAGE: Timing("30s", "5m", "1h"),
    Severity.TICKET: Timing("2m", "15m", "12h"),
    Severity.INFO: Timing("5m", "30m", "24h"),
}
# What a notification says: the alert, its region, and where to act (the rules' annotations carry the links).
SLACK_TITLE = "[{{ .Status | toUpper }}] {{ .CommonLabels.alertname }} in {{ .CommonLabels.region }}"
SLACK_TEXT = (
    "{{ range .Alerts }}*{{ .Annotations.summary }}*\n{{ .Annotations.description }}\n"
    "Runbook: {{ .Annotations.runbook_url }}\n{{ if .Annotations.dashboard_url }}"
    "Dashboard: {{ .Annotations.dashboard_url }}\n{{ end }}{{ end }}"
)


def receiver_name(team: str, severity: Severity) -> str:
    return f"{team}-{severity.value}"


def teams(cfg: StackConfig) -> list[str]:
    """Teams that own alerts of this stack (every alert carries `team`)."""
    return sorted({cfg.alerts.team})


def receiver_files(cfg: StackConfig, root: str = SECRETS_MOUNT) -> dict[str, dict[str, Any]]:
    """The stack's integrations per receiver, reading their keys from files under `root`."""
    receivers = cfg.alerts.receivers
    slack: list[dict[str, Any]] = []
    if receivers.slack is not None:
        slack = [
            {
                "api_url_file": f"{root}/{SLACK_KEY}",
                "channel": receivers.slack.channel,
                "send_resolved": True,
                "title": SLACK_TITLE,
                "text": SLACK_TEXT,
            }
        ]
    pages: dict[str, Any] = {"slack_configs": slack} if slack else {}
    if receivers.pagerduty is not None:
        pages["pagerduty_configs"] = [
            {
                "routing_key_file": f"{root}/{PAGERDUTY_KEY}",
                "severity": receivers.pagerduty.severity,
                "send_resolved": True,
                "description": "{{ .CommonLabels.alertname }} in {{ .CommonLabels.region }}",
                "links": [{"href": "{{ (index .Alerts 0).Annotations.runbook_url }}", "text": "Runbook"}],
            }
        ]
    configured: dict[str, dict[str, Any]] = {}
    for team in teams(cfg):
        if pages:
            configured[receiver_name(team, Severity.PAGE)] = pages
        if slack:
            configured[receiver_name(team, Severity.TICKET)] = {"slack_configs": slack}
    return configured


def receiver_secret_data(secrets: StackSecrets) -> dict[str, pulumi.Output[str]]:
    """The Secret `RECEIVER_SECRET`'s keys: the integrations' credentials the config's files name."""
    data = {PAGERDUTY_KEY: secrets.pagerduty_routing_key, SLACK_KEY: secrets.slack_webhook_url}
    return {key: value for key, value in data.items() if value is not None}


def alertmanager_document(
    cfg: StackConfig,
    receivers: Mapping[str, Mapping[str, Any]] | None = None,
    extra_teams: Iterable[str] = (),
) -> dict[str, Any]:
    """The config as a mapping. `receivers` maps receiver names (`<team>-<severity>`, `default`) to their
    integrations, e.g. `{"streaming-platform-page": {"pagerduty_configs": [...]}}`."""
    owners = sorted({*teams(cfg), *extra_teams})
    names = [DEFAULT_RECEIVER, *(receiver_name(t, s) for t in owners for s in Severity)]
    given = dict(receivers or {})
    unknown = sorted(set(given) - set(names))
    if unknown:
        raise AlertsError(f"unknown receivers {unknown}; known: {', '.join(names)}")
    return {
        "global": {"resolve_timeout": "5m"},
        "route": {
            "receiver": DEFAULT_RECEIVER,
            "group_by": list(GROUP_BY),
            **_timing(TIMINGS[Severity.TICKET]),
            "routes": [_team_route(team) for team in owners],
        },
        "inhibit_rules": inhibit_rules(cfg),
        "receivers": [{"name": name, **given.get(name, {})} for name in names],
    }


def alertmanager_config(
    cfg: StackConfig,
    receivers: Mapping[str, Mapping[str, Any]] | None = None,
    extra_teams: Iterable[str] = (),
) -> str:
    """The config as YAML; receivers default to the stack's own (`receiver_files`)."""
    document = alertmanager_document(
        cfg, receiver_files(cfg) if receivers is None else receivers, extra_teams
    )
    header = f"# Alertmanager config of stack {cfg.stack}, generated by infra/alerts. Do not edit.\n"
    return header + to_yaml(document)


def _timing(timing: Timing) -> dict[str, str]:
    return {
        "group_wait": timing.group_wait,
        "group_interval": timing.group_interval,
        "repeat_interval": timing.repeat_interval,
    }


def _team_route(team: str) -> dict[str, Any]:
    return {
        "matchers": [f'team="{team}"'],
        "receiver": receiver_name(team, Severity.TICKET),
        "routes": [
            {
                "matchers": [f'severity="{severity.value}"'],
                "receiver": receiver_name(team, severity),
                **_timing(TIMINGS[severity]),
            }
            for severity in Severity
        ],
    }


def inhibit_rules(cfg: StackConfig) -> list[dict[str, Any]]:
    burn_alerts = sorted({slo.alert_name for slo in slos(Scope(cfg))})
    region_down = sorted({a.name for g in definitions(cfg) for a in g.alerts if a.impact is Impact.REGION})
    return [
        {
            # A region whose gateway is gone: its SLO burn, cache, event and canary alerts say nothing new.
            "source_matchers": [f'alertname=~"{"|".join(region_down)}"', f'impact="{Impact.REGION.value}"'],
            "target_matchers": [f'impact="{Impact.SERVICE.value}"'],
            "equal": ["region"],
        },
        {
            # A fast burn that pages already covers the slow burn of the same SLO in that region.
            "source_matchers": [f'alertname=~"{"|".join(burn_alerts)}"', f'severity="{Severity.PAGE.value}"'],
            "target_matchers": [
                f'alertname=~"{"|".join(burn_alerts)}"',
                f'severity="{Severity.TICKET.value}"',
            ],
            "equal": ["alertname", "region"],
        },
    ]
