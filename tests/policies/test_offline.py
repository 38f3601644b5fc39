"""The offline runner over the real plans: every shipped stack passes, each policy catches a broken copy of
the prod plan, and per-stack config changes levels and thresholds the way `--policy-pack-config` does."""

from __future__ import annotations

import copy
import json
from collections.abc import Callable
from typing import Any

import pytest
from pulumi_policy import EnforcementLevel

from infra.config import available_stacks
from infra.plan import Plan, PlanResource
from policies.offline import CONFIG_DIR, PackConfig, PolicyConfigError, run_policies
from policies.pack import BY_NAME, POLICIES
from tests.policies.synthetic import PROMETHEUS_RULE, alert_rule

PlanOf = Callable[[str], Plan]
Mutation = Callable[[Plan], str | None]  # breaks a plan; returns the urn the violation should name


def fresh(plan: Plan) -> Plan:
    """A copy of a cached plan to break (outputs hold Pulumi Outputs, which don't copy; policies don't read them)."""
    return Plan(stack=plan.stack, resources=copy.deepcopy(plan.resources))


def of(plan: Plan, type_: str, name_part: str = "") -> PlanResource:
    return next(r for r in plan.resources if r.type == type_ and name_part in r.name)


def drop(plan: Plan, keep: Callable[[PlanResource], bool]) -> None:
    plan.resources = [r for r in plan.resources if keep(r)]


def set_input(type_: str, path: str, value: Any, name_part: str = "") -> Mutation:
    def mutate(plan: Plan) -> str:
        r = of(plan, type_, name_part)
        *parents, last = path.split(".")
        node: Any = r.inputs
        for part in parents:
            node = node[int(part)] if isinstance(node, list) else node[part]
        node[int(last) if isinstance(node, list) else last] = value
        return r.urn

    return mutate


def delete_input(type_: str, key: str, name_part: str = "") -> Mutation:
    def mutate(plan: Plan) -> str:
        r = of(plan, type_, name_part)
        del r.inputs[key]
        return r.urn

    return mutate


def drop_companion(type_: str, name_part: str) -> Mutation:
    def mutate(plan: Plan) -> str:
        victim = of(plan, type_, name_part)
        bucket = next(r for r in plan.resources if r.type == "aws:s3/bucket:Bucket" and r.name == victim.name)
        drop(plan, lambda r: r is not victim)
        return bucket.urn

    return mutate


def drop_type(type_: str, name_part: str = "") -> Mutation:
    def mutate(plan: Plan) -> None:
        drop(plan, lambda r: not (r.type == type_ and name_part in r.name))

    return mutate


def backup_bucket(plan: Plan, region: str) -> str:
    return next(
        r.urn
        for r in plan.resources
        if r.type == "aws:s3/bucket:Bucket" and r.region == region and "backup" in r.name
    )


def blame_backup(mutation: Mutation, region: str) -> Mutation:
    def mutate(plan: Plan) -> str:
        mutation(plan)
        return backup_bucket(plan, region)

    return mutate


def add_alert_without_runbook(plan: Plan) -> str:
    provider = of(plan, "pulumi:providers:kubernetes", "us-east-1")
    rule = PlanResource(
        type=PROMETHEUS_RULE,
        name="us-east-1-observability-alerts",
        urn=f"urn:pulumi:{plan.stack}::streamgate::{PROMETHEUS_RULE}::us-east-1-observability-alerts",
        custom=True,
        parent=None,
        provider=provider.urn,
        region="us-east-1",
        inputs=alert_rule(annotations={"summary": "gateway down"}),
    )
    plan.resources.append(rule)
    return rule.urn


def retag_provider(plan: Plan) -> str:
    provider = of(plan, "pulumi:providers:aws", "eu-west-1")
    tags = json.loads(provider.inputs["defaultTags"])
    tags["tags"]["streamgate/environment"] = "dev"
    provider.inputs["defaultTags"] = json.dumps(tags)
    return provider.urn


def single_region(plan: Plan) -> None:
    drop(plan, lambda r: not (r.type == "aws:eks/cluster:Cluster" and r.region != "us-east-1"))


def unlink_health_check(plan: Plan) -> None:
    check = of(plan, "aws:route53/healthCheck:HealthCheck", "eu-west-1")
    for r in plan.resources:
        if r.type == "aws:route53/record:Record" and r.inputs.get("healthCheckId") == check.id:
            r.inputs["healthCheckId"] = None


