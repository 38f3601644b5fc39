"""Cluster add-ons as Helm releases with pinned chart versions and values from code.

Order matters where one release needs another's CRDs or API: kube-prometheus-stack comes first (its
ServiceMonitor CRD is used by ingress-nginx's and the adapter's monitors), prometheus-adapter queries its
Prometheus, and custom resources of the VPA chart wait for that chart.
Bump a version deliberately: change the pin, read the chart's changelog, run the plan tests.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pulumi
import pulumi_aws as aws
import pulumi_kubernetes as k8s

from infra.alerts.alertmanager import (
    RECEIVER_SECRET,
    alertmanager_document,
    receiver_files,
    receiver_secret_data,
)
from infra.aws.cache import REDIS_PORT
from infra.config import Environment, RegionConfig, StackConfig
from infra.k8s.autoscaling import REQUESTS_SERIES, RPS_METRIC
from infra.k8s.base import PYROSCOPE_RELEASE, PYROSCOPE_URL, labels, on
from infra.k8s.identity import IRSA_ANNOTATION, irsa_role
from infra.k8s.inputs import ClusterInputs
from infra.outputs import MONITORING_NAMESPACE


@dataclass(frozen=True)
class Chart:
    release: str  # also the Helm release name, so selectors that match on it are predictable
    chart: str
    version: str
    repo: str
    namespace: str


INGRESS_NGINX = Chart(
    "ingress-nginx", "ingress-nginx", "4.11.3", "https://kubernetes.github.io/ingress-nginx", "ingress-nginx"
)
KUBE_PROMETHEUS_STACK = Chart(
    "kube-prometheus-stack",
    "kube-prometheus-stack",
    "65.1.1",
    "https://prometheus-community.github.io/helm-charts",
    MONITORING_NAMESPACE,
)
PROMETHEUS_ADAPTER = Chart(
    "prometheus-adapter",
    "prometheus-adapter",
    "4.11.0",
    "https://prometheus-community.github.io/helm-charts",
    "monitoring",
)
METRICS_SERVER = Chart(
    "metrics-server",
    "metrics-server",
    "3.12.2",
    "https://kubernetes-sigs.github.io/metrics-server/",
    "kube-system",
)
VPA = Chart("vpa", "vpa", "4.7.1", "https://charts.fairwinds.com/stable", "vpa")
VELERO = Chart("velero", "velero", "8.0.0", "https://vmware-tanzu.github.io/helm-charts", "velero")
# Batch jobs (backups, rollouts) push their last-success and progress metrics here; the alerts read them.
PUSHGATEWAY = Chart(
    "prometheus-pushgateway",
    "prometheus-pushgateway",
    "2.14.0",
    "https://prometheus-community.github.io/helm-charts",
    "monitoring",
)
# The Redis alerts (replication link, lag) read this exporter's series; kube-prometheus-stack has none.
REDIS_EXPORTER = Chart(
    "prometheus-redis-exporter",
    "prometheus-redis-exporter",
    "6.1.1",
    "https://prometheus-community.github.io/helm-charts",
    "monitoring",
)
# Continuous profiling: the gateways' agents push CPU profiles here; Grafana reads it as a data source.
PYROSCOPE = Chart(
    PYROSCOPE_RELEASE, "pyroscope", "1.16.0", "https://grafana.github.io/helm-charts", MONITORING_NAMESPACE
)
CHARTS = (
    KUBE_PROMETHEUS_STACK,
    INGRESS_NGINX,
    PROMETHEUS_ADAPTER,
    METRICS_SERVER,
    VPA,
    VELERO,
    PUSHGATEWAY,
    REDIS_EXPORTER,
    PYROSCOPE,
)

VELERO_AWS_PLUGIN = "velero/velero-plugin-for-aws:v1.10.0"  # the plugin line that matches Velero 1.14
# Prometheus as kube-prometheus-stack names it (fullnameOverride below), for the adapter to query.
PROMETHEUS_URL = f"http://{KUBE_PROMETHEUS_STACK.release}-prometheus.{KUBE_PROMETHEUS_STACK.namespace}.svc"
# Grafana's dashboard sidecar loads every ConfigMap of the monitoring namespace with this label.
DASHBOARD_LABEL = {"grafana_dashboard": "1"}
GRAFANA_ADMIN_SECRET = "grafana-admin"
# kube-prometheus-stack selects monitors and rules by this label (its `release` by default).
PROMETHEUS_SELECTOR = {"release": KUBE_PROMETHEUS_STACK.release}
# The ingress controller's NLB listener: TLS with the region's ACM certificate and AWS's TLS 1.3/1.2 policy.
NLB_SSL_CERT = "service.beta.kubernetes.io/aws-load-balancer-ssl-cert"
NLB_SSL_PORTS = "service.beta.kubernetes.io/aws-load-balancer-ssl-ports"
NLB_SSL_POLICY = "service.beta.kubernetes.io/aws-load-balancer-ssl-negotiation-policy"
TLS_POLICY = "ELBSecurityPolicy-TLS13-1-2-2021-06"


def rps_adapter_rule() -> dict[str, Any]:
    """prometheus-adapter rule: the per-pod rate of the gateway's request counter, under RPS_METRIC."""
    return {
        "seriesQuery": f'{REQUESTS_SERIES}{{namespace!="",pod!=""}}',
        "resources": {"overrides": {"namespace": {"resource": "namespace"}, "pod": {"resource": "pod"}}},
        "name": {"matches": f"^{REQUESTS_SERIES}$", "as": RPS_METRIC},
        "metricsQuery": "sum(rate(<<.Series>>{<<.LabelMatchers>>}[2m])) by (<<.GroupBy>>)",
    }


