"""The gateway in one cluster: namespace, identity, blue and green Deployments, Services, Ingress pair, PDBs.

Traffic model (what rollout automation drives):
- the stable Service `gateway` selects the live color (`workload.liveColor`); the Ingress sends to it;
- per-color Services `gateway-blue` / `gateway-green` address one color each;
- the canary Ingress (same hosts) sends `canary-weight` percent to the idle color's Service. Automation owns
  that weight at run time, so Pulumi ignores later changes to it instead of resetting a rollout on `up`.
"""

from __future__ import annotations

from typing import Any

import pulumi
import pulumi_aws as aws
import pulumi_kubernetes as k8s

from infra.aws.dns import api_name, origin_name
from infra.config import Color, RegionConfig, StackConfig
from infra.k8s.base import (
    APP,
    COLOR_LABEL,
    COLORS,
    NAMESPACE,
    Manifest,
    deployment_name,
    labels,
    meta,
    on,
    selector,
)
from infra.k8s.identity import IRSA_ANNOTATION, irsa_role

INGRESS_CLASS = "nginx"
CANARY = "nginx.ingress.kubernetes.io/canary"
CANARY_WEIGHT = "nginx.ingress.kubernetes.io/canary-weight"
SERVICE_ACCOUNT = APP
CONTAINER = APP
PORT_NAME = "http"
RUN_AS = 10001  # a non-root UID for the gateway image; runAsNonRoot refuses to start a root image anyway
ZONE_KEY = "topology.kubernetes.io/zone"
HOST_KEY = "kubernetes.io/hostname"


def content_reader_statements(bucket: aws.s3.Bucket, key: aws.kms.Key) -> list[dict[str, Any]]:
    """What the gateway may do in AWS: read the region's content bucket, and use the region's key (SSE-KMS
    reads and envelope encryption of objects)."""
    return [
        {"Effect": "Allow", "Action": ["s3:ListBucket"], "Resource": [bucket.arn]},
        {
            "Effect": "Allow",
            "Action": ["s3:GetObject", "s3:GetObjectVersion"],
            "Resource": [bucket.arn.apply(lambda arn: f"{arn}/*")],
        },
        {
            "Effect": "Allow",
            "Action": ["kms:Decrypt", "kms:GenerateDataKey", "kms:DescribeKey"],
            "Resource": [key.arn],
        },
    ]


def service_spec(pod_selector: dict[str, str]) -> Manifest:
    return {
        "type": "ClusterIP",
        "selector": pod_selector,
        "ports": [{"name": PORT_NAME, "port": 80, "targetPort": PORT_NAME, "protocol": "TCP"}],
    }


def disruption_budget_spec(color: Color) -> Manifest:
    return {
        # maxUnavailable (not minAvailable) so a 1-replica dev stack can still drain its nodes.
        "maxUnavailable": 1,
        "selector": {"matchLabels": selector(color)},
        "unhealthyPodEvictionPolicy": "AlwaysAllow",
    }


