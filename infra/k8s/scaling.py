"""Predictive scaling in one cluster: a CronJob that runs `streamgate scale apply --in-cluster` every
`scale.scheduleMinutes` (infra/automation/scale), raising the live color's HPA floor ahead of the forecast.

Least privilege, by RBAC: its service account may get and patch the two gateway HPAs by name (nothing else
in the namespace), get the cluster's Prometheus and PUT to its Pushgateway through the API server's service
proxy, by service name (nothing else in `monitoring`). No cloud credentials and no stack outputs: the stack
reaches the job as a ConfigMap holding the stack file as the model validated it, without its secrets.
"""

from __future__ import annotations

from collections.abc import Sequence

import pulumi
import pulumi_kubernetes as k8s
import yaml

from infra.config import Color, StackConfig, stack_document
from infra.k8s.base import COLORS, CONTAINER_SECURITY, POD_SECURITY, Manifest, labels, meta, on
from infra.outputs import MONITORING_NAMESPACE, PROMETHEUS_SERVICE, PUSHGATEWAY_SERVICE

NAME = "streamgate-scale"
COMPONENT = "predictive-scaling"
STACKS_DIR = "/etc/streamgate/stacks"
CONTAINER = "scale"


def scale_labels(cfg: StackConfig) -> dict[str, str]:
    """The recommended labels, naming this job (not the gateway: its pods must match no gateway selector)."""
    return {
        **labels(cfg, COMPONENT),
        "app.kubernetes.io/name": NAME,
        "app.kubernetes.io/instance": NAME,
    }


def hpa_rules(hpa_names: Sequence[pulumi.Input[str]]) -> list[Manifest]:
    return [
        {
            "apiGroups": ["autoscaling"],
            "resources": ["horizontalpodautoscalers"],
            "resourceNames": hpa_names,
            "verbs": ["get", "patch"],
        }
    ]


def monitoring_rules() -> list[Manifest]:
    """Queries are GETs through the proxy; a push is a PUT (RBAC verb `update`). The proxy's resource name
    is `service:port` as the URL names it."""
    return [
        {
            "apiGroups": [""],
            "resources": ["services/proxy"],
            "resourceNames": [PROMETHEUS_SERVICE],
            "verbs": ["get"],
        },
        {
            "apiGroups": [""],
            "resources": ["services/proxy"],
            "resourceNames": [PUSHGATEWAY_SERVICE],
            "verbs": ["update"],
        },
    ]


