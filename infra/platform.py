"""Builds the whole stack from its model: what the regions share first (zone, WAF, CDN), then the regions,
then what spans them (DNS failover, data protection, the automation's access). `__main__` exports the
outputs (their shape: infra/outputs.py)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import pulumi
import pulumi_aws as aws

from infra.aws.automation import Automation, AutomationArgs
from infra.aws.base import regional_provider
from infra.aws.cache import GlobalDatastore, RegionalRedis, RegionalRedisArgs
from infra.aws.catalog import (
    CatalogGlobal,
    CatalogGlobalArgs,
    RegionalCatalog,
    RegionalCatalogArgs,
    catalog_regions,
    global_catalog,
)
from infra.aws.catalog import deletion_protection as catalog_deletion_protection
from infra.aws.cdn import Cdn, CdnArgs, Waf, WafArgs
from infra.aws.cluster import Cluster, ClusterArgs
from infra.aws.dns import Dns, DnsArgs
from infra.aws.iam import RegionResources
from infra.aws.keys import RegionKey, RegionKeyArgs
from infra.aws.network import Network, NetworkArgs
from infra.aws.storage import DataProtection, DataProtectionArgs, RegionStorage, RegionStorageArgs
from infra.aws.tls import OriginCertificate, OriginCertificateArgs
from infra.config import RegionConfig, StackConfig
from infra.k8s.layer import ClusterInputs, KubernetesLayer, build_kubernetes
from infra.names import origin_name
from infra.outputs import KubernetesOutputs, RegionOutputs, StackOutputs, exported
from infra.stack_secrets import StackSecrets

# Route 53, CloudFront, ACM for CloudFront and CLOUDFRONT-scope WAF are global services driven from us-east-1.
GLOBAL_REGION = "us-east-1"
GLOBAL_PROVIDER = "aws-global"


@dataclass(frozen=True)
class Shared:
    """What every region uses from the stack's global resources."""

    secrets: StackSecrets
    dns: Dns
    cdn: Cdn
    catalog_global: aws.rds.GlobalCluster | None = None  # prod's global database (its regions join it)


class Region(pulumi.ComponentResource):
    """Everything one region runs: network, key, cluster, Redis, buckets, the origin's certificate, and on
    the cluster the Kubernetes layer (add-ons, gateway workload, autoscaling, monitoring)."""

    def __init__(
        self,
        cfg: StackConfig,
        region: RegionConfig,
        provider: aws.Provider,
        shared: Shared,
        global_group_id: pulumi.Input[str] | None,
        api_record_fqdn: pulumi.Output[str] | None,
        catalog_primary: aws.rds.Cluster | None = None,
    ) -> None:
        name = region.name
        super().__init__(
            "streamgate:aws:Region", name, None, pulumi.ResourceOptions(providers={"aws": provider})
        )
        opts = pulumi.ResourceOptions(parent=self)
        self.provider = provider
        self.key = RegionKey(f"{name}-keys", RegionKeyArgs(cfg.stack, name), opts).key
        self.network = Network(
            f"{name}-network", NetworkArgs(cfg.stack, name, region.vpc_cidr, cfg.environment), opts
        )
        self.cluster = Cluster(
            f"{name}-cluster", ClusterArgs(cfg.stack, name, region.cluster, self.network, self.key), opts
        )
        self.redis = RegionalRedis(
            f"{name}-cache",
            RegionalRedisArgs(
                stack=cfg.stack,
                region=name,
                vpc_cidr=region.vpc_cidr,
                redis=cfg.redis,
                network=self.network,
                key=self.key,
                auth_token=shared.secrets.redis_auth_token,
                global_group_id=global_group_id,
            ),
            opts,
        )
        self.catalog: RegionalCatalog | None = None
        if name in catalog_regions(cfg):
            self.catalog = RegionalCatalog(
                f"{name}-catalog",
                RegionalCatalogArgs(
                    stack=cfg.stack,
                    region=name,
                    vpc_cidr=region.vpc_cidr,
                    catalog=cfg.catalog,
                    deletion_protection=catalog_deletion_protection(cfg),
                    network=self.network,
                    key=self.key,
                    global_cluster=shared.catalog_global,
                    primary=catalog_primary,
                ),
                opts,
            )
        self.storage = RegionStorage(f"{name}-storage", RegionStorageArgs(cfg.backup, self.key), opts)
        self.certificate = OriginCertificate(
            f"{name}-tls", OriginCertificateArgs(cfg.domain, name, shared.dns.zone, api_record_fqdn), opts
        )
        self.kubernetes: KubernetesLayer = build_kubernetes(
            cfg,
            region,
            self,
            ClusterInputs(
                cluster=self.cluster,
                key=self.key,
                storage=self.storage,
                redis=self.redis,
                certificate_arn=self.certificate.arn,
                distribution=shared.cdn.distribution,
                secrets=shared.secrets,
                catalog=self.catalog,
            ),
        )
        self.register_outputs({})


@dataclass
class Platform:
    regions: dict[str, Region]
    outputs: dict[str, Any] = field(default_factory=dict)


