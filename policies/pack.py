"""The pack's contents, in report order. `__main__` serves them to the engine; `offline` runs them over plans."""

from __future__ import annotations

from pulumi_policy import EnforcementLevel, Policy

from policies import (
    alerts,
    autoscaling,
    availability,
    cache,
    cdn,
    cluster,
    database,
    identity,
    keys,
    network,
    storage,
    tls,
    topology,
    workloads,
)

PACK_NAME = "streamgate-guardrails"
DESCRIPTION = (
    "StreamGate guardrails: encryption, public exposure, resilience and autoscaling rules every stack passes."
)
DEFAULT_LEVEL = EnforcementLevel.MANDATORY

POLICIES: tuple[Policy, ...] = (
    # storage
    storage.s3_encryption_kms,
    storage.s3_versioning_enabled,
    storage.s3_public_access_blocked,
    storage.s3_bucket_protected,
    storage.s3_tls_only,
    storage.backup_bucket_retention,
    storage.backup_bucket_object_lock,
    # cache
    cache.elasticache_encryption,
    cache.elasticache_auth,
    cache.elasticache_high_availability,
    cache.elasticache_snapshots,
    # database (the catalog)
    database.rds_encryption,
    database.rds_backups,
    database.rds_deletion_protection,
    database.rds_iam_auth,
    database.rds_managed_credentials,
    database.rds_private,
    # cluster
    cluster.eks_secrets_encryption,
    cluster.eks_public_endpoint_restricted,
    cluster.eks_node_group_min_size,
    cluster.eks_control_plane_logging,
    cluster.eks_supported_version,
    cluster.eks_node_group_placement,
    # network and identity
    network.vpc_flow_logs,
    network.subnet_no_public_ip,
    network.security_group_no_public_ingress,
    identity.iam_no_admin_wildcard,
    # cdn
    cdn.cloudfront_https_only,
    cdn.cloudfront_tls_1_2,
    cdn.cloudfront_waf_attached,
    cdn.cloudfront_logging,
    cdn.cloudfront_origin_failover,
    # tls
    tls.health_check_https,
    tls.ingress_https_only,
    tls.origin_tls_certificate,
    # keys
    keys.kms_key_rotation,
    # kubernetes
    workloads.k8s_container_resources,
    workloads.k8s_container_probes,
    workloads.k8s_non_root,
    workloads.k8s_pod_security_restricted,
    workloads.k8s_image_pinned,
    workloads.k8s_not_default_namespace,
    workloads.k8s_namespace_pod_security,
    availability.k8s_disruption_budget,
    availability.k8s_zone_spread,
    network.k8s_network_policy,
    autoscaling.gateway_autoscaled,
    autoscaling.hpa_vpa_conflict,
    alerts.alert_rules_annotated,
    alerts.alertmanager_receivers,
    # topology
    topology.environment_declared,
    topology.prod_multi_region,
    topology.prod_backup_replication,
    topology.region_failover_covered,
)

BY_NAME: dict[str, Policy] = {p.name: p for p in POLICIES}
if len(BY_NAME) != len(POLICIES):
    raise RuntimeError("policy names must be unique within the pack")
