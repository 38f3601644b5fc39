"""Builds the Kubernetes layer of one region: the cluster's provider, then add-ons, workload, autoscaling and
monitoring, each a component parented under the region."""

from __future__ import annotations

from dataclasses import dataclass

import pulumi
import pulumi_kubernetes as k8s

from infra.alerts import RULE_NAME, rule_groups
from infra.config import RegionConfig, StackConfig
from infra.k8s.addons import INGRESS_NGINX, KUBE_PROMETHEUS_STACK, Addons
from infra.k8s.autoscaling import Autoscaling
from infra.k8s.base import cluster_provider
from infra.k8s.dashboards import Dashboards
from infra.k8s.inputs import ClusterInputs
from infra.k8s.observability import Observability
from infra.k8s.workload import Workload

__all__ = ["ClusterInputs", "KubernetesLayer", "build_kubernetes"]


@dataclass(frozen=True)
class KubernetesLayer:
    provider: k8s.Provider
    addons: Addons
    workload: Workload
    autoscaling: Autoscaling
    observability: Observability


def build_kubernetes(
    cfg: StackConfig, region: RegionConfig, parent: pulumi.Resource, inputs: ClusterInputs
) -> KubernetesLayer:
    name = region.name
    provider = cluster_provider(f"{name}-k8s", inputs.cluster, parent)
    opts = pulumi.ResourceOptions(parent=parent)
    addons = Addons(f"{name}-addons", cfg, region, provider, inputs, opts)
    workload = Workload(
        f"{name}-gateway",
        cfg,
        region,
        provider,
        inputs,
        addons.ingress_controller,
        opts,
        ingress_from=(INGRESS_NGINX.namespace, KUBE_PROMETHEUS_STACK.namespace),
    )
    autoscaling = Autoscaling(f"{name}-autoscaling", cfg, provider, workload.deployments, addons.vpa, opts)
    observability = Observability(
        f"{name}-observability",
        cfg,
        provider,
        workload.namespace.metadata.name,
        addons.monitoring,
        opts,
        region=region.name,
    )
    observability.add_rule_groups(RULE_NAME, rule_groups(cfg, region.name))
    Dashboards(f"{name}-dashboards", cfg, provider, addons.monitoring, opts)
    return KubernetesLayer(provider, addons, workload, autoscaling, observability)