def velero_statements(bucket: aws.s3.Bucket, key: aws.kms.Key) -> list[dict[str, Any]]:
    """Velero's AWS plugin: objects in the backup bucket, the key that encrypts them, EBS snapshots."""
    return [
        {
            "Effect": "Allow",
            "Action": [
                "s3:GetObject",
                "s3:PutObject",
                "s3:DeleteObject",
                "s3:AbortMultipartUpload",
                "s3:ListMultipartUploadParts",
            ],
            "Resource": [bucket.arn.apply(lambda arn: f"{arn}/*")],
        },
        {"Effect": "Allow", "Action": ["s3:ListBucket"], "Resource": [bucket.arn]},
        {
            "Effect": "Allow",
            "Action": ["kms:Encrypt", "kms:Decrypt", "kms:GenerateDataKey", "kms:DescribeKey"],
            "Resource": [key.arn],
        },
        {
            "Effect": "Allow",
            "Action": [
                "ec2:DescribeVolumes",
                "ec2:DescribeSnapshots",
                "ec2:CreateTags",
                "ec2:CreateVolume",
                "ec2:CreateSnapshot",
                "ec2:DeleteSnapshot",
            ],
            "Resource": ["*"],
        },
    ]


def grafana_values(cfg: StackConfig) -> dict[str, Any]:
    """Grafana in kube-prometheus-stack: our dashboards from ConfigMaps (infra/k8s/dashboards.py) through
    its sidecar, Prometheus (the chart's own data source, uid `prometheus`) and Pyroscope as data sources."""
    values: dict[str, Any] = {
        "enabled": True,
        "admin": {
            "existingSecret": GRAFANA_ADMIN_SECRET,
            "userKey": "admin-user",
            "passwordKey": "admin-password",
        },
        "sidecar": {
            "dashboards": {
                "enabled": True,
                "label": next(iter(DASHBOARD_LABEL)),
                "labelValue": next(iter(DASHBOARD_LABEL.values())),
                "searchNamespace": KUBE_PROMETHEUS_STACK.namespace,
                "folderAnnotation": "grafana_folder",
                "provider": {"foldersFromFilesStructure": True},
            },
            "datasources": {"enabled": True, "defaultDatasourceEnabled": True, "uid": "prometheus"},
        },
        "additionalDataSources": [
            {
                "name": "Pyroscope",
                "type": "grafana-pyroscope-datasource",
                "uid": "pyroscope",
                "url": PYROSCOPE_URL,
                "access": "proxy",
            }
        ],
    }
    if cfg.alerts.dashboard_base_url:  # the links in alerts point here: Grafana must know its own address
        values["grafana.ini"] = {"server": {"root_url": cfg.alerts.dashboard_base_url}}
    return values