class Workload(pulumi.ComponentResource):
    namespace: k8s.core.v1.Namespace
    role: aws.iam.Role
    service_account: k8s.core.v1.ServiceAccount
    deployments: dict[Color, k8s.apps.v1.Deployment]
    service: k8s.core.v1.Service
    color_services: dict[Color, k8s.core.v1.Service]
    ingress: k8s.networking.v1.Ingress
    canary_ingress: k8s.networking.v1.Ingress
    disruption_budgets: dict[Color, k8s.policy.v1.PodDisruptionBudget]

    def __init__(
        self,
        name: str,
        cfg: StackConfig,
        region: RegionConfig,
        provider: k8s.Provider,
        oidc: aws.iam.OpenIdConnectProvider,
        content_bucket: aws.s3.Bucket,
        key: aws.kms.Key,
        ingress_controller: pulumi.Resource,
        opts: pulumi.ResourceOptions | None = None,
    ) -> None:
        super().__init__("streamgate:k8s:Workload", name, None, opts)
        self.cfg, self.region = cfg, region
        wl = cfg.workload
        self.namespace = k8s.core.v1.Namespace(
            f"{name}-ns",
            metadata=meta(
                NAMESPACE,
                None,
                {
                    **labels(cfg, "namespace"),
                    # Pod Security Admission: the gateway meets `restricted`, so enforce it.
                    "pod-security.kubernetes.io/enforce": "restricted",
                    "pod-security.kubernetes.io/enforce-version": "latest",
                },
            ),
            opts=on(self, provider),
        )
        ns = self.namespace.metadata.name
        self.role = irsa_role(
            f"{name}-irsa",
            oidc,
            NAMESPACE,
            SERVICE_ACCOUNT,
            content_reader_statements(content_bucket, key),
            self,
        )
        self.service_account = k8s.core.v1.ServiceAccount(
            f"{name}-sa",
            metadata=meta(SERVICE_ACCOUNT, ns, labels(cfg, "identity"), {IRSA_ANNOTATION: self.role.arn}),
            opts=on(self, provider),
        )
        env: dict[str, pulumi.Input[str]] = {
            "STREAMGATE_REGION": region.name,
            # Names as runtime/service/settings.py reads them (nested sections joined by `__`).
            "STREAMGATE_STORAGE__BUCKET": content_bucket.bucket,
            "STREAMGATE_STORAGE__REGION": region.name,
            "STREAMGATE_SECURITY__ENCRYPTION__KMS_KEY_ID": key.arn,
            "STREAMGATE_SECURITY__ENCRYPTION__REGION": region.name,
            "STREAMGATE_CORS__ALLOW_ORIGINS": ",".join(cfg.cors.allow_origins),
            "AWS_REGION": region.name,
        }
        self.deployments = {
            color: k8s.apps.v1.Deployment(
                f"{name}-{color}",
                metadata=meta(deployment_name(color), ns, labels(cfg, "server", color)),
                spec=self._deployment_spec(color, env),
                opts=on(self, provider, depends_on=[self.service_account]),
            )
            for color in COLORS
        }
        self.disruption_budgets = {
            color: k8s.policy.v1.PodDisruptionBudget(
                f"{name}-{color}",
                metadata=meta(deployment_name(color), ns, labels(cfg, "server", color)),
                spec=disruption_budget_spec(color),
                opts=on(self, provider),
            )
            for color in COLORS
        }
        self.service = self._service(name, APP, ns, {**selector(), COLOR_LABEL: wl.live_color}, provider)
        self.color_services = {
            color: self._service(
                f"{name}-{color}", deployment_name(color), ns, selector(color), provider, color
            )
            for color in COLORS
        }
        ingress_opts = on(self, provider, depends_on=[ingress_controller])
        self.ingress = k8s.networking.v1.Ingress(
            f"{name}-ingress",
            metadata=meta(APP, ns, labels(cfg, "ingress")),
            spec=self._ingress_spec(self.service.metadata.name),
            opts=ingress_opts,
        )
        self.canary_ingress = k8s.networking.v1.Ingress(
            f"{name}-canary",
            metadata=meta(
                f"{APP}-canary",
                ns,
                labels(cfg, "ingress", wl.idle_color),
                {CANARY: "true", CANARY_WEIGHT: "0"},
            ),
            spec=self._ingress_spec(self.color_services[wl.idle_color].metadata.name),
            opts=pulumi.ResourceOptions.merge(
                ingress_opts,
                pulumi.ResourceOptions(ignore_changes=[f'metadata.annotations["{CANARY_WEIGHT}"]']),
            ),
        )
        self.register_outputs(
            {
                "namespace": ns,
                "service": self.service.metadata.name,
                "ingress": self.ingress.metadata.name,
                "canaryIngress": self.canary_ingress.metadata.name,
            }
        )

    @property
    def ingress_hostname(self) -> pulumi.Output[str]:
        """The ingress controller's load balancer name, once the controller has published it."""

        def hostname(status: Any) -> str:
            entries = (status.load_balancer.ingress if status and status.load_balancer else None) or []
            return str(entries[0].hostname or entries[0].ip) if entries else ""

        return self.ingress.status.apply(hostname)

    def _deployment_spec(self, color: Color, env: dict[str, pulumi.Input[str]]) -> Manifest:
        wl = self.cfg.workload
        version = wl.tag_of(color)
        spread = {"labelSelector": {"matchLabels": selector(color)}, "matchLabelKeys": ["pod-template-hash"]}
        probe: Manifest = {"httpGet": {"port": PORT_NAME, "scheme": "HTTP"}, "timeoutSeconds": 2}
        return {
            # No `replicas`: the HPA owns the count, and re-applying one would undo its scaling on every up.
            "selector": {"matchLabels": selector(color)},
            "strategy": {"type": "RollingUpdate", "rollingUpdate": {"maxSurge": "25%", "maxUnavailable": 0}},
            "revisionHistoryLimit": 5,
            "minReadySeconds": 5,
            "template": {
                "metadata": {"labels": labels(self.cfg, "server", color)},
                "spec": {
                    "serviceAccountName": SERVICE_ACCOUNT,
                    # IRSA mounts its own projected token; the pod needs no Kubernetes API token.
                    "automountServiceAccountToken": False,
                    "terminationGracePeriodSeconds": 30,
                    "securityContext": {
                        "runAsNonRoot": True,
                        "runAsUser": RUN_AS,
                        "runAsGroup": RUN_AS,
                        "fsGroup": RUN_AS,
                        "seccompProfile": {"type": "RuntimeDefault"},
                    },
                    "topologySpreadConstraints": [
                        {
                            **spread,
                            "maxSkew": 1,
                            "topologyKey": ZONE_KEY,
                            "whenUnsatisfiable": "DoNotSchedule",
                        },
                        {
                            **spread,
                            "maxSkew": 1,
                            "topologyKey": HOST_KEY,
                            "whenUnsatisfiable": "ScheduleAnyway",
                        },
                    ],
                    "containers": [
                        {
                            "name": CONTAINER,
                            "image": f"{wl.image}:{version}",
                            "imagePullPolicy": "IfNotPresent",
                            "ports": [{"name": PORT_NAME, "containerPort": wl.port, "protocol": "TCP"}],
                            "env": [
                                *({"name": k, "value": v} for k, v in env.items()),
                                {"name": "STREAMGATE_COLOR", "value": color},
                                {"name": "STREAMGATE_VERSION", "value": version},
                                {"name": "STREAMGATE_SERVER__PORT", "value": str(wl.port)},
                            ],
                            "resources": {
                                "requests": {"cpu": wl.cpu_request, "memory": wl.memory_request},
                                "limits": {"cpu": wl.cpu_limit, "memory": wl.memory_limit},
                            },
                            "startupProbe": {
                                **probe,
                                "httpGet": {**probe["httpGet"], "path": "/healthz"},
                                "periodSeconds": 2,
                                "failureThreshold": 30,
                            },
                            "livenessProbe": {
                                **probe,
                                "httpGet": {**probe["httpGet"], "path": "/healthz"},
                                "periodSeconds": 10,
                                "failureThreshold": 3,
                            },
                            "readinessProbe": {
                                **probe,
                                "httpGet": {**probe["httpGet"], "path": "/readyz"},
                                "periodSeconds": 5,
                                "failureThreshold": 2,
                            },
                            "securityContext": {
                                "allowPrivilegeEscalation": False,
                                "readOnlyRootFilesystem": True,
                                "runAsNonRoot": True,
                                "capabilities": {"drop": ["ALL"]},
                            },
                            "volumeMounts": [{"name": "tmp", "mountPath": "/tmp"}],
                        }
                    ],
                    # The only writable path (read-only root filesystem): temp files, profiles.
                    "volumes": [{"name": "tmp", "emptyDir": {"sizeLimit": "256Mi"}}],
                },
            },
        }

    def _service(
        self,
        name: str,
        service_name: str,
        ns: pulumi.Input[str],
        pod_selector: dict[str, str],
        provider: k8s.Provider,
        color: Color | None = None,
    ) -> k8s.core.v1.Service:
        return k8s.core.v1.Service(
            name,
            metadata=meta(service_name, ns, labels(self.cfg, "service", color)),
            spec=service_spec(pod_selector),
            opts=on(self, provider),
        )

    def _ingress_spec(self, service: pulumi.Input[str]) -> Manifest:
        backend = {"service": {"name": service, "port": {"name": PORT_NAME}}}
        hosts = [api_name(self.cfg), origin_name(self.cfg, self.region.name)]
        return {
            "ingressClassName": INGRESS_CLASS,
            "rules": [
                {"host": host, "http": {"paths": [{"path": "/", "pathType": "Prefix", "backend": backend}]}}
                for host in hosts
            ],
        }