def role_ref(role: k8s.rbac.v1.Role) -> Manifest:
    return {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": role.metadata.name}


def job_spec(
    cfg: StackConfig,
    region: str,
    namespace: pulumi.Input[str],
    hpa: pulumi.Input[str],
    config_map: pulumi.Input[str],
) -> Manifest:
    scale = cfg.scale
    command = [
        "streamgate",
        "scale",
        "apply",
        "--stack",
        cfg.stack,
        "--region",
        region,
        "--in-cluster",
        "--hpa",
        pulumi.Output.concat(namespace, "/", hpa),
    ]
    return {
        "schedule": f"*/{scale.schedule_minutes} * * * *",
        "concurrencyPolicy": "Forbid",  # a slow run is never overtaken by the next
        "startingDeadlineSeconds": scale.schedule_minutes * 60,
        "successfulJobsHistoryLimit": 3,
        "failedJobsHistoryLimit": 3,
        "jobTemplate": {
            "metadata": {"labels": scale_labels(cfg)},
            "spec": {
                "backoffLimit": 1,
                "activeDeadlineSeconds": scale.schedule_minutes * 60,
                "ttlSecondsAfterFinished": 3600,
                "template": {
                    "metadata": {"labels": scale_labels(cfg)},
                    "spec": {
                        "serviceAccountName": NAME,
                        "automountServiceAccountToken": True,  # it talks to the API server
                        "restartPolicy": "Never",
                        "securityContext": POD_SECURITY,
                        "containers": [
                            {
                                "name": CONTAINER,
                                "image": f"{scale.image}:{cfg.workload.tag}",
                                "imagePullPolicy": "IfNotPresent",
                                "command": command,
                                "env": [
                                    {"name": "STREAMGATE_STACKS_DIR", "value": STACKS_DIR},
                                    {"name": "HOME", "value": "/tmp"},
                                ],
                                "resources": {
                                    "requests": {"cpu": "250m", "memory": "512Mi"},
                                    "limits": {"cpu": "1", "memory": "1Gi"},
                                },
                                "securityContext": CONTAINER_SECURITY,
                                "volumeMounts": [
                                    {"name": "stack", "mountPath": STACKS_DIR, "readOnly": True},
                                    {"name": "tmp", "mountPath": "/tmp"},
                                ],
                            }
                        ],
                        "volumes": [
                            {"name": "stack", "configMap": {"name": config_map}},
                            {"name": "tmp", "emptyDir": {"sizeLimit": "64Mi"}},
                        ],
                    },
                },
            },
        },
    }


class PredictiveScaling(pulumi.ComponentResource):
    config_map: k8s.core.v1.ConfigMap
    service_account: k8s.core.v1.ServiceAccount
    roles: list[k8s.rbac.v1.Role]
    bindings: list[k8s.rbac.v1.RoleBinding]
    cron_job: k8s.batch.v1.CronJob

    def __init__(
        self,
        name: str,
        cfg: StackConfig,
        region: str,
        provider: k8s.Provider,
        namespace: pulumi.Input[str],
        hpas: dict[Color, k8s.autoscaling.v2.HorizontalPodAutoscaler],
        monitoring: pulumi.Resource,
        opts: pulumi.ResourceOptions | None = None,
    ) -> None:
        super().__init__("streamgate:k8s:PredictiveScaling", name, None, opts)
        meta_labels = scale_labels(cfg)
        self.config_map = k8s.core.v1.ConfigMap(
            f"{name}-stack",
            metadata=meta(f"{NAME}-stack", namespace, meta_labels),
            data={f"Pulumi.{cfg.stack}.yaml": yaml.safe_dump(stack_document(cfg), sort_keys=False)},
            # Every stack change replaces it (pulumi-kubernetes replaces ConfigMaps whose data changes); the
            # CronJob names it, so the old one goes first: a run starting in between fails, the next does not.
            opts=on(self, provider, delete_before_replace=True),
        )
        self.service_account = k8s.core.v1.ServiceAccount(
            f"{name}-sa", metadata=meta(NAME, namespace, meta_labels), opts=on(self, provider)
        )
        subject: Manifest = {"kind": "ServiceAccount", "name": NAME, "namespace": namespace}
        hpa_names = [hpas[c].metadata.name for c in COLORS]
        self.roles, self.bindings = [], []
        for suffix, role_namespace, rules, after in (
            ("hpas", namespace, hpa_rules(hpa_names), []),
            ("monitoring", MONITORING_NAMESPACE, monitoring_rules(), [monitoring]),
        ):
            role = k8s.rbac.v1.Role(
                f"{name}-{suffix}",
                metadata=meta(NAME, role_namespace, meta_labels),
                rules=rules,
                opts=on(self, provider, depends_on=after),
            )
            self.roles.append(role)
            self.bindings.append(
                k8s.rbac.v1.RoleBinding(
                    f"{name}-{suffix}",
                    metadata=meta(NAME, role_namespace, meta_labels),
                    role_ref=role_ref(role),
                    subjects=[subject],
                    opts=on(self, provider),
                )
            )
        live = hpas[cfg.workload.live_color]
        self.cron_job = k8s.batch.v1.CronJob(
            f"{name}-cronjob",
            metadata=meta(NAME, namespace, meta_labels),
            spec=job_spec(cfg, region, namespace, live.metadata.name, self.config_map.metadata.name),
            opts=on(self, provider, depends_on=[self.service_account, *self.bindings]),
        )
        self.register_outputs({})
