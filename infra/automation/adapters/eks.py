"""Cloud capacity floors: the EKS node group (`UpdateNodegroupConfig` on its scaling config) and the
gateway's HorizontalPodAutoscaler (`minReplicas`), per region. Floors only go up here; `pulumi up` (which
declares min/desired) brings them back down after the incident.

Node groups are tested against moto's server. The HPA part uses the Kubernetes API (the `kubernetes`
client) and cannot be exercised live on this machine (no API server); its patch is a pure function.
"""

from __future__ import annotations

import asyncio
import math
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from infra import http
from infra.automation.adapters.failover_ports import Capacity
from infra.automation.adapters.local_region import served_by
from infra.automation.errors import AutomationError

POOL_LABEL = ("streamgate/pool", "general")  # infra/aws/cluster.py labels the gateway's node group


class CapacityError(AutomationError):
    """A floor could not be read or raised."""


@dataclass(frozen=True)
class NodeScaling:
    nodegroup: str
    min_size: int
    max_size: int
    desired: int


def raised(scaling: NodeScaling, nodes: int) -> NodeScaling:
    """The scaling config with min (and desired) at least `nodes`, within max (pure)."""
    floor = min(max(scaling.min_size, nodes), scaling.max_size)
    return NodeScaling(scaling.nodegroup, floor, scaling.max_size, max(scaling.desired, floor))


def hpa_floor_patch(min_replicas: int, max_replicas: int, minimum: int) -> dict[str, Any] | None:
    """The merge patch raising an HPA's minReplicas to `minimum` (within max); None when nothing changes."""
    floor = min(max(min_replicas, minimum), max_replicas)
    return None if floor == min_replicas else {"spec": {"minReplicas": floor}}


class EksNodeGroups:
    def __init__(self, clients: Mapping[str, Any], clusters: Mapping[str, str]) -> None:  # boto3 EKS
        self.clients = dict(clients)
        self.clusters = dict(clusters)

    def scaling(self, region: str) -> NodeScaling:
        client, cluster = self.clients[region], self.clusters[region]
        for name in client.list_nodegroups(clusterName=cluster)["nodegroups"]:
            group = client.describe_nodegroup(clusterName=cluster, nodegroupName=name)["nodegroup"]
            if group.get("labels", {}).get(POOL_LABEL[0]) == POOL_LABEL[1]:
                cfg: Any = group["scalingConfig"]
                return NodeScaling(name, int(cfg["minSize"]), int(cfg["maxSize"]), int(cfg["desiredSize"]))
        raise CapacityError(f"{region}: no node group labelled {POOL_LABEL[0]}={POOL_LABEL[1]} in {cluster}")

    def raise_to(self, region: str, nodes: int) -> NodeScaling:
        current = self.scaling(region)
        wanted = raised(current, nodes)
        if wanted != current:
            self.clients[region].update_nodegroup_config(
                clusterName=self.clusters[region],
                nodegroupName=current.nodegroup,
                scalingConfig={
                    "minSize": wanted.min_size,
                    "maxSize": wanted.max_size,
                    "desiredSize": wanted.desired,
                },
            )
        return wanted


class HpaFloors:
    """The live color's HPA (`gateway-<color>` in the gateway's namespace) in each region's cluster."""

    def __init__(self, api_clients: Mapping[str, Any], namespace: str, name: str) -> None:
        self.api_clients = dict(api_clients)  # region → kubernetes.client.ApiClient
        self.namespace = namespace
        self.name = name

    def _api(self, region: str) -> Any:
        from kubernetes import client

        return client.AutoscalingV2Api(self.api_clients[region])

    def read(self, region: str) -> tuple[int, int, int]:
        """(current replicas, minReplicas, maxReplicas)."""
        hpa = self._api(region).read_namespaced_horizontal_pod_autoscaler(self.name, self.namespace)
        current = (hpa.status.current_replicas if hpa.status else None) or 0
        return int(current), int(hpa.spec.min_replicas or 1), int(hpa.spec.max_replicas)

    def raise_to(self, region: str, minimum: int) -> None:
        _, low, high = self.read(region)
        patch = hpa_floor_patch(low, high, minimum)
        if patch is not None:
            self._api(region).patch_namespaced_horizontal_pod_autoscaler(self.name, self.namespace, patch)


class CloudCapacity:
    """Capacity in gateway pods (the HPA's view); raising it also raises the node group under it."""

    def __init__(self, nodes: EksNodeGroups, hpas: HpaFloors, pods_per_node: int) -> None:
        self.nodes, self.hpas, self.pods_per_node = nodes, hpas, pods_per_node

    def _capacity(self, region: str) -> Capacity:
        current, low, high = self.hpas.read(region)
        scaling = self.nodes.scaling(region)
        detail = f"{current} pods (min {low}, max {high}); nodes {scaling.desired} (min {scaling.min_size})"
        return Capacity(region, current, low, min(high, scaling.max_size * self.pods_per_node), detail)

    async def capacity(self, region: str) -> Capacity:
        return await asyncio.to_thread(self._capacity, region)

    def _raise(self, region: str, minimum: int) -> Capacity:
        self.nodes.raise_to(region, math.ceil(minimum / self.pods_per_node))
        self.hpas.raise_to(region, minimum)
        return self._capacity(region)

    async def raise_floor(self, region: str, minimum: int) -> Capacity:
        return await asyncio.to_thread(self._raise, region, minimum)


class HttpSmoke:
    """GET <base URL><path>: answered with 200 by the expected region (its `region` in the JSON body or
    the region header)."""

    def __init__(self, base_url: str, path: str, timeout: float = 5.0) -> None:
        self.url = base_url.rstrip("/") + path
        self.timeout = timeout

    async def check(self, region: str) -> tuple[bool, str]:
        started = time.monotonic()
        status, headers, body, _ = await asyncio.to_thread(http.get, self.url, self.timeout)
        served = served_by(headers, body)
        elapsed = (time.monotonic() - started) * 1000
        return (
            status == 200 and served == region,
            f"GET {self.url} → {status} from {served} in {elapsed:.0f} ms",
        )
