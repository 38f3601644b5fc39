"""Horizontal and vertical autoscaling of each gateway Deployment, from the stack's `autoscaling` section.

The HPA scales on CPU utilisation and on requests per second per pod (a Pods metric that prometheus-adapter
derives from the gateway's request counter). The VPA resizes only what the HPA does not scale on: the stack
model rejects VPA controlling CPU while the HPA uses CPU, so the two never react to the same signal.
"""

from __future__ import annotations

from typing import Any

import pulumi
import pulumi_kubernetes as k8s

from infra.config import AutoscalingConfig, Color, ScalingBehavior, StackConfig
from infra.k8s.base import COLORS, Manifest, deployment_name, labels, meta, on
from infra.k8s.workload import CONTAINER

# The counter the gateway exports, and the per-pod rate prometheus-adapter serves from it to the HPA.
REQUESTS_SERIES = "streamgate_http_requests_total"
RPS_METRIC = "streamgate_http_requests_per_second"
VPA_API_VERSION = "autoscaling.k8s.io/v1"


def behavior(policy: ScalingBehavior) -> dict[str, Any]:
    return {
        "stabilizationWindowSeconds": policy.stabilization_window_seconds,
        # Max: when several policies allow a change, take the largest (react fast, as HPA's default does).
        "selectPolicy": "Max",
        "policies": [
            {"type": p.type, "value": p.value, "periodSeconds": p.period_seconds} for p in policy.policies
        ],
    }


def hpa_metrics(scaling: AutoscalingConfig) -> list[dict[str, Any]]:
    metrics: list[dict[str, Any]] = []
    if scaling.cpu_target_utilization is not None:
        metrics.append(
            {
                "type": "Resource",
                "resource": {
                    "name": "cpu",
                    "target": {"type": "Utilization", "averageUtilization": scaling.cpu_target_utilization},
                },
            }
        )
    if scaling.requests_per_second_per_pod is not None:
        metrics.append(
            {
                "type": "Pods",
                "pods": {
                    "metric": {"name": RPS_METRIC},
                    "target": {
                        "type": "AverageValue",
                        "averageValue": str(scaling.requests_per_second_per_pod),
                    },
                },
            }
        )
    return metrics


def hpa_spec(scaling: AutoscalingConfig, target: pulumi.Input[str]) -> Manifest:
    return {
        "scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": target},
        "minReplicas": scaling.min_replicas,
        "maxReplicas": scaling.max_replicas,
        "metrics": hpa_metrics(scaling),
        "behavior": {"scaleUp": behavior(scaling.scale_up), "scaleDown": behavior(scaling.scale_down)},
    }


def vpa_spec(scaling: AutoscalingConfig, target: pulumi.Input[str]) -> Manifest:
    """The VPA spec in the CRD's own (camelCase) field names: `CustomResource` passes it through as written."""
    vpa = scaling.vpa
    return {
        "targetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": target},
        "updatePolicy": {"updateMode": vpa.mode},
        "resourcePolicy": {
            "containerPolicies": [
                {
                    "containerName": CONTAINER,
                    "controlledResources": list(vpa.controlled_resources),
                    "controlledValues": "RequestsAndLimits",
                    "minAllowed": {
                        r: vpa.min_allowed[r] for r in vpa.controlled_resources if r in vpa.min_allowed
                    },
                    "maxAllowed": {
                        r: vpa.max_allowed[r] for r in vpa.controlled_resources if r in vpa.max_allowed
                    },
                }
            ]
        },
    }


class Autoscaling(pulumi.ComponentResource):
    hpas: dict[Color, k8s.autoscaling.v2.HorizontalPodAutoscaler]
    vpas: dict[Color, k8s.apiextensions.CustomResource]

    def __init__(
        self,
        name: str,
        cfg: StackConfig,
        provider: k8s.Provider,
        deployments: dict[Color, k8s.apps.v1.Deployment],
        vpa_release: pulumi.Resource,
        opts: pulumi.ResourceOptions | None = None,
    ) -> None:
        super().__init__("streamgate:k8s:Autoscaling", name, None, opts)
        scaling = cfg.autoscaling
        # Both colors scale: the live one takes traffic, the idle one is the canary / blue-green standby.
        self.hpas, self.vpas = {}, {}
        for color in COLORS:
            target = deployments[color]
            metadata = meta(
                deployment_name(color), target.metadata.namespace, labels(cfg, "autoscaling", color)
            )
            self.hpas[color] = k8s.autoscaling.v2.HorizontalPodAutoscaler(
                f"{name}-{color}-hpa",
                metadata=metadata,
                spec=hpa_spec(scaling, target.metadata.name),
                opts=on(self, provider),
            )
            # The VPA kind only exists once the VPA chart has installed its CRD (pulumi-kubernetes #1712).
            self.vpas[color] = k8s.apiextensions.CustomResource(
                f"{name}-{color}-vpa",
                api_version=VPA_API_VERSION,
                kind="VerticalPodAutoscaler",
                metadata=metadata,
                spec=vpa_spec(scaling, target.metadata.name),
                opts=on(self, provider, depends_on=[vpa_release]),
            )
        self.register_outputs({})
