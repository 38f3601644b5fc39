"""What every Kubernetes component shares: the cluster's provider, names and the recommended labels."""

from __future__ import annotations

from typing import Any

import pulumi
import pulumi_kubernetes as k8s

from infra.aws.cluster import Cluster
from infra.config import Color, StackConfig
from infra.outputs import MONITORING_NAMESPACE

APP = "gateway"
PART_OF = "streamgate"
NAMESPACE = "streamgate"
COLORS: tuple[Color, Color] = ("blue", "green")
COLOR_LABEL = "color"
# Pyroscope (a release of the add-ons in the monitoring namespace): where the gateways' profiling agents push.
PYROSCOPE_RELEASE = "pyroscope"
PYROSCOPE_URL = f"http://{PYROSCOPE_RELEASE}.{MONITORING_NAMESPACE}.svc.cluster.local:4040"


def cluster_provider(name: str, cluster: Cluster, parent: pulumi.Resource) -> k8s.Provider:
    """One provider per cluster, from its kubeconfig. It waits for the node group: Helm releases and
    Deployments only become ready once there are nodes to schedule on. Parented under the region so the
    plan attributes it (and everything on it) to that region."""
    return k8s.Provider(
        name,
        kubeconfig=cluster.kubeconfig,
        enable_server_side_apply=True,
        opts=pulumi.ResourceOptions(parent=parent, depends_on=[cluster.node_group]),
    )


def on(parent: pulumi.Resource, provider: k8s.Provider, **kwargs: Any) -> pulumi.ResourceOptions:
    """Options for a Kubernetes child: parented (the plan groups it) and on its cluster's provider."""
    return pulumi.ResourceOptions(parent=parent, provider=provider, **kwargs)


def deployment_name(color: Color) -> str:
    return f"{APP}-{color}"


def selector(color: Color | None = None) -> dict[str, str]:
    """Pod selector labels: stable for a Deployment's life (a selector is immutable), so no version."""
    labels = {"app.kubernetes.io/name": APP, "app.kubernetes.io/part-of": PART_OF}
    if color is not None:
        labels |= {"app.kubernetes.io/instance": deployment_name(color), COLOR_LABEL: color}
    return labels


def labels(cfg: StackConfig, component: str, color: Color | None = None) -> dict[str, str]:
    """`app.kubernetes.io/*` labels (the convention for every object) plus `color` for color-bound ones."""
    version = cfg.workload.tag_of(color) if color else cfg.workload.tag
    return {
        "app.kubernetes.io/name": APP,
        "app.kubernetes.io/instance": deployment_name(color) if color else APP,
        "app.kubernetes.io/version": version,
        "app.kubernetes.io/component": component,
        "app.kubernetes.io/part-of": PART_OF,
        "app.kubernetes.io/managed-by": "pulumi",
        **({COLOR_LABEL: color} if color else {}),
    }


# Kubernetes object parts are written in the API's own camelCase field names, exactly as manifests are, so
# the plan shows (and tests validate against the OpenAPI schema) what the API server receives. The SDK's
# TypedDicts use snake_case names instead, hence this loose type.
Manifest = Any


def meta(
    name: str,
    namespace: pulumi.Input[str] | None,
    object_labels: dict[str, str],
    annotations: dict[str, pulumi.Input[str]] | None = None,
) -> Manifest:
    """ObjectMeta of a namespaced (or, without namespace, cluster-scoped) object."""
    metadata: dict[str, Any] = {"name": name, "labels": object_labels}
    if namespace is not None:
        metadata["namespace"] = namespace
    if annotations:
        metadata["annotations"] = annotations
    return metadata
