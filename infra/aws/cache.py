"""Redis per region (ElastiCache replication groups) joined into one Global Datastore on multi-region stacks."""

from __future__ import annotations

from dataclasses import dataclass

import pulumi
import pulumi_aws as aws

from infra.aws.base import child
from infra.aws.network import Network, vpc_only_port
from infra.config import RedisConfig

REDIS_PORT = 6379


@dataclass(frozen=True)
class RegionalRedisArgs:
    stack: str
    region: str
    vpc_cidr: str  # who may connect
    redis: RedisConfig
    network: Network
    key: aws.kms.Key
    auth_token: pulumi.Input[str]
    global_group_id: pulumi.Input[str] | None = None  # set: a secondary of the Global Datastore


class RegionalRedis(pulumi.ComponentResource):
    group: aws.elasticache.ReplicationGroup

    def __init__(
        self, name: str, args: RegionalRedisArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        super().__init__("streamgate:aws:RegionalRedis", name, None, opts)
        network, key, global_group_id = args.network, args.key, args.global_group_id
        subnets = aws.elasticache.SubnetGroup(
            f"{name}-subnets", subnet_ids=network.private_subnet_ids, opts=child(self)
        )
        sg = vpc_only_port(f"{name}-redis", self, network, args.vpc_cidr, REDIS_PORT, "Redis")
        redis = args.redis
        # Secondaries of a Global Datastore inherit engine, version and node type from the primary.
        primary = global_group_id is None
        self.group = aws.elasticache.ReplicationGroup(
            f"{name}-redis",
            description=f"StreamGate {args.stack} {args.region} cache",
            global_replication_group_id=global_group_id,
            num_cache_clusters=1 + redis.replicas,
            automatic_failover_enabled=redis.replicas > 0,
            multi_az_enabled=redis.replicas > 0,
            at_rest_encryption_enabled=True,
            transit_encryption_enabled=True,
            kms_key_id=key.arn,
            auth_token=args.auth_token,
            auth_token_update_strategy="ROTATE",
            port=REDIS_PORT,
            subnet_group_name=subnets.name,
            security_group_ids=[sg.id],
            snapshot_retention_limit=redis.snapshot_retention_days,
            snapshot_window="03:00-05:00",
            maintenance_window="sun:05:30-sun:06:30",
            apply_immediately=False,
            engine="redis" if primary else None,
            engine_version=redis.engine_version if primary else None,
            node_type=redis.node_type if primary else None,
            opts=child(self),
        )
        self.register_outputs({"primaryEndpoint": self.group.primary_endpoint_address})


class GlobalDatastore(pulumi.ComponentResource):
    """The cross-region replication group; the primary region's group is its primary member."""

    group: aws.elasticache.GlobalReplicationGroup

    def __init__(
        self, name: str, stack: str, primary: RegionalRedis, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        super().__init__("streamgate:aws:GlobalDatastore", name, None, opts)
        self.group = aws.elasticache.GlobalReplicationGroup(
            f"{name}-global",
            global_replication_group_id_suffix=f"streamgate-{stack}",
            global_replication_group_description=f"StreamGate {stack} cross-region cache",
            primary_replication_group_id=primary.group.id,
            automatic_failover_enabled=True,
            opts=child(self),
        )
        self.register_outputs({"id": self.group.global_replication_group_id})
