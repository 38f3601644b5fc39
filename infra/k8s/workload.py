"""The gateway in one cluster: namespace, identity, blue and green Deployments, Services, Ingress pair, PDBs.

Traffic model (what rollout automation drives):
- the stable Service `gateway` selects the live color (`workload.liveColor`); the Ingress sends to it;
- per-color Services `gateway-blue` / `gateway-green` address one color each;
- the canary Ingress (same hosts) sends `canary-weight` percent to the idle color's Service. Automation owns
  that weight at run time, so Pulumi ignores later changes to it instead of resetting a rollout on `up`.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from typing import Any

import pulumi
import pulumi_aws as aws
import pulumi_kubernetes as k8s

from infra.aws.cache import REDIS_PORT
from infra.aws.catalog import APP_USER as CATALOG_APP_USER
from infra.aws.catalog import DATABASE as CATALOG_DATABASE
from infra.aws.catalog import POSTGRES_PORT
from infra.aws.iam import catalog_connect_statements, gateway_statements
from infra.config import Color, RegionConfig, StackConfig
from infra.gateway_env import CatalogTarget, EnvValue, GatewayTarget, SecretRef, gateway_environment
from infra.k8s.base import (
    APP,
    COLOR_LABEL,
    COLORS,
    CONTAINER_SECURITY,
    NAMESPACE,
    POD_SECURITY,
    PYROSCOPE_URL,
    Manifest,
    deployment_name,
    labels,
    meta,
    on,
    selector,
)
from infra.k8s.identity import IRSA_ANNOTATION, irsa_role
from infra.k8s.inputs import ClusterInputs
from infra.names import api_name, origin_name
from runtime.service import paths

INGRESS_CLASS = "nginx"
CANARY = "nginx.ingress.kubernetes.io/canary"
CANARY_WEIGHT = "nginx.ingress.kubernetes.io/canary-weight"
SERVICE_ACCOUNT = APP
CONTAINER = APP
PORT_NAME = "http"
ZONE_KEY = "topology.kubernetes.io/zone"
HOST_KEY = "kubernetes.io/hostname"
# The gateway's secrets, in one Kubernetes Secret created from the stack's Pulumi secrets.
SECRET = "gateway"
SIGNING_KEY = SecretRef(SECRET, "signing-key")
PREVIOUS_SIGNING_KEYS = SecretRef(SECRET, "previous-signing-keys")
MFA_PEPPER = SecretRef(SECRET, "mfa-pepper")
REDIS_AUTH_TOKEN = SecretRef(SECRET, "redis-auth-token")
# Pods restart when this changes (a rotated key reaches them); a hash, so the value stays unreadable.
SECRET_VERSION = "streamgate/secret-version"


def _catalog_target(inputs: ClusterInputs, region: str) -> CatalogTarget | None:
    """RDS Proxy's endpoints, IAM auth (the pod's IRSA role signs tokens), transaction-mode pooling."""
    if inputs.catalog is None:
        return None

    def url(host: pulumi.Input[str]) -> pulumi.Output[str]:
        return pulumi.Output.concat(
            f"postgresql://{CATALOG_APP_USER}@",
            host,
            f":{POSTGRES_PORT}/{CATALOG_DATABASE}?sslmode=verify-full",
        )

    return CatalogTarget(
        primary_url=url(inputs.catalog.proxy.endpoint),
        replica_url=url(inputs.catalog.reader.endpoint),
        iam_auth_region=region,
        pooler="transaction",
    )


def env_vars(env: dict[str, EnvValue]) -> list[Manifest]:
    """A container's `env`: values inline, secrets by reference (never in the pod spec), sorted by name."""
    return [
        {"name": name, "valueFrom": {"secretKeyRef": {"name": value.secret, "key": value.key}}}
        if isinstance(value, SecretRef)
        else {"name": name, "value": value}
        for name, value in sorted(env.items())
    ]


def service_spec(pod_selector: dict[str, str]) -> Manifest:
    return {
        "type": "ClusterIP",
        "selector": pod_selector,
        "ports": [{"name": PORT_NAME, "port": 80, "targetPort": PORT_NAME, "protocol": "TCP"}],
    }