def build_platform(cfg: StackConfig) -> Platform:
    secrets = StackSecrets.from_config(cfg)
    providers = {r.name: regional_provider(cfg, r.name) for r in cfg.regions}
    global_provider = aws.Provider(
        GLOBAL_PROVIDER, region=GLOBAL_REGION, default_tags={"tags": cfg.resource_tags}
    )
    on_global = pulumi.ResourceOptions(provider=global_provider)
    names = [r.name for r in cfg.regions]
    dns = Dns("dns", DnsArgs(cfg.stack, cfg.domain), on_global)
    waf = Waf("waf", WafArgs(cfg.stack, cfg.waf.rate_per_five_minutes), on_global)
    global_key = RegionKey("global-keys", RegionKeyArgs(cfg.stack, GLOBAL_REGION), on_global).key
    cdn = Cdn(
        "cdn", CdnArgs(cfg.stack, cfg.domain, cfg.cdn, cfg.cors, names, dns.zone, waf, global_key), on_global
    )
    primary_cfg, *secondary_cfgs = cfg.regions
    catalog_global = None
    if cfg.catalog.enabled and global_catalog(cfg):
        on_first = pulumi.ResourceOptions(provider=providers[primary_cfg.name])
        catalog_global = CatalogGlobal(
            "catalog",
            CatalogGlobalArgs(cfg.stack, cfg.catalog, catalog_deletion_protection(cfg)),
            on_first,
        ).cluster
    shared = Shared(secrets, dns, cdn, catalog_global)
    primary = Region(cfg, primary_cfg, providers[primary_cfg.name], shared, None, None)
    datastore = None
    if secondary_cfgs:
        datastore = GlobalDatastore(
            "global-cache", cfg.stack, primary.redis, pulumi.ResourceOptions(provider=primary.provider)
        )
    regions = {primary_cfg.name: primary}
    for rc in secondary_cfgs:
        assert datastore is not None
        regions[rc.name] = Region(
            cfg,
            rc,
            providers[rc.name],
            shared,
            datastore.group.global_replication_group_id,
            primary.certificate.api_record_fqdn,
            primary.catalog.cluster if primary.catalog is not None else None,
        )

    on_primary = pulumi.ResourceOptions(provider=primary.provider)
    DataProtection(
        "data-protection",
        DataProtectionArgs(cfg.backup, primary.storage, [regions[n].storage for n in names[1:]]),
        on_primary,
    )
    dns.route(names, {n: r.kubernetes.workload.ingress_hostname for n, r in regions.items()})
    automation = Automation(
        "automation",
        AutomationArgs(
            stack=cfg.stack,
            key=primary.key,
            regions=[
                RegionResources(
                    content_bucket_arn=r.storage.content.bucket.arn,
                    backup_bucket_arn=r.storage.backup.bucket.arn,
                    key_arn=r.key.arn,
                    replication_group_arn=r.redis.group.arn,
                    nodegroup_arn=r.cluster.node_group.arn,
                    health_check_arn=dns.health_checks[n].arn,
                    catalog_cluster_arn=r.catalog.cluster.arn if r.catalog else None,
                )
                for n, r in regions.items()
            ],
            clusters={n: (r.cluster.cluster, r.provider) for n, r in regions.items()},
            zone=dns.zone,
            distribution=cdn.distribution,
            global_datastore_arn=datastore.group.arn if datastore else None,
            catalog_global_arn=catalog_global.arn if catalog_global else None,
        ),
        on_primary,
    )
    outputs = exported(
        StackOutputs,
        stack=cfg.stack,
        primary_region=primary_cfg.name,
        cdn_domain=cdn.distribution.domain_name,
        cdn_distribution_id=cdn.distribution.id,
        zone_id=dns.zone.zone_id,
        global_datastore_id=datastore.group.global_replication_group_id if datastore else None,
        catalog_global_cluster_id=catalog_global.global_cluster_identifier if catalog_global else None,
        state_bucket=automation.state_bucket.bucket,
        automation_role_arn=automation.role.arn,
        regions={name: _region_outputs(cfg, name, r, dns) for name, r in regions.items()},
        notification_urls={c: pulumi.Output.secret(url) for c, url in secrets.notification_urls.items()},
    )
    return Platform(regions=regions, outputs=outputs)


def _region_outputs(cfg: StackConfig, name: str, r: Region, dns: Dns) -> dict[str, Any]:
    wl = r.kubernetes.workload
    return exported(
        RegionOutputs,
        cluster_name=r.cluster.cluster.name,
        cluster_endpoint=r.cluster.cluster.endpoint,
        kubeconfig=r.cluster.kubeconfig,
        redis_primary_endpoint=r.redis.group.primary_endpoint_address,
        redis_reader_endpoint=r.redis.group.reader_endpoint_address,
        redis_replication_group_id=r.redis.group.id,
        content_bucket=r.storage.content.bucket.bucket,
        backup_bucket=r.storage.backup.bucket.bucket,
        backup_vault=r.storage.vault.name,
        kms_key_arn=r.key.arn,
        health_check_id=dns.health_checks[name].id,
        origin_name=origin_name(cfg.domain, name),
        certificate_arn=r.certificate.arn,
        catalog_cluster_arn=r.catalog.cluster.arn if r.catalog else None,
        catalog_proxy_endpoint=r.catalog.proxy.endpoint if r.catalog else None,
        kubernetes=exported(
            KubernetesOutputs,
            namespace=wl.namespace.metadata.name,
            service=wl.service.metadata.name,
            color_services={c: s.metadata.name for c, s in wl.color_services.items()},
            deployments={c: d.metadata.name for c, d in wl.deployments.items()},
            ingress=wl.ingress.metadata.name,
            canary_ingress=wl.canary_ingress.metadata.name,
            live_color=cfg.workload.live_color,
            ingress_hostname=wl.ingress_hostname,
        ),
    )
