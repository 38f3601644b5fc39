"""A cloud stack as a target, found through its Pulumi outputs (infra/outputs.py): each region's cluster by its
kubeconfig (Ingress canary weights, Deployments, HPA floors, and the in-cluster Prometheus and Pushgateway
through the API server), ElastiCache's global datastore, Route 53 and CloudFront for traffic, EKS node
groups for capacity, S3 and KMS for state and backups.

AWS credentials are the caller's (on-call and CI assume the stack's `automationRoleArn`, whose policy is
exactly what these adapters call); every boto3 client comes from `aws_client`, one place to point them
elsewhere.
"""

from __future__ import annotations

from functools import cache
from typing import TYPE_CHECKING, Any

from infra.automation.adapters.prometheus import PrometheusMetrics
from infra.automation.adapters.pushgateway import Pushgateway
from infra.automation.errors import InvalidInputError
from infra.config import StackConfig
from infra.names import api_name, origin_name
from infra.outputs import (
    ALERTMANAGER_SERVICE,
    MONITORING_NAMESPACE,
    PROMETHEUS_SERVICE,
    PUSHGATEWAY_SERVICE,
    StackOutputs,
)

if TYPE_CHECKING:
    from infra.automation.adapters import Deployer, Router
    from infra.automation.adapters.alertmanager import AlertmanagerAlerts
    from infra.automation.adapters.backup_source import RegionBackup
    from infra.automation.adapters.eks import HpaFloor
    from infra.automation.adapters.failover_ports import DataStore, FailoverPorts
    from infra.automation.adapters.kubeapi import KubeApi
    from infra.automation.adapters.state import StateStore
    from infra.automation.adapters.step_up import GatewayStepUp
    from runtime.storage import ObjectStore

ELASTICACHE_NOTE = (
    "Redis not included: ElastiCache forbids BGSAVE; its own snapshots (redis.snapshotRetentionDays) cover it"
)


def aws_client(service: str, region: str | None = None) -> Any:
    """A boto3 client; the default credential chain (the automation role's profile)."""
    import boto3

    return boto3.client(service, region_name=region)  # type: ignore[call-overload]


