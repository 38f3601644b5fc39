"""Builds the Kubernetes layer of one region: the cluster's provider, then add-ons, workload, autoscaling and
monitoring, each a component parented under the region."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pulumi
import pulumi_aws as aws
import pulumi_kubernetes as k8s

from infra.alerts import RULE_NAME, rule_groups
from infra.aws.cache import RegionalRedis
from infra.aws.cluster import Cluster
from infra.aws.storage import RegionStorage
from infra.config import RegionConfig, StackConfig
from infra.k8s.addons import INGRESS_NGINX, KUBE_PROMETHEUS_STACK, Addons
from infra.k8s.autoscaling import Autoscaling
from infra.k8s.base import cluster_provider
from infra.k8s.observability import Observability
from infra.k8s.workload import Workload


@dataclass(frozen=True)
class KubernetesLayer:
    provider: k8s.Provider
    addons: Addons
    workload: Workload
    autoscaling: Autoscaling
    observability: Observability

    def outputs(self) -> dict[str, Any]:
        """What rollout automation needs to find the objects it shifts traffic with."""
        wl = self.workload
        return {
            "namespace": wl.namespace.metadata.name,
            "service": wl.service.metadata.name,
            "colorServices": {c: s.metadata.name for c, s in wl.color_services.items()},
            "deployments": {c: d.metadata.name for c, d in wl.deployments.items()},
            "ingress": wl.ingress.metadata.name,
            "canaryIngress": wl.canary_ingress.metadata.name,
            "liveColor": wl.cfg.workload.live_color,
            "ingressHostname": wl.ingress_hostname,
        }


def build_kubernetes(
    cfg: StackConfig,
    region: RegionConfig,
    parent: pulumi.Resource,
    cluster: Cluster,
    key: aws.kms.Key,
    storage: RegionStorage,
    redis: RegionalRedis,
    redis_auth_token: pulumi.Input[str],
) -> KubernetesLayer:
    name = region.name
    provider = cluster_provider(f"{name}-k8s", cluster, parent)
    opts = pulumi.ResourceOptions(parent=parent)
    addons = Addons(
        f"{name}-addons",
        cfg,
        region,
        provider,
        cluster.oidc_provider,
        storage.backup.bucket,
        key,
        redis.group.primary_endpoint_address,
        redis_auth_token,
        opts,
    )
    workload = Workload(
        f"{name}-gateway",
        cfg,
        region,
        provider,
        cluster.oidc_provider,
        storage.content.bucket,
        key,
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
    return KubernetesLayer(provider, addons, workload, autoscaling, observability)
