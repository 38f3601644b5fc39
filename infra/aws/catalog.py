"""The content catalog's PostgreSQL: Aurora PostgreSQL, behind RDS Proxy, in every region that serves it.

- prod: an Aurora global database. The primary region's cluster takes writes; every other region has a
  secondary cluster (read-only, storage-level replication under a second) that `failover run` promotes
  (`switchover_global_cluster` planned, `failover_global_cluster --allow-data-loss` unplanned).
- other stacks: one regional cluster in the primary region (the catalog is served there only).

Every cluster is encrypted with the region's KMS key, keeps automated backups, is protected from deletion
(prod: always), exports its logs, and accepts IAM authentication. RDS Proxy pools the gateways' connections
in transaction mode (the gateway runs with `pooler: transaction`), TLS required, with IAM authentication end
to end (`default_auth_scheme: IAM_AUTH`): the gateway's IRSA role signs a token for the application role,
the proxy's own role connects with IAM too, so no database password exists in a pod, a Kubernetes Secret
or the proxy. The master user's password (migrations, operators) is in Secrets Manager, encrypted with the
region's key and rotated by RDS every `rotationDays`.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

import pulumi
import pulumi_aws as aws

from infra.aws.base import assume_role_policy, child
from infra.aws.network import Network, vpc_only_port
from infra.config import CatalogConfig, Environment, StackConfig

POSTGRES_PORT = 5432
ENGINE = "aurora-postgresql"
DATABASE = "catalog"
APP_USER = "streamgate"
MASTER_USER = "streamgate_admin"
# Server settings every cluster runs with (the cluster parameter group).
PARAMETERS = {
    "rds.force_ssl": "1",  # TLS only, including the proxy's own connections
    "random_page_cost": "1.1",  # Aurora storage: random reads cost what sequential ones do (plan tests)
    "log_min_duration_statement": "200",  # slow queries (ms) in the exported log
    "idle_in_transaction_session_timeout": "60000",
}


def global_catalog(cfg: StackConfig) -> bool:
    """Whether the catalog spans the stack's regions (prod's global database) or lives in the primary."""
    return cfg.environment is Environment.PROD and len(cfg.regions) > 1


def catalog_regions(cfg: StackConfig) -> list[str]:
    """The regions whose gateways serve the catalog."""
    if not cfg.catalog.enabled:
        return []
    names = [r.name for r in cfg.regions]
    return names if global_catalog(cfg) else names[:1]


def deletion_protection(cfg: StackConfig) -> bool:
    """Whether the catalog's clusters refuse deletion (prod: always)."""
    return cfg.catalog.deletion_protection or cfg.environment is Environment.PROD


@dataclass(frozen=True)
class CatalogGlobalArgs:
    stack: str
    catalog: CatalogConfig
    deletion_protection: bool  # deletion_protection(cfg)