class AwsTarget:
    def __init__(self, cfg: StackConfig, outputs: StackOutputs) -> None:
        self.cfg, self.outputs = cfg, outputs
        self.names = [r.name for r in cfg.regions]

    # -- a region's cluster ------------------------------------------------------------------------
    @cache  # noqa: B019 - one client per region for the life of the target
    def kube(self, region: str) -> Any:
        """The region's cluster API, from the kubeconfig in the outputs."""
        from kubernetes import config

        try:
            return config.new_client_from_config_dict(self.outputs.regions[region].kubeconfig_dict())
        except Exception as exc:
            raise InvalidInputError(
                f"{region}: the kubeconfig in the stack outputs is unusable: {exc}"
            ) from exc

    def kube_api(self, region: str) -> KubeApi:
        from infra.automation.adapters.kubeapi import KubeApi

        return KubeApi(self.kube(region))

    def metrics(self, region: str) -> PrometheusMetrics:
        if self.cfg.rollout.prometheus_url:
            return PrometheusMetrics(self.cfg.rollout.prometheus_url)
        api = self.kube_api(region)
        url = api.service_url(MONITORING_NAMESPACE, PROMETHEUS_SERVICE)
        return PrometheusMetrics(url, auth=api.auth(), session=api.session())

    def pushgateway(self, region: str, override: str | None = None) -> Pushgateway | None:
        if override:
            return Pushgateway(override)
        api = self.kube_api(region)
        return Pushgateway(api.service_url(MONITORING_NAMESPACE, PUSHGATEWAY_SERVICE), api.push_handler())

    def alerts(self, region: str) -> AlertmanagerAlerts:
        from infra.automation.adapters.alertmanager import AlertmanagerAlerts

        api = self.kube_api(region)
        return AlertmanagerAlerts(api.service_url(MONITORING_NAMESPACE, ALERTMANAGER_SERVICE), api.session())

    def notification_urls(self) -> dict[str, str]:
        return dict(self.outputs.notification_urls)

    def step_up(self) -> GatewayStepUp:
        raise InvalidInputError(
            f"stack {self.cfg.stack}: the console verifies an operator's MFA step-up with the gateways' "
            "signing key, which only the local platform holds outside the cluster; act on cloud stacks with "
            "`streamgate rollout pause|resume|promote|abort` (the console stays read-only)"
        )

    def state_store(self) -> StateStore:
        from infra.automation.adapters.state import S3StateStore

        s3 = aws_client("s3", self.outputs.primary_region)
        return S3StateStore(s3, self.outputs.state_bucket, self.cfg.stack)

    def router(self, region: str) -> Router:
        # The stack's checks allow only this kind's routers (infra/config_checks.py).
        if self.cfg.kind.router(self.cfg.rollout.router) == "route53":
            from infra.automation.adapters.route53 import Route53WeightedRouter

            r53 = self.cfg.rollout.route53
            assert r53 is not None  # the config model requires it with router: route53
            return Route53WeightedRouter(
                aws_client("route53"),
                r53.zone_id or self.outputs.zone_id,
                r53.record_name,
                {str(k): v for k, v in r53.targets.items()},
                ttl=r53.ttl,
            )
        from infra.automation.adapters.ingress_nginx import IngressCanaryRouter

        k = self.outputs.regions[region].kubernetes
        return IngressCanaryRouter(self.kube(region), k.namespace, k.service, k.canary_ingress)

    def deployer(self, region: str) -> Deployer:
        from infra.automation.adapters.k8s_deployer import KubernetesDeployer

        k = self.outputs.regions[region].kubernetes
        return KubernetesDeployer(self.kube(region), self.cfg.workload.image, k.namespace, k.service)

    # -- failover ----------------------------------------------------------------------------------
    def failover_ports(self) -> FailoverPorts:
        from infra.automation.adapters.cloudfront import CloudFrontOriginRouter
        from infra.automation.adapters.eks import CloudCapacity, EksNodeGroups, HpaFloors, HttpSmoke
        from infra.automation.adapters.elasticache import ElastiCacheGlobalStore
        from infra.automation.adapters.failover_ports import FailoverPorts
        from infra.automation.adapters.route53_failover import Route53FailoverRouter, Route53Health

        out, names = self.outputs, self.names
        if out.global_datastore_id is None:
            raise InvalidInputError(
                f"stack {self.cfg.stack} has one region: there is no region to fail over to"
            )
        checks = {r: out.regions[r].health_check_id for r in names}
        route53 = aws_client("route53")
        live = {r: out.regions[r].kubernetes for r in names}
        return FailoverPorts(
            datastore=self._with_catalog(
                ElastiCacheGlobalStore(
                    out.global_datastore_id,
                    {r: out.regions[r].redis_replication_group_id for r in names},
                    {r: aws_client("elasticache", r) for r in names},
                    {r: aws_client("cloudwatch", r) for r in names},
                )
            ),
            traffic=[
                Route53FailoverRouter(
                    route53,
                    out.zone_id,
                    api_name(self.cfg.domain),
                    {r: origin_name(self.cfg.domain, r) for r in names},
                    checks,
                ),
                CloudFrontOriginRouter(aws_client("cloudfront"), out.cdn_distribution_id, names),
            ],
            health=Route53Health(route53, checks),
            capacity=CloudCapacity(
                EksNodeGroups(
                    {r: aws_client("eks", r) for r in names},
                    {r: out.regions[r].cluster_name for r in names},
                ),
                HpaFloors(
                    {r: self.kube(r) for r in names},
                    live[names[0]].namespace,
                    live[names[0]].deployments[self.cfg.workload.live_color],
                ),
                self.cfg.failover.pods_per_node,
            ),
            smoke=HttpSmoke(f"https://{api_name(self.cfg.domain)}", self.cfg.failover.smoke_path),
        )

    # -- backups -----------------------------------------------------------------------------------
    def _with_catalog(self, store: DataStore) -> DataStore:
        """The catalog's Aurora global database fails over with the datastore, as one data store."""
        out, names = self.outputs, self.names
        arns = {r: out.regions[r].catalog_cluster_arn for r in names}
        if out.catalog_global_cluster_id is None or None in arns.values():
            return store
        from infra.automation.adapters.aurora_global import AuroraGlobalStore
        from infra.automation.adapters.combined_store import CombinedDataStore

        aurora = AuroraGlobalStore(
            out.catalog_global_cluster_id,
            {r: str(arn) for r, arn in arns.items()},
            {r: aws_client("rds", r) for r in names},
            {r: aws_client("cloudwatch", r) for r in names},
        )
        return CombinedDataStore([store, aurora])

    def backup(self, region: str, *, redis: bool = True) -> RegionBackup:
        from infra.automation.adapters.backup_source import RegionBackup
        from runtime.security.envelope import Envelope
        from runtime.security.settings import EncryptionSettings

        out = self.outputs.regions[region]
        settings = EncryptionSettings(kms_key_id=out.kms_key_arn, region=region)
        return RegionBackup(
            stack=self.cfg.stack,
            region=region,
            backup=self.bucket(out.backup_bucket, region),
            envelope=Envelope(settings, kms=aws_client("kms", region)),
            content=self.bucket(out.content_bucket, region),
            redis=None,
            notes=[ELASTICACHE_NOTE],
        )

    def bucket(self, name: str, region: str) -> ObjectStore:
        from runtime.storage import ObjectStore

        return ObjectStore(name, region=region, client=aws_client("s3", region))

    # -- predictive scaling ------------------------------------------------------------------------
    def capacity_knob(self, region: str) -> HpaFloor:
        """The HPA of the color the stable Service selects (the live color, per the outputs)."""
        from infra.automation.adapters.eks import HpaFloor

        k = self.outputs.regions[region].kubernetes
        return HpaFloor(self.kube(region), k.namespace, k.deployments[k.live_color], region)
