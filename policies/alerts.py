"""Alerts: every alert rule says how urgent it is and where its runbook lives, and each cluster's
Alertmanager routes pages and tickets to real receivers whose keys stay out of the config."""

from __future__ import annotations

from typing import Any

from pulumi_policy import ResourceValidationArgs, StackValidationArgs

from policies.base import (
    ENVIRONMENT_PROPERTY,
    UNKNOWN,
    Report,
    StackIndex,
    environment_of,
    get,
    is_list,
    items,
    resource_policy,
    stack_policy,
)

PROMETHEUS_RULE = "kubernetes:monitoring.coreos.com/v1:PrometheusRule"
# The project's scheme (infra/alerts): who is interrupted. Alertmanager routes on it, so a typo never pages.
DEFAULT_SEVERITIES = ("page", "ticket", "info")


@stack_policy(
    "alert-rules-annotated",
    "Every alert rule needs a severity label Alertmanager routes on (page, ticket or info) and an http(s) "
    "runbook_url annotation: add both where the rule is defined (infra/alerts).",
    config={
        "severities": {
            "type": "array",
            "items": {"type": "string"},
            "default": list(DEFAULT_SEVERITIES),
            "description": "The severity label values alerts may use.",
        }
    },
)
def alert_rules_annotated(args: StackValidationArgs, report: Report) -> None:
    severities = {str(s) for s in items(get(args.get_config(), "severities"))} or set(DEFAULT_SEVERITIES)
    for rule_object in StackIndex(args.resources).of_type(PROMETHEUS_RULE):
        for group in items(get(rule_object.props, "spec", "groups")):
            for rule in items(get(group, "rules")):
                alert = get(rule, "alert")
                if alert is None or alert is UNKNOWN:
                    continue  # recording rules need neither
                where = f"{rule_object.name}: group {get(group, 'name', default='?')} alert {alert}"
                severity = get(rule, "labels", "severity")
                if severity is not UNKNOWN and severity not in severities:
                    shown = "no severity label" if severity is None else f"severity {severity!r}"
                    report(f"{where} has {shown} (one of {', '.join(sorted(severities))})", rule_object.urn)
                runbook = get(rule, "annotations", "runbook_url")
                if runbook is not UNKNOWN and not (
                    isinstance(runbook, str) and runbook.startswith(("https://", "http://"))
                ):
                    report(f"{where} has no http(s) runbook_url annotation", rule_object.urn)


HELM_RELEASE = "kubernetes:helm.sh/v3:Release"
MONITORING_CHART = "kube-prometheus-stack"
# Integrations and the fields that would carry their credentials inline (the *_file forms are the safe ones).
INTEGRATIONS = {
    "pagerduty_configs": ("routing_key", "service_key"),
    "slack_configs": ("api_url",),
    "webhook_configs": ("url",),
    "opsgenie_configs": ("api_key",),
}


def _receiver_for(route: Any, severity: str) -> str | None:
    """The receiver a `severity` alert of any team reaches: the deepest route whose matchers select it."""
    chosen = get(route, "receiver")
    for child in items(get(route, "routes")):
        matchers = [str(m) for m in items(get(child, "matchers"))]
        if all(not m.startswith("severity") or m == f'severity="{severity}"' for m in matchers):
            deeper = _receiver_for(child, severity)
            if deeper is not None:
                return deeper
    return chosen if isinstance(chosen, str) else None


@resource_policy(
    "alertmanager-receivers",
    "Each cluster's Alertmanager must send severity=page and severity=ticket alerts to a receiver with an "
    "integration, reading its keys from mounted files (routing_key_file, api_url_file), never inline: set "
    "alerts.receivers in the stack and the secrets it names.",
    [HELM_RELEASE],
    config=ENVIRONMENT_PROPERTY,
)
def alertmanager_receivers(args: ResourceValidationArgs, report: Report) -> None:
    # The local stack is never deployed with Pulumi: its platform's Alertmanager has no one to page (its
    # policy config names the environment: Helm releases carry no AWS provider tags to tell).
    if get(args.props, "chart") != MONITORING_CHART or environment_of(args) == "local":
        return
    alertmanager = get(args.props, "values", "alertmanager")
    config = get(alertmanager, "config")
    if config is UNKNOWN:
        return
    if not isinstance(get(config, "route"), dict) and get(config, "route") is None:
        report("Alertmanager has no routing config (alertmanager.config)")
        return
    receivers = {str(get(r, "name")): r for r in items(get(config, "receivers"))}
    for severity in ("page", "ticket"):
        name = _receiver_for(get(config, "route"), severity)
        receiver = receivers.get(str(name))
        if receiver is None or not any(
            is_list(get(receiver, kind)) and items(get(receiver, kind)) for kind in INTEGRATIONS
        ):
            report(f"severity={severity} alerts reach receiver {name or 'none'!s}, which notifies no one")
    for name, receiver in receivers.items():
        for kind, inline_fields in INTEGRATIONS.items():
            for integration in items(get(receiver, kind)):
                for field in inline_fields:
                    if get(integration, field) is not None:
                        report(f"receiver {name} holds its {field} inline in the config: use {field}_file")
