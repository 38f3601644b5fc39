"""Least-privilege IAM for what runs against AWS: the gateway (an IRSA role per region) and the automation
(`streamgate rollout|failover|backup`, one role for the stack).

Each statement is the set of calls one code path makes, scoped to the resources it touches; nothing is
granted that no code calls. tests/infra/test_iam.py records every AWS call the gateway and the automation
adapters make and checks both directions: each call is allowed by a statement here, and each action here
is called. moto's IAM enforcement then runs those paths with only these policies attached.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import pulumi
import pulumi_aws as aws

from runtime.service.settings import StorageSettings

Statement = dict[str, Any]
# The gateway keeps originals and its L3 copies under these prefixes of the content bucket.
CONTENT_PREFIX = StorageSettings.model_fields["prefix"].default
L3_PREFIX = StorageSettings.model_fields["l3_prefix"].default


def _objects(bucket_arn: pulumi.Input[str], prefix: str = "") -> pulumi.Output[str]:
    return pulumi.Output.concat(bucket_arn, "/", f"{prefix}/" if prefix else "", "*")


def gateway_statements(
    content_bucket_arn: pulumi.Input[str],
    key_arn: pulumi.Input[str],
    distribution_arn: pulumi.Input[str],
) -> list[Statement]:
    """The gateway: serve (read originals, read and write its L3 copies), admin writes (store originals,
    drop stale L3 copies), readiness (list the bucket), envelope encryption with the region's key, and CDN
    purges."""
    return [
        {
            "Sid": "ListContent",
            "Effect": "Allow",
            "Action": ["s3:ListBucket"],
            "Resource": [content_bucket_arn],
        },
        {
            "Sid": "ReadWriteContent",
            "Effect": "Allow",
            "Action": ["s3:GetObject", "s3:PutObject"],
            "Resource": [
                _objects(content_bucket_arn, CONTENT_PREFIX),
                _objects(content_bucket_arn, L3_PREFIX),
            ],
        },
        {
            # An invalidation drops the stale L3 copies (originals are only ever overwritten).
            "Sid": "DropL3Copies",
            "Effect": "Allow",
            "Action": ["s3:DeleteObject"],
            "Resource": [_objects(content_bucket_arn, L3_PREFIX)],
        },
        {
            "Sid": "EnvelopeKeys",
            "Effect": "Allow",
            "Action": ["kms:GenerateDataKey", "kms:Decrypt"],
            "Resource": [key_arn],
        },
        {
            "Sid": "PurgeCdn",
            "Effect": "Allow",
            "Action": ["cloudfront:CreateInvalidation"],
            "Resource": [distribution_arn],
        },
    ]


@dataclass(frozen=True)
class RegionResources:
    """One region's resources the automation acts on."""

    content_bucket_arn: pulumi.Input[str]
    backup_bucket_arn: pulumi.Input[str]
    key_arn: pulumi.Input[str]
    replication_group_arn: pulumi.Input[str]
    nodegroup_arn: pulumi.Input[str]
    health_check_arn: pulumi.Input[str]
    catalog_cluster_arn: pulumi.Input[str] | None = None  # the region's Aurora cluster (catalog)