def one_zone_node_group(plan: Plan) -> str:
    group = of(plan, NODE_GROUP, "us-east-1")
    group.inputs["subnetIds"] = group.inputs["subnetIds"][:1]
    return group.urn


def blame(mutation: Mutation, type_: str, name_part: str) -> Mutation:
    def mutate(plan: Plan) -> str:
        mutation(plan)
        return of(plan, type_, name_part).urn

    return mutate


C0 = "spec.template.spec.containers.0"
NODE_GROUP = "aws:eks/nodeGroup:NodeGroup"
PDB = "kubernetes:policy/v1:PodDisruptionBudget"
DEPLOYMENT = "kubernetes:apps/v1:Deployment"
HPA = "kubernetes:autoscaling/v2:HorizontalPodAutoscaler"
VPA = "kubernetes:autoscaling.k8s.io/v1:VerticalPodAutoscaler"
SSE = "aws:s3/bucketServerSideEncryptionConfiguration:BucketServerSideEncryptionConfiguration"
REDIS = "aws:elasticache/replicationGroup:ReplicationGroup"
AURORA = "aws:rds/cluster:Cluster"
EKS = "aws:eks/cluster:Cluster"
CDN = "aws:cloudfront/distribution:Distribution"
LIFECYCLE = "aws:s3/bucketLifecycleConfiguration:BucketLifecycleConfiguration"
HEALTH = "aws:route53/healthCheck:HealthCheck"
RELEASE = "kubernetes:helm.sh/v3:Release"
VALIDATION = "aws:acm/certificateValidation:CertificateValidation"

