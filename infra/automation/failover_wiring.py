"""Failover adapters chosen from the stack's target: the local platform's Redis nodes, nginx and supervisord;
or, for cloud stacks, the ElastiCache global datastore, Route 53 + CloudFront, EKS/HPA floors, identified by
the Pulumi stack outputs (`pulumi stack output --json`)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from infra.automation import wiring
from infra.automation.adapters.failover_ports import FailoverPorts
from infra.automation.errors import InvalidInputError
from infra.automation.failover import FailoverRunner, Progress
from infra.config import StackConfig


def local_ports(cfg: StackConfig) -> FailoverPorts:
    from infra.automation.adapters.local_region import LocalRegions, NginxRedisEndpoint, NginxRegionRouter
    from infra.automation.adapters.redis_store import RedisDataStore, RedisNode
    from infra.local.layout import LOOPBACK
    from infra.local.platform import LocalPlatform

    platform = LocalPlatform(cfg)
    nodes = {r.name: RedisNode(LOOPBACK, r.redis) for r in platform.layout.regions}
    regions = LocalRegions(platform, cfg.failover.smoke_path)
    return FailoverPorts(
        datastore=RedisDataStore(nodes, NginxRedisEndpoint(platform.router)),
        traffic=[NginxRegionRouter(platform.router)],
        health=regions,
        capacity=regions,
        smoke=regions,
    )


def load_outputs(cfg: StackConfig, path: str | None) -> dict[str, Any]:
    source = path or cfg.failover.outputs_file
    if source is None:
        raise InvalidInputError(
            f"stack {cfg.stack}: the cloud resources' ids come from its Pulumi outputs: run "
            f"`pulumi stack output --json -s {cfg.stack} > outputs.json` and pass --outputs outputs.json "
            "(or set streamgate:failover.outputsFile)"
        )
    try:
        outputs: dict[str, Any] = json.loads(Path(source).read_text())
    except (OSError, ValueError) as exc:
        raise InvalidInputError(f"{source}: cannot read the stack outputs: {exc}") from exc
    missing = [r.name for r in cfg.regions if r.name not in outputs.get("regions", {})]
    if missing:
        raise InvalidInputError(f"{source}: no outputs for region(s) {', '.join(missing)}")
    return outputs


def aws_ports(cfg: StackConfig, outputs: dict[str, Any]) -> FailoverPorts:  # pragma: no cover - needs AWS
    import boto3
    from kubernetes import config as kube_config

    from infra.automation.adapters.cloudfront import CloudFrontOriginRouter
    from infra.automation.adapters.eks import CloudCapacity, EksNodeGroups, HpaFloors, HttpSmoke
    from infra.automation.adapters.elasticache import ElastiCacheGlobalStore
    from infra.automation.adapters.route53_failover import Route53FailoverRouter, Route53Health
    from infra.aws.dns import api_name, origin_name
    from infra.k8s.base import deployment_name

    names = [r.name for r in cfg.regions]
    per_region = outputs["regions"]
    checks = {r: per_region[r]["healthCheckId"] for r in names}
    route53 = boto3.client("route53")
    datastore = ElastiCacheGlobalStore(
        outputs["globalDatastoreId"],
        {r: per_region[r]["redisReplicationGroupId"] for r in names},
        {r: boto3.client("elasticache", region_name=r) for r in names},
        {r: boto3.client("cloudwatch", region_name=r) for r in names},
    )
    traffic: list[Any] = [
        Route53FailoverRouter(
            route53, outputs["zoneId"], api_name(cfg), {r: origin_name(cfg, r) for r in names}, checks
        )
    ]
    if outputs.get("cdnDistributionId"):
        traffic.append(
            CloudFrontOriginRouter(boto3.client("cloudfront"), outputs["cdnDistributionId"], names)
        )
    kube = {r: kube_config.new_client_from_config(context=cfg.rollout.kube_contexts.get(r)) for r in names}
    capacity = CloudCapacity(
        EksNodeGroups(
            {r: boto3.client("eks", region_name=r) for r in names},
            {r: per_region[r]["clusterName"] for r in names},
        ),
        HpaFloors(kube, cfg.failover.namespace, deployment_name(cfg.workload.live_color)),
        cfg.failover.pods_per_node,
    )
    return FailoverPorts(
        datastore=datastore,
        traffic=traffic,
        health=Route53Health(route53, checks),
        capacity=capacity,
        smoke=HttpSmoke(f"https://{api_name(cfg)}", cfg.failover.smoke_path),
    )


def runner(
    cfg: StackConfig, *, outputs_path: str | None = None, progress: Progress | None = None
) -> FailoverRunner:
    choice = cfg.failover.datastore
    local = (choice == "auto" and cfg.target == "local") or choice == "redis"
    if local and cfg.target != "local":
        raise InvalidInputError("streamgate:failover.datastore: redis is the local platform's data store")
    ports = local_ports(cfg) if local else aws_ports(cfg, load_outputs(cfg, outputs_path))
    return FailoverRunner(
        cfg.stack,
        [r.name for r in cfg.regions],
        cfg.failover,
        ports,
        wiring.state_store(cfg),
        progress=progress,
    )
