"""S3: every bucket KMS-encrypted, versioned and closed to the public; backup buckets expire no earlier than
the stack's minimum retention and, in prod, are object-locked.

pulumi-aws v7 declares these as resources of their own (BucketServerSideEncryptionConfiguration,
BucketVersioning, BucketPublicAccessBlock, ...), so each is checked twice: its content as a resource policy,
and "every bucket has one" as a stack policy.
"""

from __future__ import annotations

from typing import Any

from pulumi_policy import PolicyResource, ResourceValidationArgs, StackValidationArgs

from policies.base import (
    PURPOSE_TAG,
    UNKNOWN,
    Report,
    StackIndex,
    flag,
    get,
    is_set,
    items,
    label,
    number,
    resource_policy,
    setting,
    stack_policy,
    tags_of,
)
from policies.identity import statements

BUCKETS = ("aws:s3/bucket:Bucket", "aws:s3/bucketV2:BucketV2")
ENCRYPTION = (
    "aws:s3/bucketServerSideEncryptionConfiguration:BucketServerSideEncryptionConfiguration",
    "aws:s3/bucketServerSideEncryptionConfigurationV2:BucketServerSideEncryptionConfigurationV2",
)
VERSIONING = ("aws:s3/bucketVersioning:BucketVersioning", "aws:s3/bucketVersioningV2:BucketVersioningV2")
PUBLIC_ACCESS_BLOCK = ("aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock",)
BUCKET_POLICY = ("aws:s3/bucketPolicy:BucketPolicy",)
LIFECYCLE = (
    "aws:s3/bucketLifecycleConfiguration:BucketLifecycleConfiguration",
    "aws:s3/bucketLifecycleConfigurationV2:BucketLifecycleConfigurationV2",
)
OBJECT_LOCK = (
    "aws:s3/bucketObjectLockConfiguration:BucketObjectLockConfiguration",
    "aws:s3/bucketObjectLockConfigurationV2:BucketObjectLockConfigurationV2",
)
KMS_ALGORITHMS = ("aws:kms", "aws:kms:dsse")
PUBLIC_ACCESS_FLAGS = ("blockPublicAcls", "blockPublicPolicy", "ignorePublicAcls", "restrictPublicBuckets")
DEFAULT_MIN_RETENTION_DAYS = 7


@resource_policy(
    "s3-encryption-kms",
    "S3 default encryption must be SSE-KMS with a customer-managed key: set sse_algorithm 'aws:kms' and "
    "kms_master_key_id to the region's key (infra.aws.storage.secure_bucket does).",
    ENCRYPTION,
)
def s3_encryption_kms(args: ResourceValidationArgs, report: Report) -> None:
    rules = items(get(args.props, "rules"))
    if not rules:
        report("no encryption rule: add one with apply_server_side_encryption_by_default")
    for i, rule in enumerate(rules):
        default = get(rule, "applyServerSideEncryptionByDefault")
        algorithm = get(default, "sseAlgorithm")
        if algorithm is UNKNOWN:
            continue
        if algorithm not in KMS_ALGORITHMS:
            report(f"rule {i} encrypts with {algorithm or 'nothing'!s}, not aws:kms")
        elif not is_set(default, "kmsMasterKeyId"):
            report(
                f"rule {i} uses the AWS-managed aws/s3 key: set kms_master_key_id to a customer-managed key"
            )


@resource_policy(
    "s3-versioning-enabled",
    "S3 buckets must keep object versions: set versioning_configuration status 'Enabled'.",
    VERSIONING,
)
def s3_versioning_enabled(args: ResourceValidationArgs, report: Report) -> None:
    status = get(args.props, "versioningConfiguration", "status")
    if status is not UNKNOWN and status != "Enabled":
        report(f"versioning status is {status or 'unset'!s}, not Enabled")


@resource_policy(
    "s3-public-access-blocked",
    "S3 buckets must block public access: set block_public_acls, block_public_policy, ignore_public_acls "
    "and restrict_public_buckets to true.",
    PUBLIC_ACCESS_BLOCK,
)
def s3_public_access_blocked(args: ResourceValidationArgs, report: Report) -> None:
    off = [f for f in PUBLIC_ACCESS_FLAGS if not flag(get(args.props, f))]
    if off:
        report(f"not blocked: {', '.join(off)}")


def bucket_of(index: StackIndex, companion: PolicyResource) -> list[PolicyResource]:
    """The bucket a split S3 resource configures (its `bucket` input holds the bucket's name/id)."""
    return index.referenced(
        companion, "bucket", [get(companion.props, "bucket")], BUCKETS, ("id", "arn", "bucket")
    )


def companions(index: StackIndex, types: tuple[str, ...]) -> dict[str, list[PolicyResource]]:
    """bucket urn -> the resources of `types` that configure it."""
    found: dict[str, list[PolicyResource]] = {}
    for r in index.of_type(*types):
        for bucket in bucket_of(index, r):
            found.setdefault(bucket.urn, []).append(r)
    return found


