"""Aurora PostgreSQL (the content catalog) and RDS Proxy: encrypted with our KMS keys, backed up, protected
from deletion in prod, IAM-authenticated over TLS, credentials managed (and rotated) in Secrets Manager,
never publicly reachable."""

from __future__ import annotations

from pulumi_policy import ResourceValidationArgs

from policies.base import Report, flag, get, is_set, number, resource_policy

CLUSTER = "aws:rds/cluster:Cluster"
GLOBAL_CLUSTER = "aws:rds/globalCluster:GlobalCluster"
INSTANCE = "aws:rds/clusterInstance:ClusterInstance"
PROXY = "aws:rds/proxy:Proxy"
MIN_BACKUP_DAYS = 7


@resource_policy(
    "rds-encryption",
    "Aurora clusters must be encrypted with the stack's KMS key: set storage_encrypted and kms_key_id "
    "(the region's key); Performance Insights with the same key.",
    [CLUSTER, GLOBAL_CLUSTER, INSTANCE],
)
def rds_encryption(args: ResourceValidationArgs, report: Report) -> None:
    props = args.props
    if args.resource_type == INSTANCE:
        if flag(get(props, "performanceInsightsEnabled"), unknown=False) and not is_set(
            props, "performanceInsightsKmsKeyId"
        ):
            report("Performance Insights data is encrypted with the AWS-managed key, not the stack's")
        return
    if not flag(get(props, "storageEncrypted")):
        report("storage is not encrypted (storage_encrypted false or unset)")
    if args.resource_type == CLUSTER and not is_set(props, "kmsKeyId"):
        report("no kms_key_id: storage would use the AWS-managed key, not the stack's")


@resource_policy(
    "rds-backups",
    f"Aurora clusters must keep automated backups ≥ {MIN_BACKUP_DAYS} days and a final snapshot: set "
    "catalog.backupRetentionDays and leave skip_final_snapshot false.",
    [CLUSTER],
)
def rds_backups(args: ResourceValidationArgs, report: Report) -> None:
    props = args.props
    days = number(get(props, "backupRetentionPeriod"))
    if days is None or days < MIN_BACKUP_DAYS:
        report(f"backups kept {days or 1:g} days < {MIN_BACKUP_DAYS}")
    if flag(get(props, "skipFinalSnapshot"), unknown=False):
        report("skip_final_snapshot: deleting the cluster would keep no snapshot")


@resource_policy(
    "rds-deletion-protection",
    "Prod Aurora clusters and global databases must be protected from deletion: set deletion_protection "
    "(catalog.deletionProtection).",
    [CLUSTER, GLOBAL_CLUSTER],
    prod_only=True,
)
def rds_deletion_protection(args: ResourceValidationArgs, report: Report) -> None:
    if not flag(get(args.props, "deletionProtection")):
        report("deletion protection is off")


@resource_policy(
    "rds-iam-auth",
    "Aurora clusters must accept IAM authentication, and RDS Proxies must require TLS and IAM "
    "authentication: set iam_database_authentication_enabled, require_tls and default_auth_scheme IAM_AUTH "
    "(or iam_auth REQUIRED on every auth).",
    [CLUSTER, PROXY],
)
def rds_iam_auth(args: ResourceValidationArgs, report: Report) -> None:
    props = args.props
    if args.resource_type == CLUSTER:
        if not flag(get(props, "iamDatabaseAuthenticationEnabled")):
            report("IAM database authentication is off")
        return
    if not flag(get(props, "requireTls")):
        report("the proxy accepts connections without TLS")
    auths = get(props, "auths") or []
    iam = get(props, "defaultAuthScheme") == "IAM_AUTH" or (
        bool(auths) and all(get(a, "iamAuth") == "REQUIRED" for a in auths)
    )
    if not iam:
        report("the proxy accepts database passwords from clients (IAM authentication not required)")


@resource_policy(
    "rds-managed-credentials",
    "An Aurora writer's master password must live in Secrets Manager, managed and rotated by RDS: set "
    "manage_master_user_password with master_user_secret_kms_key_id, never master_password.",
    [CLUSTER],
)
def rds_managed_credentials(args: ResourceValidationArgs, report: Report) -> None:
    props = args.props
    if is_set(props, "masterPassword"):
        report("master_password is in the program (and the state): use manage_master_user_password")
    if not is_set(props, "masterUsername"):
        return  # a secondary of a global database: its users come from the primary
    if not flag(get(props, "manageMasterUserPassword"), unknown=False):
        report("the master password is not managed (and rotated) in Secrets Manager")
    elif not is_set(props, "masterUserSecretKmsKeyId"):
        report("the master user's secret is encrypted with the AWS-managed key, not the stack's")


@resource_policy(
    "rds-private",
    "Aurora instances must not be reachable from the internet: set publicly_accessible false.",
    [INSTANCE],
)
def rds_private(args: ResourceValidationArgs, report: Report) -> None:
    if flag(get(args.props, "publiclyAccessible"), unknown=False):
        report("the instance is publicly accessible")