# One broken copy of the prod plan per policy: (policy, mutation, message fragment).
BREAKAGES: list[tuple[str, Mutation, str]] = [
    (
        "s3-encryption-kms",
        set_input(SSE, "rules.0.applyServerSideEncryptionByDefault.sseAlgorithm", "AES256"),
        "AES256",
    ),
    (
        "s3-versioning-enabled",
        set_input("aws:s3/bucketVersioning:BucketVersioning", "versioningConfiguration.status", "Suspended"),
        "Suspended",
    ),
    (
        "s3-public-access-blocked",
        set_input("aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock", "blockPublicPolicy", False),
        "blockPublicPolicy",
    ),
    (
        "s3-bucket-protected",
        drop_companion(SSE, "us-east-1-storage-content"),
        "has no BucketServerSideEncryptionConfiguration",
    ),
    (
        "s3-tls-only",
        drop_companion("aws:s3/bucketPolicy:BucketPolicy", "eu-west-1-storage-backup"),
        "accepts requests without TLS",
    ),
    (
        "backup-bucket-retention",
        blame_backup(set_input(LIFECYCLE, "rules.0.expiration.days", 30.0, "eu-west-1"), "eu-west-1"),
        "after 30 days < the minimum 90",
    ),
    (
        "backup-bucket-object-lock",
        blame_backup(
            drop_type("aws:s3/bucketObjectLockConfiguration:BucketObjectLockConfiguration", "ap-southeast-1"),
            "ap-southeast-1",
        ),
        "no object lock configuration",
    ),
    (
        "elasticache-encryption",
        set_input(REDIS, "transitEncryptionEnabled", False),
        "in-transit encryption (TLS) is off",
    ),
    ("elasticache-auth", delete_input(REDIS, "authToken"), "no auth_token"),
    (
        "elasticache-high-availability",
        set_input(REDIS, "multiAzEnabled", False, "eu-west-1"),
        "multi-AZ is off",
    ),
    ("elasticache-snapshots", set_input(REDIS, "snapshotRetentionLimit", 0.0), "automatic snapshots are off"),
    ("rds-encryption", delete_input(AURORA, "kmsKeyId", "eu-west-1"), "no kms_key_id"),
    ("rds-backups", set_input(AURORA, "skipFinalSnapshot", True), "would keep no snapshot"),
    (
        "rds-deletion-protection",
        set_input("aws:rds/globalCluster:GlobalCluster", "deletionProtection", False),
        "deletion protection is off",
    ),
    (
        "rds-iam-auth",
        set_input("aws:rds/proxy:Proxy", "defaultAuthScheme", "NONE"),
        "accepts database passwords",
    ),
    (
        "rds-managed-credentials",
        set_input(AURORA, "manageMasterUserPassword", False, "us-east-1"),
        "not managed (and rotated)",
    ),
    (
        "rds-private",
        set_input("aws:rds/clusterInstance:ClusterInstance", "publiclyAccessible", True),
        "publicly accessible",
    ),
    ("eks-secrets-encryption", delete_input(EKS, "encryptionConfig"), "secrets are stored unencrypted"),
    (
        "eks-public-endpoint-restricted",
        set_input(EKS, "vpcConfig", {"endpointPublicAccess": True, "publicAccessCidrs": ["0.0.0.0/0"]}),
        "open to 0.0.0.0/0",
    ),
    (
        "eks-node-group-min-size",
        set_input("aws:eks/nodeGroup:NodeGroup", "scalingConfig.minSize", 1.0),
        "min_size is 1, below 2",
    ),
    (
        "eks-control-plane-logging",
        set_input(EKS, "enabledClusterLogTypes", ["api"]),
        "not enabled: audit, authenticator",
    ),
    ("eks-supported-version", set_input(EKS, "version", "1.24"), "Kubernetes 1.24 is older than 1.29"),
    ("eks-node-group-placement", one_zone_node_group, "spans 1 availability zone(s)"),
    (
        "vpc-flow-logs",
        blame(drop_type("aws:ec2/flowLog:FlowLog", "eu-west-1"), "aws:ec2/vpc:Vpc", "eu-west-1"),
        "has no flow log",
    ),
    (
        "subnet-no-public-ip",
        set_input("aws:ec2/subnet:Subnet", "mapPublicIpOnLaunch", True, "public-0"),
        "map_public_ip_on_launch is true",
    ),
    (
        "security-group-no-public-ingress",
        set_input(
            "aws:ec2/securityGroup:SecurityGroup", "ingress.0.cidrBlocks", ["0.0.0.0/0"], "cache-redis"
        ),
        "ingress on port 6379 is open to 0.0.0.0/0",
    ),
    (
        "iam-no-admin-wildcard",
        set_input(
            "aws:iam/rolePolicyAttachment:RolePolicyAttachment",
            "policyArn",
            "arn:aws:iam::aws:policy/AdministratorAccess",
        ),
        "attaches arn:aws:iam::aws:policy/AdministratorAccess",
    ),
    (
        "cloudfront-https-only",
        set_input(CDN, "defaultCacheBehavior.viewerProtocolPolicy", "allow-all"),
        "default behavior allows plain HTTP",
    ),
    (
        "cloudfront-tls-1-2",
        set_input(CDN, "viewerCertificate.minimumProtocolVersion", "TLSv1_2016"),
        "TLSv1_2016",
    ),
    ("cloudfront-waf-attached", delete_input(CDN, "webAclId"), "no web ACL"),
    ("cloudfront-logging", delete_input(CDN, "loggingConfig"), "no access logs"),
    ("cloudfront-origin-failover", set_input(CDN, "originGroups", []), "but no origin group"),
    ("health-check-https", set_input(HEALTH, "resourcePath", "/"), "not a gateway health path"),
    (
        "ingress-https-only",
        set_input(RELEASE, "values.controller.service.enableHttp", True, "ingress-nginx"),
        "also listens on plain HTTP",
    ),
    ("origin-tls-certificate", drop_type(VALIDATION, "eu-west-1"), "covers origin.eu-west-1."),
    (
        "kms-key-rotation",
        set_input("aws:kms/key:Key", "enableKeyRotation", False, "global"),
        "automatic rotation is off",
    ),
    (
        "k8s-container-resources",
        set_input(DEPLOYMENT, f"{C0}.resources", {"requests": {"cpu": "1"}}),
        "has no requests.memory, limits.cpu, limits.memory",
    ),
    (
        "k8s-container-probes",
        set_input(DEPLOYMENT, f"{C0}.readinessProbe", None, "green"),
        "has no readinessProbe",
    ),
    ("k8s-non-root", set_input(DEPLOYMENT, f"{C0}.securityContext.runAsUser", 0.0), "runs as root"),
    (
        "k8s-pod-security-restricted",
        set_input(DEPLOYMENT, "spec.template.spec.hostNetwork", True),
        "hostNetwork is on",
    ),
    (
        "k8s-image-pinned",
        set_input(DEPLOYMENT, f"{C0}.image", "ghcr.io/streamgate/gateway:latest"),
        "without a version tag",
    ),
    (
        "k8s-not-default-namespace",
        set_input(DEPLOYMENT, "metadata.namespace", "default"),
        "default namespace",
    ),
    (
        "k8s-namespace-pod-security",
        set_input("kubernetes:core/v1:Namespace", "metadata.labels", {}),
        "enforces no Pod Security level",
    ),
    (
        "k8s-disruption-budget",
        blame(drop_type(PDB, "eu-west-1-gateway-blue"), DEPLOYMENT, "eu-west-1-gateway-blue"),
        "no PodDisruptionBudget selects",
    ),
    (
        "k8s-zone-spread",
        set_input(DEPLOYMENT, "spec.template.spec.topologySpreadConstraints", []),
        "not spread over availability zones",
    ),
    (
        "k8s-network-policy",
        blame(
            drop_type("kubernetes:networking.k8s.io/v1:NetworkPolicy", "eu-west-1"),
            DEPLOYMENT,
            "eu-west-1-gateway-blue",
        ),
        "no NetworkPolicy guards the pods of Deployment streamgate/gateway-blue",
    ),
    (
        "gateway-autoscaled",
        set_input(HPA, "spec.minReplicas", 1.0, "eu-west-1"),
        "shrink to 1 replica(s), below 2",
    ),
    (
        "hpa-vpa-conflict",
        set_input(VPA, "spec.resourcePolicy.containerPolicies.0.controlledResources", ["cpu", "memory"]),
        "both act on cpu",
    ),
    ("alert-rules-annotated", add_alert_without_runbook, "has no http(s) runbook_url"),
    (
        "alertmanager-receivers",
        set_input(RELEASE, "values.alertmanager.config.receivers", [], "kube-prometheus-stack"),
        "severity=page alerts reach receiver streaming-platform-page, which notifies no one",
    ),
    (
        "environment-declared",
        retag_provider,
        "aws-eu-west-1 declares dev but the stack's policy config expects prod",
    ),
    ("prod-multi-region", single_region, "clusters run in 1 region(s) (us-east-1), fewer than 2"),
    (
        "prod-backup-replication",
        drop_type("aws:s3/bucketReplicationConfig:BucketReplicationConfig", "backup"),
        "no backup bucket replicates",
    ),
    (
        "region-failover-covered",
        unlink_health_check,
        "region eu-west-1's health check is on no failover record",
    ),
]


