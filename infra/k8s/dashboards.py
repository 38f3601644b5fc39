"""The StreamGate dashboards in one cluster: a ConfigMap per dashboard in the monitoring namespace, labelled
for kube-prometheus-stack's Grafana sidecar (which loads them without a restart)."""

from __future__ import annotations

import json

import pulumi
import pulumi_kubernetes as k8s

from infra.config import StackConfig
from infra.dashboards import dashboards
from infra.k8s.addons import DASHBOARD_LABEL, KUBE_PROMETHEUS_STACK
from infra.k8s.base import labels, on


class Dashboards(pulumi.ComponentResource):
    config_maps: list[k8s.core.v1.ConfigMap]

    def __init__(
        self,
        name: str,
        cfg: StackConfig,
        provider: k8s.Provider,
        monitoring_release: pulumi.Resource,
        opts: pulumi.ResourceOptions | None = None,
    ) -> None:
        super().__init__("streamgate:k8s:Dashboards", name, None, opts)
        self.config_maps = [
            k8s.core.v1.ConfigMap(
                f"{name}-{uid}",
                metadata={
                    "name": f"dashboard-{uid}",
                    "namespace": KUBE_PROMETHEUS_STACK.namespace,
                    "labels": {**labels(cfg, "dashboards"), **DASHBOARD_LABEL},
                    "annotations": {"grafana_folder": "StreamGate"},
                },
                data={f"{uid}.json": json.dumps(document, sort_keys=True)},
                opts=on(self, provider, depends_on=[monitoring_release]),
            )
            for uid, document in dashboards(cfg).items()
        ]
        self.register_outputs({"dashboards": [c.metadata.name for c in self.config_maps]})
