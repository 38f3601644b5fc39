"""Monitoring objects in one cluster: the gateway's scrape config, and the seam for alert rules.

Seam for the alert-rules issue: `Observability.add_rule_groups(name, groups)` creates one
`monitoring.coreos.com/v1` PrometheusRule in this cluster from Prometheus rule groups (the same
`{"name": ..., "rules": [...]}` mappings a plain rule file holds). It carries the label that
kube-prometheus-stack's ruleSelector matches, and it waits for that chart, which installs the CRD.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import pulumi
import pulumi_kubernetes as k8s

from infra.config import StackConfig
from infra.k8s.addons import KUBE_PROMETHEUS_STACK, PROMETHEUS_SELECTOR
from infra.k8s.base import COLOR_LABEL, labels, on, selector
from infra.k8s.workload import PORT_NAME

MONITORING_API_VERSION = "monitoring.coreos.com/v1"
RULES_NAMESPACE = KUBE_PROMETHEUS_STACK.namespace
GATEWAY_JOB = "streamgate-gateway"


def rule_labels(cfg: StackConfig) -> dict[str, str]:
    """Labels of every PrometheusRule: ours, plus the one kube-prometheus-stack's ruleSelector matches."""
    return {**labels(cfg, "alerting"), **PROMETHEUS_SELECTOR}


def prometheus_rule_spec(groups: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """A PrometheusRule spec: the rule groups as written (promtool checks `spec` as a plain rule file)."""
    if not groups:
        raise ValueError("a PrometheusRule needs at least one rule group")
    names = [g.get("name") for g in groups]
    if len(set(names)) != len(names) or not all(names):
        raise ValueError(f"rule groups need distinct, non-empty names; got {names}")
    return {"groups": [dict(g) for g in groups]}


class Observability(pulumi.ComponentResource):
    pod_monitor: k8s.apiextensions.CustomResource
    rules: list[k8s.apiextensions.CustomResource]

    def __init__(
        self,
        name: str,
        cfg: StackConfig,
        provider: k8s.Provider,
        namespace: pulumi.Input[str],
        monitoring_release: pulumi.Resource,
        opts: pulumi.ResourceOptions | None = None,
        *,
        region: str | None = None,
    ) -> None:
        super().__init__("streamgate:k8s:Observability", name, None, opts)
        self.cfg, self.provider, self.name = cfg, provider, name
        self.monitoring_release = monitoring_release
        self.rules = []
        # Scrape the gateway pods directly (a PodMonitor): per-color Services and the stable Service overlap,
        # so a ServiceMonitor on them would scrape each pod twice.
        self.pod_monitor = k8s.apiextensions.CustomResource(
            f"{name}-gateway",
            api_version=MONITORING_API_VERSION,
            kind="PodMonitor",
            metadata={
                "name": "gateway",
                "namespace": namespace,
                "labels": {**labels(cfg, "monitoring"), **PROMETHEUS_SELECTOR},
            },
            spec={
                "selector": {"matchLabels": selector()},
                "podMetricsEndpoints": [
                    {
                        "port": PORT_NAME,
                        "path": "/metrics",
                        "interval": f"{cfg.kind.scrape_interval_seconds(cfg)}s",  # what analysis expects
                        # The alert rules and rollouts select `job="streamgate-gateway"`, on every target;
                        # a PodMonitor would otherwise name the job `<namespace>/<monitor>`.
                        # The gateway's own version/color/region labels win over target labels...
                        "honorLabels": True,
                        "relabelings": [
                            {"targetLabel": "job", "replacement": GATEWAY_JOB, "action": "replace"},
                            # ...and `up` gets color and region too: rollout analysis counts the canary's
                            # targets that are up (infra/automation/rollout/analysis.py, up_selector).
                            {
                                "sourceLabels": [f"__meta_kubernetes_pod_label_{COLOR_LABEL}"],
                                "targetLabel": "color",
                                "action": "replace",
                            },
                            *(
                                [{"targetLabel": "region", "replacement": region, "action": "replace"}]
                                if region
                                else []
                            ),
                        ],
                    }
                ],
            },
            opts=on(self, provider, depends_on=[monitoring_release]),
        )
        self.register_outputs({})

    def add_rule_groups(
        self, name: str, groups: Sequence[Mapping[str, Any]]
    ) -> k8s.apiextensions.CustomResource:
        """One PrometheusRule named `name` holding `groups`, in the monitoring namespace of this cluster."""
        rule = k8s.apiextensions.CustomResource(
            f"{self.name}-{name}",
            api_version=MONITORING_API_VERSION,
            kind="PrometheusRule",
            metadata={"name": name, "namespace": RULES_NAMESPACE, "labels": rule_labels(self.cfg)},
            spec=prometheus_rule_spec(groups),
            opts=on(self, self.provider, depends_on=[self.monitoring_release]),
        )
        self.rules.append(rule)
        return rule