@pytest.mark.parametrize("stack", available_stacks())
def test_every_shipped_stack_passes(plan_of: PlanOf, stack: str) -> None:
    report = run_policies(plan_of(stack))
    assert report.violations == [], [v.to_json() for v in report.violations]
    assert report.passed
    assert report.policies == [p.name for p in POLICIES]  # no shipped config disables a policy
    if (CONFIG_DIR / f"{stack}.json").is_file():
        assert report.config.endswith(f"config/{stack}.json")


def test_every_policy_has_a_breakage() -> None:
    assert [name for name, _, _ in BREAKAGES] == [p.name for p in POLICIES]


@pytest.mark.parametrize(("name", "mutation", "fragment"), BREAKAGES, ids=[b[0] for b in BREAKAGES])
def test_broken_prod_plan_is_caught(plan_of: PlanOf, name: str, mutation: Mutation, fragment: str) -> None:
    plan = fresh(plan_of("prod"))
    blamed = mutation(plan)
    policy = BY_NAME[name]
    assert run_policies(plan_of("prod"), policies=[policy]).violations == []
    report = run_policies(plan, policies=[policy])
    assert not report.passed
    matching = [v for v in report.violations if fragment in v.message]
    assert matching, [v.message for v in report.violations]
    assert all(v.level == "mandatory" and v.description == policy.description for v in matching)
    if blamed is not None:
        assert blamed in {v.urn for v in matching}


@pytest.fixture(scope="module")
def broken_prod(plan_of: PlanOf) -> Plan:
    plan = fresh(plan_of("prod"))
    set_input(EKS, "vpcConfig", {"endpointPublicAccess": True, "publicAccessCidrs": ["0.0.0.0/0"]})(plan)
    set_input("aws:kms/key:Key", "enableKeyRotation", False)(plan)
    return plan