@stack_policy(
    "s3-bucket-protected",
    "Every S3 bucket needs its BucketServerSideEncryptionConfiguration, BucketVersioning and "
    "BucketPublicAccessBlock: create buckets with infra.aws.storage.secure_bucket.",
)
def s3_bucket_protected(args: StackValidationArgs, report: Report) -> None:
    index = StackIndex(args.resources)
    needed = {
        "BucketServerSideEncryptionConfiguration": companions(index, ENCRYPTION),
        "BucketVersioning": companions(index, VERSIONING),
        "BucketPublicAccessBlock": companions(index, PUBLIC_ACCESS_BLOCK),
    }
    for bucket in index.of_type(*BUCKETS):
        missing = [kind for kind, by_bucket in needed.items() if bucket.urn not in by_bucket]
        if missing:
            report(f"{label(bucket)} has no {', '.join(missing)}", bucket.urn)


def backup_buckets(index: StackIndex) -> list[PolicyResource]:
    return [b for b in index.of_type(*BUCKETS) if tags_of(b.props).get(PURPOSE_TAG) == "backup"]


@stack_policy(
    "backup-bucket-retention",
    "Backup buckets need a lifecycle configuration that keeps objects at least minRetentionDays: raise "
    "backup.retentionDays in the stack file (expiration and noncurrent-version expiration follow it).",
    config={
        "minRetentionDays": {
            "type": "integer",
            "minimum": 1,
            "default": DEFAULT_MIN_RETENTION_DAYS,
            "description": "The shortest retention a backup may have in this stack, in days.",
        }
    },
)
def backup_bucket_retention(args: StackValidationArgs, report: Report) -> None:
    minimum = setting(args.get_config(), "minRetentionDays", DEFAULT_MIN_RETENTION_DAYS)
    index = StackIndex(args.resources)
    lifecycles = companions(index, LIFECYCLE)
    for bucket in backup_buckets(index):
        rules = [
            rule
            for config in lifecycles.get(bucket.urn, [])
            for rule in items(get(config.props, "rules"))
            if get(rule, "status") == "Enabled"
        ]
        if not rules:
            report(f"{label(bucket)} has no enabled lifecycle rule", bucket.urn)
        for rule in rules:
            rule_id = get(rule, "id", default="?")
            for what, days in (
                ("expiration", number(get(rule, "expiration", "days"))),
                (
                    "noncurrent version expiration",
                    number(get(rule, "noncurrentVersionExpiration", "noncurrentDays")),
                ),
            ):
                if days is not None and days < minimum:
                    report(
                        f"{label(bucket)}: rule {rule_id} {what} after {days:g} days < the minimum {minimum:g}",
                        bucket.urn,
                    )


@stack_policy(
    "backup-bucket-object-lock",
    "Prod backup buckets must be object-locked: set backup.objectLock: true in the stack file (bucket "
    "object_lock_enabled plus a BucketObjectLockConfiguration with a default retention).",
    prod_only=True,
)
def backup_bucket_object_lock(args: StackValidationArgs, report: Report) -> None:
    index = StackIndex(args.resources)
    locks = companions(index, OBJECT_LOCK)
    for bucket in backup_buckets(index):
        if not flag(get(bucket.props, "objectLockEnabled"), unknown=False):
            report(f"{label(bucket)} is created without object_lock_enabled", bucket.urn)
        retention = [
            get(lock.props, "rule", "defaultRetention")
            for lock in locks.get(bucket.urn, [])
            if get(lock.props, "rule", "defaultRetention") is not None
        ]
        if not retention:
            report(f"{label(bucket)} has no object lock configuration with a default retention", bucket.urn)
        for r in retention:
            if get(r, "mode") not in ("GOVERNANCE", "COMPLIANCE") or not (
                (number(get(r, "days")) or 0) > 0 or (number(get(r, "years")) or 0) > 0
            ):
                report(f"{label(bucket)}: default retention needs a mode and days or years", bucket.urn)


def _denies_plain_http(document: Any) -> bool:
    for statement in statements(document):
        secure = get(statement, "Condition", "Bool", "aws:SecureTransport")
        if statement.get("Effect") == "Deny" and str(secure).lower() == "false":
            actions = {str(a) for a in items(statement.get("Action")) or [statement.get("Action")]}
            if actions & {"s3:*", "*"}:
                return True
    return False


@stack_policy(
    "s3-tls-only",
    "Every S3 bucket must refuse requests without TLS (FSBP S3.5): give it a bucket policy that denies s3:* "
    "when aws:SecureTransport is false (infra.aws.storage.secure_bucket does).",
)
def s3_tls_only(args: StackValidationArgs, report: Report) -> None:
    index = StackIndex(args.resources)
    policies = companions(index, BUCKET_POLICY)
    for bucket in index.of_type(*BUCKETS):
        documents = [get(p.props, "policy") for p in policies.get(bucket.urn, [])]
        if UNKNOWN in documents:
            continue  # computed at update time
        if not any(_denies_plain_http(d) for d in documents):
            report(
                f"{label(bucket)} accepts requests without TLS (no bucket policy denying them)", bucket.urn
            )