def network_policy_spec(ingress_from: Sequence[str]) -> Manifest:
    """Every pod of the namespace accepts traffic on the gateway port from these namespaces only."""
    return {
        "podSelector": {},
        "policyTypes": ["Ingress"],
        "ingress": [
            {
                "from": [
                    {"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": namespace}}}
                    for namespace in ingress_from
                ],
                "ports": [{"port": PORT_NAME, "protocol": "TCP"}],
            }
        ]
        if ingress_from
        else [],
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
    network_policy: k8s.networking.v1.NetworkPolicy

    def __init__(
        self,
        name: str,
        cfg: StackConfig,
        region: RegionConfig,
        provider: k8s.Provider,
        inputs: ClusterInputs,
        ingress_controller: pulumi.Resource,
        opts: pulumi.ResourceOptions | None = None,
        *,
        ingress_from: Sequence[str] = (),
    ) -> None:
        super().__init__("streamgate:k8s:Workload", name, None, opts)
        self.cfg, self.region, self.inputs = cfg, region, inputs
        wl = cfg.workload
        content_bucket, key = inputs.storage.content.bucket, inputs.key
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
            inputs.cluster.oidc_provider,
            NAMESPACE,
            SERVICE_ACCOUNT,
            gateway_statements(content_bucket.arn, key.arn, inputs.distribution.arn),
            self,
        )
        if inputs.catalog is not None:  # its own policy: a login, not an API call the others are checked by
            aws.iam.RolePolicy(
                f"{name}-catalog-connect",
                role=self.role.id,
                policy=pulumi.Output.all(inputs.catalog.proxy.arn).apply(
                    lambda arns: json.dumps(
                        {
                            "Version": "2012-10-17",
                            "Statement": catalog_connect_statements(arns, CATALOG_APP_USER),
                        }
                    )
                ),
                opts=pulumi.ResourceOptions(parent=inputs.catalog),  # the catalog admits this role
            )
        self.service_account = k8s.core.v1.ServiceAccount(
            f"{name}-sa",
            metadata=meta(SERVICE_ACCOUNT, ns, labels(cfg, "identity"), {IRSA_ANNOTATION: self.role.arn}),
            opts=on(self, provider),
        )
        secrets = inputs.secrets
        secret_values = {
            SIGNING_KEY.key: secrets.signing_key,
            PREVIOUS_SIGNING_KEYS.key: secrets.previous_signing_keys,
            MFA_PEPPER.key: secrets.mfa_pepper,
            REDIS_AUTH_TOKEN.key: secrets.redis_auth_token,
        }
        self.secret = k8s.core.v1.Secret(
            f"{name}-secrets",
            metadata=meta(SECRET, ns, labels(cfg, "secrets")),
            type="Opaque",
            string_data=secret_values,
            opts=on(self, provider),
        )
        # A digest of high-entropy keys reveals nothing usable; left secret, it would hide the whole pod
        # spec from plans and policies.
        self.secret_version = pulumi.Output.unsecret(
            pulumi.Output.all(*(secret_values[k] for k in sorted(secret_values))).apply(
                lambda values: hashlib.sha256("\0".join(values).encode()).hexdigest()[:16]
            )
        )
        self.deployments = {
            color: k8s.apps.v1.Deployment(
                f"{name}-{color}",
                metadata=meta(deployment_name(color), ns, labels(cfg, "server", color)),
                spec=self._deployment_spec(color, self.environment(color)),
                opts=on(self, provider, depends_on=[self.service_account, self.secret]),
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
        # Default-deny ingress to the namespace's pods but from the namespaces named (the ingress controller,
        # Prometheus): CIS EKS 4.3.2. Enforced where the cluster's CNI enforces NetworkPolicy.
        self.network_policy = k8s.networking.v1.NetworkPolicy(
            f"{name}-ingress-only",
            metadata=meta(APP, ns, labels(cfg, "network-policy")),
            spec=network_policy_spec(ingress_from),
            opts=on(self, provider),
        )
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

    def environment(self, color: Color) -> dict[str, EnvValue]:
        """The gateway's environment in this cluster (checked by infra/gateway_env.py)."""
        region, inputs, wl = self.region.name, self.inputs, self.cfg.workload
        return gateway_environment(
            self.cfg,
            GatewayTarget(
                region=region,
                color=color,
                version=wl.tag_of(color),
                host="0.0.0.0",  # the pod's network namespace: probes and the Service reach its IP
                port=wl.port,
                # The ingress controller's pods (VPC CNI: addresses from the VPC) set X-Forwarded-For.
                trusted_proxies=self.region.vpc_cidr,
                # ElastiCache with in-transit encryption speaks TLS; AUTH comes from the Secret.
                redis_url=pulumi.Output.concat(
                    "rediss://", inputs.redis.group.primary_endpoint_address, f":{REDIS_PORT}/0"
                ),
                redis_password=REDIS_AUTH_TOKEN,
                content_bucket=inputs.storage.content.bucket.bucket,
                storage_region=region,
                kms_key=inputs.key.arn,
                signing_key=SIGNING_KEY,
                previous_signing_keys=PREVIOUS_SIGNING_KEYS,
                mfa_pepper=MFA_PEPPER,
                cloudfront_distribution_id=inputs.distribution.id,
                otlp_endpoint=wl.otlp_endpoint,
                catalog=_catalog_target(inputs, region),
                profiles_url=PYROSCOPE_URL,
            ),
        )

    def _deployment_spec(self, color: Color, env: dict[str, EnvValue]) -> Manifest:
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
                "metadata": {
                    "labels": labels(self.cfg, "server", color),
                    "annotations": {SECRET_VERSION: self.secret_version},
                },
                "spec": {
                    "serviceAccountName": SERVICE_ACCOUNT,
                    # IRSA mounts its own projected token; the pod needs no Kubernetes API token.
                    "automountServiceAccountToken": False,
                    "terminationGracePeriodSeconds": 30,
                    "securityContext": POD_SECURITY,
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
                            "env": env_vars(env),
                            "resources": {
                                "requests": {"cpu": wl.cpu_request, "memory": wl.memory_request},
                                "limits": {"cpu": wl.cpu_limit, "memory": wl.memory_limit},
                            },
                            "startupProbe": {
                                **probe,
                                "httpGet": {**probe["httpGet"], "path": paths.HEALTH},
                                "periodSeconds": 2,
                                "failureThreshold": 30,
                            },
                            "livenessProbe": {
                                **probe,
                                "httpGet": {**probe["httpGet"], "path": paths.HEALTH},
                                "periodSeconds": 10,
                                "failureThreshold": 3,
                            },
                            "readinessProbe": {
                                **probe,
                                "httpGet": {**probe["httpGet"], "path": paths.READY},
                                "periodSeconds": 5,
                                "failureThreshold": 2,
                            },
                            "securityContext": CONTAINER_SECURITY,
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
        hosts = [api_name(self.cfg.domain), origin_name(self.cfg.domain, self.region.name)]
        return {
            "ingressClassName": INGRESS_CLASS,
            "rules": [
                {"host": host, "http": {"paths": [{"path": "/", "pathType": "Prefix", "backend": backend}]}}
                for host in hosts
            ],
        }