def test_all_advisory_reports_but_passes(broken_prod: Plan) -> None:
    report = run_policies(broken_prod, PackConfig.parse({"all": "advisory"}, "test"))
    assert {v.policy for v in report.violations} == {"eks-public-endpoint-restricted", "kms-key-rotation"}
    assert {v.level for v in report.violations} == {"advisory"}
    assert report.passed and report.mandatory == []


def test_a_policys_own_level_beats_all(broken_prod: Plan) -> None:
    config = PackConfig.parse(
        {"all": {"enforcementLevel": "advisory"}, "kms-key-rotation": {"enforcementLevel": "mandatory"}},
        "test",
    )
    report = run_policies(broken_prod, config)
    assert {(v.policy, v.level) for v in report.violations} == {
        ("eks-public-endpoint-restricted", "advisory"),
        ("kms-key-rotation", "mandatory"),
    }
    assert not report.passed


def test_disabled_policies_do_not_run_and_remediate_counts_as_mandatory(broken_prod: Plan) -> None:
    config = PackConfig.parse(
        {"eks-public-endpoint-restricted": "disabled", "kms-key-rotation": "remediate"}, "test"
    )
    report = run_policies(broken_prod, config)
    assert "eks-public-endpoint-restricted" not in report.policies
    assert {(v.policy, v.level) for v in report.violations} == {("kms-key-rotation", "mandatory")}


def test_config_thresholds_reach_the_policies(plan_of: PlanOf) -> None:
    stricter = PackConfig.parse({"backup-bucket-retention": {"minRetentionDays": 400}}, "test")
    report = run_policies(plan_of("prod"), stricter, policies=[BY_NAME["backup-bucket-retention"]])
    assert len(report.violations) == 6  # 3 backup buckets x (expiration + noncurrent expiration) at 365 days
    assert all("365 days < the minimum 400" in v.message for v in report.violations)


@pytest.mark.parametrize(
    ("document", "error"),
    [
        ({"no-such-policy": "advisory"}, "no-such-policy: no such policy"),
        ({"kms-key-rotation": "sometimes"}, "'sometimes' is not an enforcement level"),
        ({"all": {"minRetentionDays": 3}}, "all: expected a level string"),
        (
            {"backup-bucket-retention": {"minRetentionDay": 3}},
            "backup-bucket-retention.minRetentionDay: not a property",
        ),
        ({"backup-bucket-retention": {"minRetentionDays": "30"}}, "expected integer, got '30'"),
        ({"backup-bucket-retention": {"minRetentionDays": 0}}, "must be ≥ 1"),
        ({"environment-declared": {"environment": "qa"}}, "'qa' is not one of"),
        ({"gateway-autoscaled": {"gatewayNames": ["gateway", 3]}}, "gatewayNames[1]: expected string"),
        (["kms-key-rotation"], "expected a JSON object"),
    ],
)
def test_bad_config_is_refused_with_the_key_and_fix(document: Any, error: str) -> None:
    with pytest.raises(PolicyConfigError, match=None) as exc:
        PackConfig.parse(document, "policies/config/x.json")
    assert error in str(exc.value) and str(exc.value).startswith("policies/config/x.json: ")


def test_shipped_config_files_are_valid_and_name_real_stacks() -> None:
    files = sorted(CONFIG_DIR.glob("*.json"))
    assert files
    for path in files:
        assert path.stem in available_stacks(), path
        config = PackConfig.load(path)
        assert config.properties_of(BY_NAME["environment-declared"]) == {"environment": path.stem}
    assert PackConfig.for_stack("no-such-stack") == PackConfig()
    assert PackConfig().level_of(BY_NAME["kms-key-rotation"]) is EnforcementLevel.MANDATORY


@pytest.mark.parametrize("stack", ["dev", "prod"])
def test_plans_without_the_kubernetes_layer_pass_too(plan_of: PlanOf, stack: str) -> None:
    """The AWS layer alone (as before the Kubernetes layer lands) passes: the Kubernetes policies have
    nothing to judge and the stack policies don't demand Kubernetes objects."""
    plan = fresh(plan_of(stack))
    drop(
        plan,
        lambda r: (
            not (r.type.startswith(("kubernetes:", "streamgate:k8s:")) or "providers:kubernetes" in r.type)
        ),
    )
    assert not any(r.type.startswith("kubernetes:") for r in plan.resources)
    report = run_policies(plan)
    assert report.passed and report.violations == []