def pyroscope_values() -> dict[str, Any]:
    """Pyroscope as one process (monolithic mode) with a persistent volume for its blocks."""
    return {
        "pyroscope": {
            "replicaCount": 1,
            "persistence": {"enabled": True, "size": "20Gi"},
            "resources": {"requests": {"cpu": "250m", "memory": "1Gi"}, "limits": {"memory": "2Gi"}},
        },
        # The gateways push (no scraping of other workloads' pods by the chart's bundled Alloy agent).
        "alloy": {"enabled": False},
    }


def backup_schedule(interval_hours: int) -> str:
    """Cron for "every N hours": hourly steps below a day, day-of-month steps (at 03:00) from a day on."""
    if interval_hours < 24:
        return f"0 */{interval_hours} * * *"
    return f"0 3 */{interval_hours // 24} * *"


class Addons(pulumi.ComponentResource):
    releases: dict[str, k8s.helm.v3.Release]
    velero_role: aws.iam.Role

    def __init__(
        self,
        name: str,
        cfg: StackConfig,
        region: RegionConfig,
        provider: k8s.Provider,
        inputs: ClusterInputs,
        opts: pulumi.ResourceOptions | None = None,
    ) -> None:
        super().__init__("streamgate:k8s:Addons", name, None, opts)
        self.provider = provider
        self.name = name
        prod = cfg.environment is Environment.PROD
        replicas = 3 if prod else 2
        oidc, backup_bucket, key = inputs.cluster.oidc_provider, inputs.storage.backup.bucket, inputs.key
        self.releases = {}
        # The monitoring namespace comes before its chart: Alertmanager's receiver keys must be there when
        # its pods start.
        namespace = k8s.core.v1.Namespace(
            f"{name}-monitoring",
            metadata={
                "name": KUBE_PROMETHEUS_STACK.namespace,
                "labels": {
                    **labels(cfg, "monitoring"),
                    # node-exporter needs the host's network, PIDs and filesystem: privileged, by choice;
                    # the rest is warned and audited against restricted.
                    "pod-security.kubernetes.io/enforce": "privileged",
                    "pod-security.kubernetes.io/warn": "restricted",
                    "pod-security.kubernetes.io/audit": "restricted",
                },
            },
            opts=on(self, provider),
        )
        receiver_keys = k8s.core.v1.Secret(
            f"{name}-alertmanager-receivers",
            metadata={
                "name": RECEIVER_SECRET,
                "namespace": namespace.metadata.name,
                "labels": labels(cfg, "alerting"),
            },
            type="Opaque",
            string_data=receiver_secret_data(inputs.secrets),
            opts=on(self, provider),
        )
        grafana_admin = k8s.core.v1.Secret(
            f"{name}-grafana-admin",
            metadata={
                "name": GRAFANA_ADMIN_SECRET,
                "namespace": namespace.metadata.name,
                "labels": labels(cfg, "dashboards"),
            },
            string_data={
                "admin-user": "admin",
                "admin-password": inputs.secrets.grafana_admin_password,
            },
            opts=on(self, provider),
        )
        monitoring = self._release(
            KUBE_PROMETHEUS_STACK,
            self._prometheus_values(cfg, region, prod),
            [namespace, receiver_keys, grafana_admin],
            create_namespace=False,
        )
        self._release(PYROSCOPE, pyroscope_values(), [namespace], create_namespace=False)
        self._release(INGRESS_NGINX, self._ingress_values(replicas, inputs.certificate_arn), [monitoring])
        self._release(PROMETHEUS_ADAPTER, self._adapter_values(), [monitoring])
        self._release(
            METRICS_SERVER, {"replicas": 2, "podDisruptionBudget": {"enabled": True, "maxUnavailable": 1}}
        )
        self._release(
            VPA,
            {
                "recommender": {"enabled": True},
                "updater": {"enabled": True},
                # The admission controller applies recommendations to new pods (modes Initial and Recreate).
                "admissionController": {"enabled": True},
            },
        )
        self.velero_role = irsa_role(
            f"{name}-velero", oidc, VELERO.namespace, "velero", velero_statements(backup_bucket, key), self
        )
        self._release(VELERO, self._velero_values(cfg, region, backup_bucket, key))
        # honorLabels keeps the pushed `stack`/`region` labels instead of the pushgateway pod's own.
        self._release(
            PUSHGATEWAY,
            {
                "serviceMonitor": {
                    "enabled": True,
                    "honorLabels": True,
                    "additionalLabels": PROMETHEUS_SELECTOR,
                }
            },
            [monitoring],
        )
        # The region's ElastiCache endpoint over TLS (in-transit encryption is on). The AUTH token goes in a
        # Secret, not in the release's values, so the values stay readable in plans and `helm get values`.
        auth = k8s.core.v1.Secret(
            f"{name}-redis-exporter-auth",
            metadata={"name": "redis-exporter-auth", "namespace": namespace.metadata.name},
            string_data={"password": inputs.secrets.redis_auth_token},
            opts=on(self, provider),
        )
        self._release(
            REDIS_EXPORTER,
            {
                "redisAddress": pulumi.Output.concat(
                    "rediss://", inputs.redis.group.primary_endpoint_address, f":{REDIS_PORT}"
                ),
                "auth": {"enabled": True, "secret": {"name": "redis-exporter-auth", "key": "password"}},
                "serviceMonitor": {"enabled": True, "labels": PROMETHEUS_SELECTOR},
            },
            [monitoring, auth],
        )
        self.register_outputs({"releases": [c.release for c in CHARTS]})

    @property
    def ingress_controller(self) -> k8s.helm.v3.Release:
        return self.releases[INGRESS_NGINX.release]

    @property
    def monitoring(self) -> k8s.helm.v3.Release:
        """kube-prometheus-stack: installs the monitoring.coreos.com CRDs (PodMonitor, PrometheusRule)."""
        return self.releases[KUBE_PROMETHEUS_STACK.release]

    @property
    def vpa(self) -> k8s.helm.v3.Release:
        """The VPA components: install the autoscaling.k8s.io VerticalPodAutoscaler CRD."""
        return self.releases[VPA.release]

    def _release(
        self,
        chart: Chart,
        values: dict[str, Any],
        after: list[pulumi.Resource] | None = None,
        *,
        create_namespace: bool = True,
    ) -> k8s.helm.v3.Release:
        release = k8s.helm.v3.Release(
            f"{self.name}-{chart.release}",
            name=chart.release,
            chart=chart.chart,
            version=chart.version,
            repository_opts={"repo": chart.repo},
            namespace=chart.namespace,
            create_namespace=create_namespace,
            values=values,
            atomic=True,  # a failed upgrade rolls back instead of leaving a half-applied release
            cleanup_on_fail=True,
            timeout=900,
            opts=on(self, self.provider, depends_on=after or []),
        )
        self.releases[chart.release] = release
        return release

    @staticmethod
    def _prometheus_values(cfg: StackConfig, region: RegionConfig, prod: bool) -> dict[str, Any]:
        return {
            "fullnameOverride": KUBE_PROMETHEUS_STACK.release,
            "grafana": grafana_values(cfg),
            "prometheus": {
                "prometheusSpec": {
                    "retention": "15d" if prod else "3d",
                    "externalLabels": {"region": region.name, "stack": cfg.stack},
                    # Keep the default selectors (match our `release` label): objects we create carry it.
                    "ruleSelectorNilUsesHelmValues": True,
                    "podMonitorSelectorNilUsesHelmValues": True,
                    "serviceMonitorSelectorNilUsesHelmValues": True,
                    "resources": {
                        "requests": {"cpu": "500m", "memory": "2Gi" if prod else "1Gi"},
                        "limits": {"memory": "4Gi" if prod else "2Gi"},
                    },
                }
            },
            # Our routes and receivers (infra/alerts/alertmanager.py); the receivers' keys are files from
            # the Secret mounted beside the config, so the config itself holds no secret.
            "alertmanager": {
                "enabled": True,
                "config": alertmanager_document(cfg, receiver_files(cfg)),
                "alertmanagerSpec": {"secrets": [RECEIVER_SECRET], "replicas": 3 if prod else 1},
            },
        }

    @staticmethod
    def _ingress_values(replicas: int, certificate_arn: pulumi.Input[str]) -> dict[str, Any]:
        return {
            "controller": {
                "replicaCount": replicas,
                "ingressClass": "nginx",
                "ingressClassResource": {"name": "nginx", "enabled": True, "default": False},
                "allowSnippetAnnotations": False,
                "minAvailable": 1,
                # Bounded request heads and bodies, as at the local edge (the gateway bounds heads too).
                "config": {
                    "client-header-buffer-size": "1k",
                    "large-client-header-buffers": "4 8k",
                    "client-header-timeout": "10",
                    "client-body-timeout": "10",
                },
                "service": {
                    "type": "LoadBalancer",
                    "externalTrafficPolicy": "Local",  # keep client IPs for rate limiting
                    # HTTPS only: the NLB terminates TLS with the region's certificate and hands plain HTTP
                    # to the controller's http port; nothing listens in clear text.
                    "enableHttp": False,
                    "targetPorts": {"https": "http"},
                    "annotations": {
                        "service.beta.kubernetes.io/aws-load-balancer-type": "nlb",
                        "service.beta.kubernetes.io/aws-load-balancer-cross-zone-load-balancing-enabled": "true",
                        NLB_SSL_CERT: certificate_arn,
                        NLB_SSL_PORTS: "https",
                        NLB_SSL_POLICY: TLS_POLICY,
                        "service.beta.kubernetes.io/aws-load-balancer-backend-protocol": "tcp",
                    },
                },
                "topologySpreadConstraints": [
                    {
                        "maxSkew": 1,
                        "topologyKey": "topology.kubernetes.io/zone",
                        "whenUnsatisfiable": "ScheduleAnyway",
                        "labelSelector": {
                            "matchLabels": {
                                "app.kubernetes.io/name": "ingress-nginx",
                                "app.kubernetes.io/component": "controller",
                            }
                        },
                    }
                ],
                "metrics": {
                    "enabled": True,
                    "serviceMonitor": {"enabled": True, "additionalLabels": PROMETHEUS_SELECTOR},
                },
            }
        }

    @staticmethod
    def _adapter_values() -> dict[str, Any]:
        return {
            "replicas": 2,
            "prometheus": {"url": PROMETHEUS_URL, "port": 9090},
            # Only our rule: the default rules expose every series (slow discovery, confusing metric names).
            "rules": {"default": False, "custom": [rps_adapter_rule()]},
        }

    def _velero_values(
        self, cfg: StackConfig, region: RegionConfig, bucket: aws.s3.Bucket, key: aws.kms.Key
    ) -> dict[str, Any]:
        retention = f"{cfg.backup.retention_days * 24}h0m0s"
        return {
            "initContainers": [
                {
                    "name": "velero-plugin-for-aws",
                    "image": VELERO_AWS_PLUGIN,
                    "volumeMounts": [{"mountPath": "/target", "name": "plugins"}],
                }
            ],
            "credentials": {"useSecret": False},  # IRSA instead of static keys
            "serviceAccount": {
                "server": {
                    "create": True,
                    "name": "velero",
                    "annotations": {IRSA_ANNOTATION: self.velero_role.arn},
                }
            },
            "configuration": {
                "backupStorageLocation": [
                    {
                        "name": "default",
                        "provider": "aws",
                        "bucket": bucket.bucket,
                        "prefix": "velero",
                        "default": True,
                        "config": {"region": region.name, "kmsKeyId": key.arn},
                    }
                ],
                "volumeSnapshotLocation": [
                    {"name": "default", "provider": "aws", "config": {"region": region.name}}
                ],
            },
            "schedules": {
                "cluster": {
                    "schedule": backup_schedule(cfg.backup.interval_hours),
                    "template": {"ttl": retention, "includeClusterResources": True},
                }
            },
        }