def automation_statements(
    regions: Sequence[RegionResources],
    state_bucket_arn: pulumi.Input[str],
    zone_arn: pulumi.Input[str],
    distribution_arn: pulumi.Input[str],
    global_datastore_arn: pulumi.Input[str] | None,
    catalog_global_arn: pulumi.Input[str] | None = None,
) -> list[Statement]:
    """Rollouts (state and locks, Route 53 weighted records), failover (datastore promotion, DNS and CDN
    origin order, node group floors, health and lag) and backups (encrypted copies of content)."""
    statements: list[Statement] = [
        {
            "Sid": "State",
            "Effect": "Allow",
            "Action": ["s3:GetObject", "s3:PutObject", "s3:DeleteObject"],
            "Resource": [_objects(state_bucket_arn)],
        },
        {
            "Sid": "BackupsList",
            "Effect": "Allow",
            "Action": ["s3:ListBucket"],
            "Resource": [r.backup_bucket_arn for r in regions] + [r.content_bucket_arn for r in regions],
        },
        {
            "Sid": "Backups",
            "Effect": "Allow",
            "Action": ["s3:GetObject", "s3:PutObject", "s3:DeleteObject"],
            "Resource": [_objects(r.backup_bucket_arn) for r in regions],
        },
        {
            # Backups read the content; a restore writes it back.
            "Sid": "Content",
            "Effect": "Allow",
            "Action": ["s3:GetObject", "s3:PutObject"],
            "Resource": [_objects(r.content_bucket_arn) for r in regions],
        },
        {
            "Sid": "BackupKeys",
            "Effect": "Allow",
            "Action": ["kms:GenerateDataKey", "kms:Decrypt"],
            "Resource": [r.key_arn for r in regions],
        },
        {
            "Sid": "Dns",
            "Effect": "Allow",
            "Action": ["route53:ListResourceRecordSets", "route53:ChangeResourceRecordSets"],
            "Resource": [zone_arn],
        },
        {
            "Sid": "DnsChanges",
            "Effect": "Allow",
            "Action": ["route53:GetChange"],
            "Resource": ["arn:aws:route53:::change/*"],
        },
        {
            "Sid": "Health",
            "Effect": "Allow",
            "Action": ["route53:GetHealthCheckStatus"],
            "Resource": [r.health_check_arn for r in regions],
        },
        {
            "Sid": "CdnOrigins",
            "Effect": "Allow",
            "Action": ["cloudfront:GetDistributionConfig", "cloudfront:UpdateDistribution"],
            "Resource": [distribution_arn],
        },
        {
            "Sid": "NodeFloors",
            "Effect": "Allow",
            "Action": ["eks:ListNodegroups", "eks:DescribeNodegroup", "eks:UpdateNodegroupConfig"],
            "Resource": [r.nodegroup_arn for r in regions]
            + [pulumi.Output.from_input(r.nodegroup_arn).apply(_cluster_of_nodegroup) for r in regions],
        },
        {
            # CloudWatch metric reads have no resource-level permissions.
            "Sid": "ReplicationLag",
            "Effect": "Allow",
            "Action": ["cloudwatch:GetMetricStatistics"],
            "Resource": ["*"],
        },
    ]
    if global_datastore_arn is not None:
        statements.append(
            {
                "Sid": "Datastore",
                "Effect": "Allow",
                "Action": [
                    "elasticache:DescribeGlobalReplicationGroups",
                    "elasticache:DescribeReplicationGroups",
                    "elasticache:FailoverGlobalReplicationGroup",
                    # an unplanned failover detaches the surviving region to serve on its own
                    "elasticache:DisassociateGlobalReplicationGroup",
                ],
                "Resource": [global_datastore_arn] + [r.replication_group_arn for r in regions],
            }
        )
    if catalog_global_arn is not None:
        statements.append(
            {
                # The catalog's Aurora global database: observed, switched over (planned), failed over
                # with AllowDataLoss (unplanned). Both name the global cluster and the target cluster.
                "Sid": "CatalogFailover",
                "Effect": "Allow",
                "Action": [
                    "rds:DescribeGlobalClusters",
                    "rds:DescribeDBClusters",
                    "rds:SwitchoverGlobalCluster",
                    "rds:FailoverGlobalCluster",
                ],
                "Resource": [catalog_global_arn]
                + [r.catalog_cluster_arn for r in regions if r.catalog_cluster_arn is not None],
            }
        )
    return statements


def _cluster_of_nodegroup(nodegroup_arn: str) -> str:
    """arn:aws:eks:R:A:nodegroup/CLUSTER/NAME/ID → arn:aws:eks:R:A:cluster/CLUSTER (ListNodegroups' resource)."""
    head, _, path = nodegroup_arn.partition(":nodegroup/")
    return f"{head}:cluster/{path.split('/')[0]}"


def policy_document(statements: Sequence[Statement]) -> pulumi.Output[str]:
    return pulumi.Output.json_dumps({"Version": "2012-10-17", "Statement": list(statements)})


def automation_role(
    name: str,
    stack: str,
    statements: Sequence[Statement],
    opts: pulumi.ResourceOptions,
) -> aws.iam.Role:
    """The role on-call and CI assume to run the automation; trusted by the account (its principals still
    need sts:AssumeRole on it), for up to an hour."""
    account = aws.get_caller_identity_output(opts=pulumi.InvokeOutputOptions(provider=opts.provider))
    trust = account.account_id.apply(
        lambda account_id: json.dumps(
            {
                "Version": "2012-10-17",
                "Statement": [
                    {
                        "Effect": "Allow",
                        "Principal": {"AWS": f"arn:aws:iam::{account_id}:root"},
                        "Action": "sts:AssumeRole",
                    }
                ],
            }
        )
    )
    role = aws.iam.Role(
        name,
        name=f"streamgate-{stack}-automation",
        assume_role_policy=trust,
        description=f"StreamGate {stack}: rollouts, failover and backups (streamgate CLI)",
        max_session_duration=3600,
        opts=opts,
    )
    aws.iam.RolePolicy(name, role=role.id, policy=policy_document(statements), opts=opts)
    return role


def statement_actions(statements: Sequence[Mapping[str, Any]]) -> set[str]:
    return {a for s in statements for a in s["Action"]}


def catalog_connect_statements(proxy_arns: Sequence[str], user: str) -> list[Statement]:
    """The gateway's login to the catalog: an IAM auth token for `user` through each RDS Proxy (signed in
    the pod, no AWS call; the proxy checks `rds-db:connect`). `proxy_arns`: arn:aws:rds:R:A:db-proxy:ID."""
    resources = []
    for arn in proxy_arns:
        parts = arn.split(":")
        resources.append(f"arn:aws:rds-db:{parts[3]}:{parts[4]}:dbuser:{parts[-1]}/{user}")
    return [{"Sid": "CatalogConnect", "Effect": "Allow", "Action": ["rds-db:connect"], "Resource": resources}]
