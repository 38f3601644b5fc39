"""Builds the whole stack from its model: the regions, then what spans them. `__main__` exports the result."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import pulumi
import pulumi_aws as aws

from infra.aws.base import regional_provider
from infra.aws.cache import GlobalDatastore, RegionalRedis
from infra.aws.cdn import Cdn, Waf
from infra.aws.cluster import Cluster
from infra.aws.dns import Dns
from infra.aws.keys import RegionKey
from infra.aws.network import Network
from infra.aws.storage import DataProtection, RegionStorage
from infra.config import RegionConfig, StackConfig
from infra.k8s.layer import KubernetesLayer, build_kubernetes

# Route 53, CloudFront, ACM for CloudFront and CLOUDFRONT-scope WAF are global services driven from us-east-1.
GLOBAL_REGION = "us-east-1"
GLOBAL_PROVIDER = "aws-global"


class Region(pulumi.ComponentResource):
    """Everything one region runs: network, key, cluster, Redis, buckets, and on the cluster the
    Kubernetes layer (add-ons, gateway workload, autoscaling, monitoring)."""

    def __init__(
        self,
        cfg: StackConfig,
        region: RegionConfig,
        provider: aws.Provider,
        auth_token: pulumi.Input[str],
        global_group_id: pulumi.Input[str] | None,
    ) -> None:
        name = region.name
        super().__init__(
            "streamgate:aws:Region", name, None, pulumi.ResourceOptions(providers={"aws": provider})
        )
        opts = pulumi.ResourceOptions(parent=self)
        self.provider = provider
        self.key = RegionKey(f"{name}-keys", cfg, name, opts).key
        self.network = Network(f"{name}-network", cfg, region, opts)
        self.cluster = Cluster(f"{name}-cluster", cfg, region, self.network, self.key, opts)
        self.redis = RegionalRedis(
            f"{name}-cache", cfg, region, self.network, self.key, auth_token, global_group_id, opts
        )
        self.storage = RegionStorage(f"{name}-storage", cfg, name, self.key, opts)
        self.kubernetes: KubernetesLayer = build_kubernetes(
            cfg, region, self, self.cluster, self.key, self.storage, self.redis, auth_token
        )
        self.register_outputs({})


@dataclass
class Platform:
    regions: dict[str, Region]
    outputs: dict[str, Any] = field(default_factory=dict)


def build_platform(cfg: StackConfig) -> Platform:
    secrets = pulumi.Config("streamgate")
    auth_token = secrets.require_secret("redisAuthToken")
    providers = {r.name: regional_provider(cfg, r.name) for r in cfg.regions}
    global_provider = aws.Provider(
        GLOBAL_PROVIDER, region=GLOBAL_REGION, default_tags={"tags": cfg.resource_tags}
    )

    primary_cfg, *secondary_cfgs = cfg.regions
    primary = Region(cfg, primary_cfg, providers[primary_cfg.name], auth_token, None)
    datastore = None
    if secondary_cfgs:
        datastore = GlobalDatastore(
            "global-cache", cfg, primary.redis, pulumi.ResourceOptions(provider=primary.provider)
        )
    regions = {primary_cfg.name: primary}
    for rc in secondary_cfgs:
        assert datastore is not None
        regions[rc.name] = Region(
            cfg, rc, providers[rc.name], auth_token, datastore.group.global_replication_group_id
        )

    names = list(regions)
    DataProtection(
        "data-protection",
        cfg,
        primary.storage,
        [regions[n].storage for n in names[1:]],
        pulumi.ResourceOptions(provider=primary.provider),
    )
    on_global = pulumi.ResourceOptions(provider=global_provider)
    origins = {n: r.kubernetes.workload.ingress_hostname for n, r in regions.items()}
    dns = Dns("dns", cfg, names, origin_targets=origins, opts=on_global)
    waf = Waf("waf", cfg, on_global)
    global_key = RegionKey("global-keys", cfg, GLOBAL_REGION, on_global).key
    cdn = Cdn("cdn", cfg, names, dns.zone, waf, global_key, on_global)

    outputs: dict[str, Any] = {
        "stack": cfg.stack,
        "primaryRegion": primary_cfg.name,
        "cdnDomain": cdn.distribution.domain_name,
        "cdnDistributionId": cdn.distribution.id,
        "zoneId": dns.zone.zone_id,
        "globalDatastoreId": datastore.group.global_replication_group_id if datastore else None,
        "regions": {
            name: {
                "clusterName": r.cluster.cluster.name,
                "clusterEndpoint": r.cluster.cluster.endpoint,
                "kubeconfig": r.cluster.kubeconfig,
                "redisPrimaryEndpoint": r.redis.group.primary_endpoint_address,
                "redisReaderEndpoint": r.redis.group.reader_endpoint_address,
                "redisReplicationGroupId": r.redis.group.id,
                "contentBucket": r.storage.content.bucket.bucket,
                "backupBucket": r.storage.backup.bucket.bucket,
                "backupVault": r.storage.vault.name,
                "kmsKeyArn": r.key.arn,
                "healthCheckId": dns.health_checks[name].id,
                "kubernetes": r.kubernetes.outputs(),
            }
            for name, r in regions.items()
        },
    }
    return Platform(regions=regions, outputs=outputs)
