"""Alert rules as code: SLO burn-rate and platform alerts defined once, rendered to a PrometheusRule per
cluster, to plain rule files for the local platform, and to an Alertmanager config.

The names below load on first use (PEP 562): `streamgate alerts <TAB>` imports the package's cli module,
which must not pull in the stack model and every rule (tests/benchmarks/bench_cli.py)."""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from infra.alerts.alertmanager import alertmanager_config
    from infra.alerts.errors import AlertsError, UnknownRegionError
    from infra.alerts.render import RULE_NAME, definitions, prometheus_rule, rule_groups, rules_file

_HOMES = {
    "alertmanager_config": "infra.alerts.alertmanager",
    "AlertsError": "infra.alerts.errors",
    "UnknownRegionError": "infra.alerts.errors",
    "RULE_NAME": "infra.alerts.render",
    "definitions": "infra.alerts.render",
    "prometheus_rule": "infra.alerts.render",
    "rule_groups": "infra.alerts.render",
    "rules_file": "infra.alerts.render",
}

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


def __getattr__(name: str) -> Any:
    if name not in _HOMES:
        raise AttributeError(f"module 'infra.alerts' has no attribute {name!r}")
    return getattr(importlib.import_module(_HOMES[name]), name)
