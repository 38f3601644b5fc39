"""S3 buckets per region — content (what the gateway serves) and backups — plus cross-region replication
and an AWS Backup vault and plan with a cross-region copy."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass

import pulumi
import pulumi_aws as aws

from infra.aws.base import assume_role_policy, child
from infra.config import BackupConfig


def tls_only_policy(bucket_arn: str) -> str:
    """A bucket policy refusing every request made without TLS (AWS FSBP S3.5)."""
    return json.dumps(
        {
            "Version": "2012-10-17",
            "Statement": [
                {
                    "Sid": "DenyInsecureTransport",
                    "Effect": "Deny",
                    "Principal": "*",
                    "Action": "s3:*",
                    "Resource": [bucket_arn, f"{bucket_arn}/*"],
                    "Condition": {"Bool": {"aws:SecureTransport": "false"}},
                }
            ],
        }
    )


@dataclass(frozen=True)
class SecureBucket:
    bucket: aws.s3.Bucket
    versioning: aws.s3.BucketVersioning
    key: aws.kms.Key


def secure_bucket(
    parent: pulumi.Resource,
    name: str,
    key: aws.kms.Key,
    *,
    object_lock: bool = False,
    tags: dict[str, str] | None = None,
    acls: bool = False,
) -> SecureBucket:
    """A bucket that is versioned, SSE-KMS encrypted with the region's key, closed to the public and to
    requests without TLS.
    `acls` keeps object ACLs usable, for writers that need them (CloudFront standard logs)."""
    bucket = aws.s3.Bucket(
        name, object_lock_enabled=object_lock or None, force_destroy=False, tags=tags, opts=child(parent)
    )
    versioning = aws.s3.BucketVersioning(
        name, bucket=bucket.id, versioning_configuration={"status": "Enabled"}, opts=child(parent)
    )
    aws.s3.BucketServerSideEncryptionConfiguration(
        name,
        bucket=bucket.id,
        rules=[
            {
                "apply_server_side_encryption_by_default": {
                    "sse_algorithm": "aws:kms",
                    "kms_master_key_id": key.arn,
                },
                "bucket_key_enabled": True,
            }
        ],
        opts=child(parent),
    )
    public_access = aws.s3.BucketPublicAccessBlock(
        name,
        bucket=bucket.id,
        block_public_acls=True,
        block_public_policy=True,
        ignore_public_acls=True,
        restrict_public_buckets=True,
        opts=child(parent),
    )
    aws.s3.BucketPolicy(
        name,
        bucket=bucket.id,
        policy=bucket.arn.apply(tls_only_policy),
        opts=child(parent, depends_on=[public_access]),
    )
    aws.s3.BucketOwnershipControls(
        name,
        bucket=bucket.id,
        rule={"object_ownership": "BucketOwnerPreferred" if acls else "BucketOwnerEnforced"},
        opts=child(parent),
    )
    return SecureBucket(bucket, versioning, key)


@dataclass(frozen=True)
class RegionStorageArgs:
    backup: BackupConfig
    key: aws.kms.Key  # the region's: encrypts both buckets and the vault


class RegionStorage(pulumi.ComponentResource):
    content: SecureBucket
    backup: SecureBucket
    vault: aws.backup.Vault

    def __init__(
        self, name: str, args: RegionStorageArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        super().__init__("streamgate:aws:RegionStorage", name, None, opts)
        policy, key = args.backup, args.key
        self.content = secure_bucket(self, f"{name}-content", key, tags={"streamgate/backup": "true"})
        self.backup = secure_bucket(
            self, f"{name}-backup", key, object_lock=policy.object_lock, tags={"streamgate/purpose": "backup"}
        )
        aws.s3.BucketLifecycleConfiguration(
            f"{name}-backup",
            bucket=self.backup.bucket.id,
            rules=[
                {
                    "id": "cold-then-expire",
                    "status": "Enabled",
                    "filter": {"prefix": ""},
                    "transitions": [{"days": policy.cold_storage_after_days, "storage_class": "GLACIER_IR"}],
                    "expiration": {"days": policy.retention_days},
                    "noncurrent_version_expiration": {"noncurrent_days": policy.retention_days},
                    "abort_incomplete_multipart_upload": {"days_after_initiation": 7},
                }
            ],
            opts=child(self, depends_on=[self.backup.versioning]),
        )
        if policy.object_lock:
            aws.s3.BucketObjectLockConfiguration(
                f"{name}-backup",
                bucket=self.backup.bucket.id,
                rule={"default_retention": {"mode": "GOVERNANCE", "days": policy.retention_days}},
                opts=child(self, depends_on=[self.backup.versioning]),
            )
        self.vault = aws.backup.Vault(f"{name}-vault", kms_key_arn=key.arn, opts=child(self))
        self.register_outputs(
            {"contentBucket": self.content.bucket.bucket, "backupBucket": self.backup.bucket.bucket}
        )


@dataclass(frozen=True)
class DataProtectionArgs:
    backup: BackupConfig
    primary: RegionStorage
    others: Sequence[RegionStorage]  # in the stack's order: the first gets the backup copies


class DataProtection(pulumi.ComponentResource):
    """The AWS Backup plan of the primary region (copying recovery points to the next region) and S3
    replication out of the primary region: content to every region, backups to the next one.
    Lives on the primary region's provider."""

    plan: aws.backup.Plan

    def __init__(
        self, name: str, args: DataProtectionArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        super().__init__("streamgate:aws:DataProtection", name, None, opts)
        primary, others = args.primary, args.others
        self.plan = backup_plan(self, name, args.backup, primary, others[0] if others else None)
        if others:
            self._replicate(name, primary, others)
        self.register_outputs({"backupPlanId": self.plan.id})

    def _replicate(self, name: str, primary: RegionStorage, others: Sequence[RegionStorage]) -> None:
        role = aws.iam.Role(
            f"{name}-s3", assume_role_policy=assume_role_policy("s3.amazonaws.com"), opts=child(self)
        )
        sources = [primary.content, primary.backup]
        targets = [s.content for s in others] + [others[0].backup]
        aws.iam.RolePolicy(
            f"{name}-s3",
            role=role.id,
            policy=pulumi.Output.json_dumps(
                {
                    "Version": "2012-10-17",
                    "Statement": [
                        {
                            "Effect": "Allow",
                            "Action": ["s3:GetReplicationConfiguration", "s3:ListBucket"],
                            "Resource": [s.bucket.arn for s in sources],
                        },
                        {
                            "Effect": "Allow",
                            "Action": [
                                "s3:GetObjectVersionForReplication",
                                "s3:GetObjectVersionAcl",
                                "s3:GetObjectVersionTagging",
                                "s3:GetObjectRetention",
                                "s3:GetObjectLegalHold",
                            ],
                            "Resource": [s.bucket.arn.apply(lambda a: f"{a}/*") for s in sources],
                        },
                        {
                            "Effect": "Allow",
                            "Action": ["s3:ReplicateObject", "s3:ReplicateDelete", "s3:ReplicateTags"],
                            "Resource": [t.bucket.arn.apply(lambda a: f"{a}/*") for t in targets],
                        },
                        {"Effect": "Allow", "Action": ["kms:Decrypt"], "Resource": [primary.content.key.arn]},
                        {
                            "Effect": "Allow",
                            "Action": ["kms:Encrypt", "kms:GenerateDataKey"],
                            "Resource": [t.key.arn for t in targets],
                        },
                    ],
                }
            ),
            opts=child(self),
        )

        def rules(destinations: Sequence[SecureBucket]) -> list[aws.s3.BucketReplicationConfigRuleArgsDict]:
            return [
                {
                    "id": f"to-{i}",
                    "priority": i,
                    "status": "Enabled",
                    "filter": {"prefix": ""},
                    "delete_marker_replication": {"status": "Enabled"},
                    "source_selection_criteria": {"sse_kms_encrypted_objects": {"status": "Enabled"}},
                    "destination": {
                        "bucket": d.bucket.arn,
                        "storage_class": "STANDARD",
                        "encryption_configuration": {"replica_kms_key_id": d.key.arn},
                    },
                }
                for i, d in enumerate(destinations)
            ]

        # Replication needs versioning on both ends; depend on it so creation order is right.
        for label, source, destinations in (
            ("content", primary.content, [s.content for s in others]),
            ("backup", primary.backup, [others[0].backup]),
        ):
            aws.s3.BucketReplicationConfig(
                f"{name}-{label}",
                bucket=source.bucket.id,
                role=role.arn,
                rules=rules(destinations),
                opts=child(self, depends_on=[source.versioning, *(d.versioning for d in destinations)]),
            )


def backup_plan(
    parent: pulumi.Resource,
    name: str,
    policy: BackupConfig,
    primary: RegionStorage,
    copy_to: RegionStorage | None,
) -> aws.backup.Plan:
    """AWS Backup of the content bucket every `intervalHours`, kept `retentionDays`, copied to `copy_to`."""
    lifecycle: aws.backup.PlanRuleLifecycleArgsDict = {"delete_after": policy.retention_days}
    plan = aws.backup.Plan(
        f"{name}-plan",
        rules=[
            {
                "rule_name": "streamgate-content",
                "target_vault_name": primary.vault.name,
                "schedule": f"cron(0 */{policy.interval_hours} * * ? *)"
                if policy.interval_hours < 24
                else "cron(0 3 * * ? *)",
                "lifecycle": lifecycle,
                "copy_actions": [{"destination_vault_arn": copy_to.vault.arn, "lifecycle": lifecycle}]
                if copy_to
                else [],
            }
        ],
        opts=child(parent),
    )
    role = aws.iam.Role(
        f"{name}-backup", assume_role_policy=assume_role_policy("backup.amazonaws.com"), opts=child(parent)
    )
    for i, arn in enumerate(
        (
            "arn:aws:iam::aws:policy/service-role/AWSBackupServiceRolePolicyForBackup",
            "arn:aws:iam::aws:policy/service-role/AWSBackupServiceRolePolicyForRestores",
            "arn:aws:iam::aws:policy/AWSBackupServiceRolePolicyForS3Backup",
            "arn:aws:iam::aws:policy/AWSBackupServiceRolePolicyForS3Restore",
        )
    ):
        aws.iam.RolePolicyAttachment(f"{name}-backup-{i}", role=role.name, policy_arn=arn, opts=child(parent))
    aws.backup.Selection(
        f"{name}-content",
        plan_id=plan.id,
        iam_role_arn=role.arn,
        resources=[primary.content.bucket.arn],
        selection_tags=[{"type": "STRINGEQUALS", "key": "streamgate/backup", "value": "true"}],
        opts=child(parent),
    )
    return plan