class CatalogGlobal(pulumi.ComponentResource):
    """The global database every regional cluster of prod joins (the primary's first)."""

    cluster: aws.rds.GlobalCluster

    def __init__(
        self, name: str, args: CatalogGlobalArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        super().__init__("streamgate:aws:CatalogGlobal", name, None, opts)
        self.cluster = aws.rds.GlobalCluster(
            f"{name}-global",
            global_cluster_identifier=f"streamgate-{args.stack}-catalog",
            engine=ENGINE,
            engine_version=args.catalog.engine_version,
            database_name=DATABASE,
            storage_encrypted=True,
            deletion_protection=args.deletion_protection,
            opts=child(self),
        )
        self.register_outputs({"id": self.cluster.id})


@dataclass(frozen=True)
class RegionalCatalogArgs:
    stack: str
    region: str
    vpc_cidr: str  # who may connect
    catalog: CatalogConfig
    deletion_protection: bool  # deletion_protection(cfg)
    network: Network
    key: aws.kms.Key
    global_cluster: aws.rds.GlobalCluster | None = None  # set: this cluster joins prod's global database
    primary: aws.rds.Cluster | None = None  # set: a secondary (created after the writer region's cluster)


class RegionalCatalog(pulumi.ComponentResource):
    """One region's Aurora cluster (writer, or a secondary of the global database), its instances and its
    RDS Proxy."""

    cluster: aws.rds.Cluster
    proxy: aws.rds.Proxy

    def __init__(
        self, name: str, args: RegionalCatalogArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        super().__init__("streamgate:aws:RegionalCatalog", name, None, opts)
        self._name = name
        c, network, key, stack = args.catalog, args.network, args.key, args.stack
        global_cluster, primary = args.global_cluster, args.primary
        writer = primary is None
        subnets = aws.rds.SubnetGroup(
            f"{name}-subnets", subnet_ids=network.private_subnet_ids, opts=child(self)
        )
        self.security_group = vpc_only_port(
            f"{name}-postgres", self, network, args.vpc_cidr, POSTGRES_PORT, "PostgreSQL"
        )
        family = f"aurora-postgresql{c.engine_version.split('.')[0]}"
        parameters = aws.rds.ClusterParameterGroup(
            f"{name}-params",
            family=family,
            description=f"StreamGate {stack} catalog",
            parameters=[
                {"name": k, "value": v, "apply_method": "pending-reboot"} for k, v in PARAMETERS.items()
            ],
            opts=child(self),
        )
        self.cluster = aws.rds.Cluster(
            f"{name}-cluster",
            cluster_identifier=f"streamgate-{stack}-catalog-{args.region}",
            engine=ENGINE,
            engine_version=c.engine_version,
            global_cluster_identifier=global_cluster.id if global_cluster is not None else None,
            # The writer creates the database and its master user (password managed and rotated by RDS
            # in Secrets Manager); secondaries inherit both from the global database.
            database_name=DATABASE if writer else None,
            master_username=MASTER_USER if writer else None,
            manage_master_user_password=True if writer else None,
            master_user_secret_kms_key_id=key.arn if writer else None,
            db_subnet_group_name=subnets.name,
            vpc_security_group_ids=[self.security_group.id],
            db_cluster_parameter_group_name=parameters.name,
            storage_encrypted=True,
            kms_key_id=key.arn,
            iam_database_authentication_enabled=True,
            backup_retention_period=c.backup_retention_days,
            preferred_backup_window="03:00-04:00",
            preferred_maintenance_window="sun:05:30-sun:06:30",
            copy_tags_to_snapshot=True,
            deletion_protection=args.deletion_protection,
            skip_final_snapshot=False,
            final_snapshot_identifier=f"streamgate-{stack}-catalog-{args.region}-final",
            enabled_cloudwatch_logs_exports=["postgresql"],
            # A secondary forwards the writes its region's gateways send to the writer region.
            enable_global_write_forwarding=True if global_cluster is not None and not writer else None,
            opts=child(self, depends_on=[primary] if primary is not None else None),
        )
        # A secondary has no writer: its first instance is a reader like the rest.
        for i in range(1 + c.readers):
            aws.rds.ClusterInstance(
                f"{name}-instance-{i}",
                identifier=f"streamgate-{stack}-catalog-{args.region}-{i}",
                cluster_identifier=self.cluster.id,
                engine=aws.rds.EngineType.AURORA_POSTGRESQL,
                engine_version=c.engine_version,
                instance_class=c.instance_class,
                db_subnet_group_name=subnets.name,
                publicly_accessible=False,
                auto_minor_version_upgrade=True,
                performance_insights_enabled=True,
                performance_insights_kms_key_id=key.arn,
                promotion_tier=i,
                opts=child(self),
            )
        if writer:
            # RDS manages and rotates the master password itself: only the schedule is ours.
            aws.secretsmanager.SecretRotation(
                f"{name}-master-rotation",
                secret_id=self.cluster.master_user_secrets.apply(lambda s: s[0].secret_arn),
                rotation_rules={"automatically_after_days": c.rotation_days},
                opts=child(self),
            )
        self._proxy(args)
        self.register_outputs({"endpoint": self.cluster.endpoint, "proxy": self.proxy.endpoint})

    def _proxy(self, args: RegionalCatalogArgs) -> None:
        """RDS Proxy in front of this cluster: TLS and IAM auth of clients, IAM auth to the database."""
        name, network = self._name, args.network
        role = aws.iam.Role(
            f"{name}-proxy-role",
            assume_role_policy=assume_role_policy("rds.amazonaws.com"),
            opts=child(self),
        )
        aws.iam.RolePolicy(
            f"{name}-proxy-connect",
            role=role.id,
            policy=self.cluster.cluster_resource_id.apply(
                lambda rid: json.dumps(
                    {
                        "Version": "2012-10-17",
                        "Statement": [
                            {
                                "Sid": "ConnectAsApp",
                                "Effect": "Allow",
                                "Action": ["rds-db:connect"],
                                "Resource": [db_user_arn(args.region, rid, APP_USER)],
                            }
                        ],
                    }
                )
            ),
            opts=child(self),
        )
        self.proxy = aws.rds.Proxy(
            f"{name}-proxy",
            name=f"streamgate-{args.stack}-catalog",
            engine_family="POSTGRESQL",
            role_arn=role.arn,
            vpc_subnet_ids=network.private_subnet_ids,
            vpc_security_group_ids=[self.security_group.id],
            require_tls=True,
            default_auth_scheme="IAM_AUTH",
            idle_client_timeout=1800,
            debug_logging=False,
            opts=child(self),
        )
        aws.rds.ProxyDefaultTargetGroup(
            f"{name}-proxy-pool",
            db_proxy_name=self.proxy.name,
            connection_pool_config={
                "max_connections_percent": 90,
                "connection_borrow_timeout": 2,
                # The gateway reads in one transaction each and sets no session state: nothing pins.
                "session_pinning_filters": ["EXCLUDE_VARIABLE_SETS"],
            },
            opts=child(self),
        )
        aws.rds.ProxyTarget(
            f"{name}-proxy-target",
            db_proxy_name=self.proxy.name,
            target_group_name="default",
            db_cluster_identifier=self.cluster.cluster_identifier,
            opts=child(self),
        )
        self.reader = aws.rds.ProxyEndpoint(
            f"{name}-proxy-reader",
            db_proxy_name=self.proxy.name,
            db_proxy_endpoint_name=f"streamgate-{args.stack}-catalog-ro",
            vpc_subnet_ids=network.private_subnet_ids,
            vpc_security_group_ids=[self.security_group.id],
            target_role="READ_ONLY",
            opts=child(self),
        )


def db_user_arn(region: str, resource_id: str, user: str, account: str = "*") -> str:
    """What `rds-db:connect` is granted on: one database user of one cluster (or proxy)."""
    return f"arn:aws:rds-db:{region}:{account}:dbuser:{resource_id}/{user}"
