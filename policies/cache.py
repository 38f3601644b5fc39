"""ElastiCache (Redis/Valkey) replication groups: encrypted at rest and in transit, authenticated, snapshotted
daily, in a subnet group of their own, and in prod able to lose a node or an availability zone."""

from __future__ import annotations

from pulumi_policy import ResourceValidationArgs

from policies.base import Report, flag, get, is_set, number, resource_policy

REPLICATION_GROUP = "aws:elasticache/replicationGroup:ReplicationGroup"


@resource_policy(
    "elasticache-encryption",
    "ElastiCache must encrypt at rest and in transit: set at_rest_encryption_enabled and "
    "transit_encryption_enabled to true (transit_encryption_mode 'required' or unset).",
    [REPLICATION_GROUP],
)
def elasticache_encryption(args: ResourceValidationArgs, report: Report) -> None:
    props = args.props
    if not flag(get(props, "atRestEncryptionEnabled")):
        report("at-rest encryption is off")
    if not flag(get(props, "transitEncryptionEnabled")):
        report("in-transit encryption (TLS) is off")
    elif get(props, "transitEncryptionMode") == "preferred":
        report("transit_encryption_mode 'preferred' still accepts plaintext clients")


@resource_policy(
    "elasticache-auth",
    "ElastiCache must require authentication: set auth_token (from the redisAuthToken secret) or "
    "user_group_ids.",
    [REPLICATION_GROUP],
)
def elasticache_auth(args: ResourceValidationArgs, report: Report) -> None:
    if not (is_set(args.props, "authToken") or is_set(args.props, "userGroupIds")):
        report("no auth_token and no user groups: anyone inside the VPC can connect")


@resource_policy(
    "elasticache-high-availability",
    "Prod ElastiCache must survive a node or AZ loss: set redis.replicas ≥ 1 in the stack file "
    "(automatic failover and multi-AZ follow).",
    [REPLICATION_GROUP],
    prod_only=True,
)
def elasticache_high_availability(args: ResourceValidationArgs, report: Report) -> None:
    props = args.props
    if not flag(get(props, "automaticFailoverEnabled")):
        report("automatic failover is off")
    if not flag(get(props, "multiAzEnabled")):
        report("multi-AZ is off")
    nodes = number(get(props, "numCacheClusters"))
    replicas = number(get(props, "replicasPerNodeGroup"))
    if (nodes is None or nodes < 2) and (replicas is None or replicas < 1):
        report("no replica to fail over to (num_cache_clusters < 2 and no replicas_per_node_group)")


@resource_policy(
    "elasticache-snapshots",
    "ElastiCache must keep automatic snapshots and live in its own subnet group (FSBP ElastiCache.1, "
    "ElastiCache.7): set redis.snapshotRetentionDays ≥ 1 and subnet_group_name.",
    [REPLICATION_GROUP],
)
def elasticache_snapshots(args: ResourceValidationArgs, report: Report) -> None:
    retention = number(get(args.props, "snapshotRetentionLimit"))
    if retention is None or retention < 1:
        report("automatic snapshots are off (snapshot_retention_limit 0 or unset)")
    group = get(args.props, "subnetGroupName")
    if not is_set(args.props, "subnetGroupName") or group == "default":
        report("no subnet group of its own: ElastiCache would use the default VPC's subnets")
