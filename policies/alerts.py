"""Alert rules (PrometheusRule objects): every alert says how urgent it is and where its runbook lives."""

from __future__ import annotations

from pulumi_policy import StackValidationArgs

from policies.base import UNKNOWN, Report, StackIndex, get, items, stack_policy

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
