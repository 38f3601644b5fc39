"""Alert rules as code: SLO burn-rate and platform alerts defined once, rendered to a PrometheusRule per
cluster, to plain rule files for the local platform, and to an Alertmanager config."""

from infra.alerts.alertmanager import alertmanager_config
from infra.alerts.errors import AlertsError, UnknownRegionError
from infra.alerts.render import RULE_NAME, definitions, prometheus_rule, rule_groups, rules_file

__all__ = [
    "RULE_NAME",
    "AlertsError",
    "UnknownRegionError",
    "alertmanager_config",
    "definitions",
    "prometheus_rule",
    "rule_groups",
    "rules_file",
]
