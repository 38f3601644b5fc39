"""Every stack policy over synthetic stacks shaped like the program's: the compliant stack passes, each
breakage is caught with its message (and against the right resource)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import pytest
from pulumi_policy import Policy, StackValidationPolicy

from policies import alerts, autoscaling, availability, cluster, network, storage, tls, topology
from policies.pack import POLICIES
from tests.policies.synthetic import (
    DEPLOYMENT,
    HPA,
    PDB,
    PROMETHEUS_RULE,
    UNKNOWN,
    VPA,
    Stack,
    alert_rule,
    aws_provider_props,
    deployment,
    good_stack,
    hpa,
    pdb,
    vpa,
)

Break = Callable[[Stack], None]


def set_path(name: str, path: str, value: Any) -> Break:
    def apply(stack: Stack) -> None:
        *parents, last = path.split(".")
        node: Any = stack.props(name)
        for part in parents:
            node = node[int(part)] if isinstance(node, list) else node[part]
        node[int(last) if isinstance(node, list) else last] = value

    return apply


def remove(*names: str) -> Break:
    def apply(stack: Stack) -> None:
        stack.remove(*names)

    return apply


def add(type_: str, name: str, props: dict[str, Any], provider: str) -> Break:
    def apply(stack: Stack) -> None:
        stack.add(type_, name, props, provider=provider)

    return apply


def all_of(*breaks: Break) -> Break:
    def apply(stack: Stack) -> None:
        for b in breaks:
            b(stack)

    return apply


def untag_backups(stack: Stack) -> None:
    for region in ("us-east-1", "eu-west-1"):
        stack.props(f"{region}-backup")["tags"] = {}


def remove_aws_providers(stack: Stack) -> None:
    stack.remove(*(n for n in list(stack.specs) if n.startswith("aws-")))


@dataclass
class Case:
    policy: Policy
    breakages: list[tuple[Break, str, str | None]]  # (change, message fragment, name of the blamed resource)
    config: dict[str, Any] = field(default_factory=dict)


CASES = [
    Case(
        storage.s3_bucket_protected,
        [
            (
                remove("us-east-1-content-versioning"),
                "Bucket us-east-1-content has no BucketVersioning",
                "us-east-1-content",
            ),
            (
                remove("eu-west-1-backup-sse", "eu-west-1-backup-pab"),
                "has no BucketServerSideEncryptionConfiguration, BucketPublicAccessBlock",
                "eu-west-1-backup",
            ),
            # A companion that configures another bucket doesn't count.
            (
                set_path("us-east-1-backup-pab", "bucket", "elsewhere-id"),
                "us-east-1-backup has no BucketPublicAccessBlock",
                "us-east-1-backup",
            ),
        ],
    ),
    Case(
        storage.backup_bucket_retention,
        [
            (
                remove("eu-west-1-backup-lifecycle"),
                "Bucket eu-west-1-backup has no enabled lifecycle rule",
                "eu-west-1-backup",
            ),
            (
                set_path("us-east-1-backup-lifecycle", "rules.0.status", "Disabled"),
                "has no enabled lifecycle rule",
                "us-east-1-backup",
            ),
            (
                set_path("us-east-1-backup-lifecycle", "rules.0.expiration.days", 20.0),
                "rule expire expiration after 20 days < the minimum 30",
                "us-east-1-backup",
            ),
            (
                set_path(
                    "us-east-1-backup-lifecycle", "rules.0.noncurrentVersionExpiration.noncurrentDays", 7.0
                ),
                "noncurrent version expiration after 7 days < the minimum 30",
                "us-east-1-backup",
            ),
        ],
        config={"minRetentionDays": 30},
    ),
    Case(
        storage.backup_bucket_object_lock,
        [
            (
                set_path("us-east-1-backup", "objectLockEnabled", False),
                "is created without object_lock_enabled",
                "us-east-1-backup",
            ),
            (remove("eu-west-1-backup-lock"), "has no object lock configuration", "eu-west-1-backup"),
            (
                set_path("eu-west-1-backup-lock", "rule.defaultRetention.days", 0.0),
                "needs a mode and days or years",
                "eu-west-1-backup",
            ),
        ],
    ),
    Case(
        autoscaling.gateway_autoscaled,
        [
            (
                remove("eu-west-1-hpa"),
                "no HorizontalPodAutoscaler scales Deployment streamgate/gateway-blue",
                "eu-west-1-gateway-blue",
            ),
            (
                set_path("us-east-1-hpa", "spec.minReplicas", 1.0),
                "shrink to 1 replica(s), below 2",
                "us-east-1-hpa",
            ),
            # An HPA on the same name in another cluster does not scale this one.
            (
                all_of(remove("eu-west-1-hpa"), add(HPA, "stray-hpa", hpa(), "k8s-us-east-1")),
                "no HorizontalPodAutoscaler scales Deployment streamgate/gateway-blue",
                "eu-west-1-gateway-blue",
            ),
            (
                add(HPA, "second-hpa", hpa(), "k8s-us-east-1"),
                "2 HPAs scale Deployment streamgate/gateway-blue",
                "us-east-1-gateway-blue",
            ),
        ],
    ),
    Case(
        autoscaling.hpa_vpa_conflict,
        [
            (
                set_path(
                    "us-east-1-vpa",
                    "spec.resourcePolicy.containerPolicies.0.controlledResources",
                    ["cpu", "memory"],
                ),
                "VPA us-east-1-vpa and HPA us-east-1-hpa both act on cpu",
                "us-east-1-vpa",
            ),
            # No resource policy: VPA controls cpu and memory by default.
            (
                set_path("us-east-1-vpa", "spec.resourcePolicy", {}),
                "both act on cpu of Deployment streamgate/gateway-blue",
                "us-east-1-vpa",
            ),
            # A container the VPA's policies don't name gets the defaults.
            (
                set_path("us-east-1-vpa", "spec.resourcePolicy.containerPolicies.0.containerName", "sidecar"),
                "both act on cpu",
                "us-east-1-vpa",
            ),
            # An HPA on memory against the memory-only VPA.
            (
                set_path("eu-west-1-hpa", "spec.metrics.0.resource.name", "memory"),
                "both act on memory",
                "eu-west-1-vpa",
            ),
            # An HPA without metrics scales on CPU (80 %).
            (
                all_of(
                    set_path("us-east-1-hpa", "spec.metrics", []),
                    set_path(
                        "us-east-1-vpa",
                        "spec.resourcePolicy.containerPolicies.0.controlledResources",
                        ["cpu"],
                    ),
                ),
                "both act on cpu",
                "us-east-1-vpa",
            ),
        ],
    ),
    Case(
        alerts.alert_rules_annotated,
        [
            (
                set_path("alerts", "spec", alert_rule(labels={})["spec"]),
                "alert GatewayDown has no severity label",
                "alerts",
            ),
            (
                set_path("alerts", "spec", alert_rule(labels={"severity": "critical"})["spec"]),
                "has severity 'critical' (one of info, page, ticket)",
                "alerts",
            ),
            (
                set_path("alerts", "spec", alert_rule(annotations={"summary": "down"})["spec"]),
                "alert GatewayDown has no http(s) runbook_url",
                "alerts",
            ),
            (
                set_path("alerts", "spec", alert_rule(annotations={"runbook_url": "see wiki"})["spec"]),
                "no http(s) runbook_url",
                "alerts",
            ),
        ],
    ),
    Case(
        topology.environment_declared,
        [
            (
                set_path("aws-eu-west-1", "defaultTags", '{"tags": {}}'),
                "AWS provider aws-eu-west-1 sets no streamgate/environment default tag",
                "aws-eu-west-1",
            ),
            (
                set_path("aws-eu-west-1", "defaultTags", aws_provider_props(env="qa")["defaultTags"]),
                "declares unknown environment 'qa'",
                "aws-eu-west-1",
            ),
            (
                set_path("aws-eu-west-1", "defaultTags", aws_provider_props(env="dev")["defaultTags"]),
                "AWS providers disagree on the environment: dev, prod",
                None,
            ),
            (
                remove_aws_providers,
                "nothing declares the environment",
                None,
            ),
        ],
    ),
    Case(
        topology.prod_multi_region,
        [(remove("eu-west-1-eks"), "clusters run in 1 region(s) (us-east-1), fewer than 2", None)],
    ),
    Case(
        topology.prod_backup_replication,
        [
            (remove("backup-replication"), "no backup bucket replicates to a bucket in another region", None),
            # Replication into the same region is no disaster recovery.
            (
                set_path(
                    "backup-replication",
                    "rules.0.destination.bucket",
                    "arn:aws:test:us-east-1:123456789012:us-east-1-content",
                ),
                "in another region",
                None,
            ),
            (set_path("backup-replication", "rules.0.status", "Disabled"), "in another region", None),
            (
                untag_backups,
                "no backup bucket (tagged streamgate/purpose=backup)",
                None,
            ),
        ],
    ),
    Case(
        topology.region_failover_covered,
        [
            (remove("health-eu-west-1"), "region eu-west-1 has no Route 53 health check", None),
            (
                set_path("api-secondary-1", "healthCheckId", None),
                "region eu-west-1's health check is on no failover record",
                None,
            ),
            (
                set_path("api-secondary-1", "failoverRoutingPolicies", []),
                "region eu-west-1's health check is on no failover record",
                None,
            ),
        ],
    ),
    Case(
        tls.origin_tls_certificate,
        [
            (
                remove("eu-west-1-cert-validation"),
                "no issued (DNS-validated) ACM certificate covers origin.eu-west-1.example.com",
                "health-eu-west-1",
            ),
            (
                set_path("us-east-1-cert", "domainName", "origin.elsewhere.example.com"),
                "covers origin.us-east-1.example.com",
                "health-us-east-1",
            ),
            (
                set_path("us-east-1-cert", "validationMethod", "EMAIL"),
                "certificate us-east-1-cert is not DNS-validated",
                "us-east-1-cert",
            ),
            # A wildcard covers one label only: *.example.com does not cover origin.<region>.example.com.
            (
                set_path("eu-west-1-cert", "domainName", "*.example.com"),
                "covers origin.eu-west-1.example.com",
                "health-eu-west-1",
            ),
        ],
    ),
]
CASES += [
    Case(
        storage.s3_tls_only,
        [
            (
                remove("eu-west-1-content-policy"),
                "Bucket eu-west-1-content accepts requests without TLS",
                "eu-west-1-content",
            ),
            (
                set_path(
                    "us-east-1-backup-policy",
                    "policy",
                    '{"Statement": [{"Effect": "Allow", "Action": "s3:*"}]}',
                ),
                "us-east-1-backup accepts requests without TLS",
                "us-east-1-backup",
            ),
            # A policy on another bucket does not cover this one.
            (
                set_path("us-east-1-content-policy", "bucket", "elsewhere-id"),
                "us-east-1-content accepts requests without TLS",
                "us-east-1-content",
            ),
        ],
    ),
    Case(
        network.vpc_flow_logs,
        [
            (remove("eu-west-1-flow-logs"), "Vpc eu-west-1-vpc has no flow log", "eu-west-1-vpc"),
            (
                set_path("us-east-1-flow-logs", "vpcId", "eu-west-1-vpc-id"),
                "us-east-1-vpc has no flow log",
                "us-east-1-vpc",
            ),
        ],
    ),
    Case(
        cluster.eks_node_group_placement,
        [
            # The finding: a node group confined to one availability zone.
            (
                set_path("us-east-1-nodes", "subnetIds", ["us-east-1-private-a-id"]),
                "NodeGroup us-east-1-nodes spans 1 availability zone(s) (us-east-1a), fewer than 2",
                "us-east-1-nodes",
            ),
            (
                set_path("eu-west-1-private-b", "availabilityZone", "eu-west-1a"),
                "spans 1 availability zone(s) (eu-west-1a)",
                "eu-west-1-nodes",
            ),
            (
                set_path("us-east-1-nodes", "subnetIds", ["us-east-1-private-a-id", "us-east-1-public-a-id"]),
                "NodeGroup us-east-1-nodes runs nodes in public subnets: us-east-1-public-a",
                "us-east-1-nodes",
            ),
            (
                set_path(
                    "us-east-1-private-rt",
                    "routes",
                    [{"cidrBlock": "0.0.0.0/0", "gatewayId": "us-east-1-igw-id"}],
                ),
                "runs nodes in public subnets: us-east-1-private-a, us-east-1-private-b",
                "us-east-1-nodes",
            ),
        ],
    ),
    Case(
        network.k8s_network_policy,
        [
            (
                remove("eu-west-1-netpol"),
                "no NetworkPolicy guards the pods of Deployment streamgate/gateway-blue",
                "eu-west-1-gateway-blue",
            ),
            (
                set_path("us-east-1-netpol", "spec.policyTypes", ["Egress"]),
                "no NetworkPolicy guards",
                "us-east-1-gateway-blue",
            ),
            (
                set_path(
                    "us-east-1-netpol",
                    "spec.podSelector",
                    {"matchLabels": {"app.kubernetes.io/name": "other"}},
                ),
                "no NetworkPolicy guards",
                "us-east-1-gateway-blue",
            ),
            (
                set_path("us-east-1-netpol", "metadata.namespace", "elsewhere"),
                "no NetworkPolicy guards",
                "us-east-1-gateway-blue",
            ),
        ],
    ),
    Case(
        availability.k8s_disruption_budget,
        [
            (
                remove("eu-west-1-pdb"),
                "no PodDisruptionBudget selects the pods of Deployment streamgate/gateway-blue",
                "eu-west-1-gateway-blue",
            ),
            (
                set_path("us-east-1-pdb", "spec.selector.matchLabels", {"app.kubernetes.io/name": "other"}),
                "no PodDisruptionBudget selects",
                "us-east-1-gateway-blue",
            ),
            # A budget in another cluster does not protect this one.
            (
                all_of(remove("eu-west-1-pdb"), add(PDB, "stray-pdb", pdb(), "k8s-us-east-1")),
                "no PodDisruptionBudget selects",
                "eu-west-1-gateway-blue",
            ),
        ],
    ),
]
IDS = [c.policy.name for c in CASES]


@pytest.mark.parametrize("case", CASES, ids=IDS)
def test_compliant_stack_passes(case: Case) -> None:
    assert good_stack().violations(case.policy, case.config) == []
    assert good_stack("dev", ("us-east-1",)).violations(case.policy, case.config) == []


@pytest.mark.parametrize("case", CASES, ids=IDS)
def test_breakage_is_caught_with_its_message(case: Case) -> None:
    for breakage, fragment, blamed in case.breakages:
        stack = good_stack()
        breakage(stack)
        found = stack.violations(case.policy, case.config)
        matching = [(m, u) for m, u in found if fragment in m]
        assert matching, (fragment, found)
        expected_urn = stack.urn_of(blamed) if blamed is not None else None
        assert matching[0][1] == expected_urn, (fragment, matching)


def test_every_stack_policy_has_a_case() -> None:
    assert {p.name for p in POLICIES if isinstance(p, StackValidationPolicy)} == set(IDS)


@pytest.mark.parametrize(
    "policy",
    [storage.backup_bucket_object_lock, topology.prod_multi_region, topology.prod_backup_replication],
    ids=lambda p: p.name,
)
def test_prod_only_stack_policies_skip_other_environments(policy: Policy) -> None:
    broken = good_stack("dev", ("us-east-1",))
    broken.remove("us-east-1-backup-lock")
    broken.props("us-east-1-backup")["objectLockEnabled"] = False
    assert broken.violations(policy) == []
    assert broken.violations(policy, {"environment": "prod"})  # the config can pin the environment
    as_prod = good_stack("prod", ("us-east-1",))
    as_prod.remove("us-east-1-backup-lock")
    as_prod.props("us-east-1-backup")["objectLockEnabled"] = False
    assert as_prod.violations(policy)


def test_gateway_min_replicas_comes_from_config_and_applies_in_prod_only() -> None:
    policy = autoscaling.gateway_autoscaled
    stack = good_stack()
    assert stack.violations(policy) == []
    assert [m for m, _ in stack.violations(policy, {"minReplicas": 3})] == [
        "HPA us-east-1-hpa lets Deployment streamgate/gateway-blue shrink to 2 replica(s), below 3",
        "HPA eu-west-1-hpa lets Deployment streamgate/gateway-blue shrink to 2 replica(s), below 3",
    ]
    dev = good_stack("dev", ("us-east-1",))
    dev.props("us-east-1-hpa")["spec"]["minReplicas"] = 1.0
    assert dev.violations(policy) == []
    dev.remove("us-east-1-hpa")
    assert dev.messages(policy) == ["no HorizontalPodAutoscaler scales Deployment streamgate/gateway-blue"]


def test_gateway_workloads_are_found_by_their_name_label() -> None:
    stack = good_stack()
    stack.add(DEPLOYMENT, "worker", deployment("worker", app="worker"), provider="k8s-us-east-1")
    assert stack.violations(autoscaling.gateway_autoscaled) == []
    assert stack.messages(autoscaling.gateway_autoscaled, {"gatewayNames": ["gateway", "worker"]}) == [
        "no HorizontalPodAutoscaler scales Deployment streamgate/worker"
    ]


def test_alert_rules_pass_vacuously_without_prometheus_rules() -> None:
    stack = good_stack()
    stack.remove("alerts")
    assert stack.violations(alerts.alert_rules_annotated) == []
    stack.add(
        PROMETHEUS_RULE,
        "extra",
        alert_rule(alert="Slow", labels={"severity": "warning"}),
        provider="k8s-us-east-1",
    )
    assert stack.messages(alerts.alert_rules_annotated) == [
        "extra: group gateway alert Slow has severity 'warning' (one of info, page, ticket)"
    ]
    assert stack.violations(alerts.alert_rules_annotated, {"severities": ["page", "warning"]}) == []


def test_environment_declared_checks_the_pinned_environment() -> None:
    policy = topology.environment_declared
    assert good_stack().violations(policy, {"environment": "prod"}) == []
    stack = good_stack("dev")
    assert stack.violations(policy, {"environment": "prod"}) == [
        (
            f"AWS provider aws-{region} declares dev but the stack's policy config expects prod",
            stack.urn_of(f"aws-{region}"),
        )
        for region in ("us-east-1", "eu-west-1")
    ]


def test_vpa_off_does_not_conflict() -> None:
    stack = good_stack()
    stack.props("us-east-1-vpa")["spec"] = vpa(controlled=["cpu"])["spec"] | {
        "updatePolicy": {"updateMode": "Off"}
    }
    assert stack.violations(autoscaling.hpa_vpa_conflict) == []


def test_references_resolve_through_property_dependencies_during_preview() -> None:
    """In a preview of new resources ids and ARNs are unknown; the engine's property dependencies say what a
    property refers to, so the stack policies still see the links."""
    stack = good_stack()
    for name, prop, target in (
        ("us-east-1-content-versioning", "bucket", "us-east-1-content"),
        ("backup-replication", "bucket", "us-east-1-backup"),
        ("api-primary-0", "healthCheckId", "health-us-east-1"),
        ("api-secondary-1", "healthCheckId", "health-eu-west-1"),
    ):
        stack.props(name)[prop] = UNKNOWN
        stack.specs[name].deps[prop] = [target]
    stack.props("backup-replication")["rules"][0]["destination"]["bucket"] = UNKNOWN
    stack.specs["backup-replication"].deps["rules"] = ["eu-west-1-backup", "aws-us-east-1"]
    stack.props("us-east-1-hpa")["spec"]["scaleTargetRef"]["name"] = UNKNOWN
    stack.specs["us-east-1-hpa"].deps["spec"] = ["us-east-1-gateway-blue"]
    for policy in (
        storage.s3_bucket_protected,
        topology.prod_backup_replication,
        topology.region_failover_covered,
        autoscaling.gateway_autoscaled,
    ):
        assert stack.violations(policy) == [], policy.name
    # ...and a missing dependency is still a violation.
    stack.specs["us-east-1-content-versioning"].deps["bucket"] = []
    assert stack.messages(storage.s3_bucket_protected) == ["Bucket us-east-1-content has no BucketVersioning"]
    stack.specs["backup-replication"].deps["rules"] = ["us-east-1-content"]
    assert stack.violations(topology.prod_backup_replication)


def test_vpa_controlling_all_containers_by_wildcard() -> None:
    stack = good_stack()
    policies = stack.props("us-east-1-vpa")["spec"]["resourcePolicy"]["containerPolicies"]
    policies[0]["containerName"] = "*"
    assert stack.violations(autoscaling.hpa_vpa_conflict) == []
    stack.add(VPA, "stray-vpa", vpa(target="other"), provider="k8s-us-east-1")
    assert stack.violations(autoscaling.hpa_vpa_conflict) == []  # targets a workload no HPA scales
