"""Every resource policy: a compliant resource passes, each violating variant is caught with its message."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import pytest
from pulumi_policy import Policy, ResourceValidationPolicy

from policies import alerts, cache, cdn, cluster, keys, storage, tls, workloads
from policies.pack import POLICIES
from tests.policies.synthetic import DELETE, POD, UNKNOWN, patched, resource_messages

KMS = "aws:kms/key:Key"
SSE = storage.ENCRYPTION[0]
VERSIONING = storage.VERSIONING[0]
PAB = storage.PUBLIC_ACCESS_BLOCK[0]
REDIS = cache.REPLICATION_GROUP
EKS = cluster.EKS_CLUSTER
NODES = cluster.NODE_GROUP
CDN = cdn.DISTRIBUTION
DEPLOYMENT = workloads.DEPLOYMENT

KEY = {"enableKeyRotation": True, "rotationPeriodInDays": 365.0, "deletionWindowInDays": 30.0}
ENCRYPTION = {
    "bucket": "b-id",
    "rules": [
        {
            "applyServerSideEncryptionByDefault": {
                "sseAlgorithm": "aws:kms",
                "kmsMasterKeyId": "arn:aws:kms:k",
            },
            "bucketKeyEnabled": True,
        }
    ],
}
VERSIONED = {"bucket": "b-id", "versioningConfiguration": {"status": "Enabled"}}
BLOCKED = {
    "bucket": "b-id",
    "blockPublicAcls": True,
    "blockPublicPolicy": True,
    "ignorePublicAcls": True,
    "restrictPublicBuckets": True,
}
GROUP = {
    "atRestEncryptionEnabled": True,
    "transitEncryptionEnabled": True,
    "authToken": "[secret]",
    "automaticFailoverEnabled": True,
    "multiAzEnabled": True,
    "numCacheClusters": 3.0,
}
CLUSTER = {
    "encryptionConfig": {"resources": ["secrets"], "provider": {"keyArn": "arn:aws:kms:k"}},
    "vpcConfig": {"endpointPrivateAccess": True, "endpointPublicAccess": False},
}
NODE_GROUP = {"scalingConfig": {"minSize": 3.0, "maxSize": 6.0, "desiredSize": 3.0}}
DISTRIBUTION = {
    "defaultCacheBehavior": {"viewerProtocolPolicy": "https-only"},
    "orderedCacheBehaviors": [{"pathPattern": "/segments/*", "viewerProtocolPolicy": "redirect-to-https"}],
    "origins": [
        {
            "originId": "us-east-1",
            "customOriginConfig": {"originProtocolPolicy": "https-only", "originSslProtocols": ["TLSv1.2"]},
        }
    ],
    "viewerCertificate": {"acmCertificateArn": "arn:aws:acm:c", "minimumProtocolVersion": "TLSv1.2_2021"},
    "webAclId": "arn:aws:wafv2:us-east-1:123456789012:global/webacl/x",
}
WORKLOAD = {"metadata": {"name": "gateway-blue"}, "spec": {"template": {"spec": POD}}}
HEALTH_CHECK = {
    "type": "HTTPS",
    "fqdn": "origin.us-east-1.example.com",
    "port": 443.0,
    "enableSni": True,
    "resourcePath": "/readyz",
}
NLB = "service.beta.kubernetes.io/aws-load-balancer-"
INGRESS_RELEASE = {
    "chart": "ingress-nginx",
    "values": {
        "controller": {
            "service": {
                "enableHttp": False,
                "annotations": {
                    f"{NLB}ssl-cert": "arn:aws:acm:us-east-1:123456789012:certificate/c",
                    f"{NLB}ssl-ports": "https",
                    f"{NLB}ssl-negotiation-policy": "ELBSecurityPolicy-TLS13-1-2-2021-06",
                },
            }
        }
    },
}


def nlb_annotations(**changes: Any) -> dict[str, Any]:
    """A change to the ingress load balancer's annotations (their keys hold dots, so not a path)."""
    annotations = dict(INGRESS_RELEASE["values"]["controller"]["service"]["annotations"])
    for key, value in changes.items():
        if value is None:
            del annotations[f"{NLB}{key}"]
        else:
            annotations[f"{NLB}{key}"] = value
    return {"values.controller.service.annotations": annotations}


KEYS = "/etc/alertmanager/secrets/alertmanager-receivers"
MONITORING_RELEASE = {
    "chart": "kube-prometheus-stack",
    "values": {
        "alertmanager": {
            "config": {
                "route": {
                    "receiver": "default",
                    "routes": [
                        {
                            "matchers": ['team="t"'],
                            "receiver": "t-ticket",
                            "routes": [
                                {"matchers": ['severity="page"'], "receiver": "t-page"},
                                {"matchers": ['severity="ticket"'], "receiver": "t-ticket"},
                                {"matchers": ['severity="info"'], "receiver": "t-info"},
                            ],
                        }
                    ],
                },
                "receivers": [
                    {"name": "default"},
                    {
                        "name": "t-page",
                        "pagerduty_configs": [{"routing_key_file": f"{KEYS}/pagerduty-routing-key"}],
                    },
                    {
                        "name": "t-ticket",
                        "slack_configs": [{"api_url_file": f"{KEYS}/slack-webhook-url", "channel": "#c"}],
                    },
                    {"name": "t-info"},
                ],
            }
        }
    },
}
PAGE_RECEIVER = "values.alertmanager.config.receivers.1"
C0 = "spec.template.spec.containers.0"


@dataclass
class Case:
    policy: Policy
    type: str
    compliant: dict[str, Any]
    violations: list[tuple[dict[str, Any], str]]  # (changes to `compliant`, expected message fragment)
    also_compliant: list[dict[str, Any]] = field(default_factory=list)  # changes that stay compliant
    env: str = "prod"
    config: dict[str, Any] = field(default_factory=dict)


CASES = [
    Case(
        keys.kms_key_rotation,
        KMS,
        KEY,
        [
            ({"enableKeyRotation": False}, "automatic rotation is off"),
            ({"enableKeyRotation": DELETE}, "automatic rotation is off"),
            ({"rotationPeriodInDays": 730.0}, "rotates every 730 days, more than 365"),
        ],
        # Asymmetric keys cannot rotate; an unknown flag is decided at update time.
        [{"enableKeyRotation": False, "keySpec": "RSA_2048"}, {"enableKeyRotation": UNKNOWN}],
    ),
    Case(
        storage.s3_encryption_kms,
        SSE,
        ENCRYPTION,
        [
            (
                {"rules.0.applyServerSideEncryptionByDefault.sseAlgorithm": "AES256"},
                "encrypts with AES256, not aws:kms",
            ),
            ({"rules.0.applyServerSideEncryptionByDefault.kmsMasterKeyId": DELETE}, "AWS-managed aws/s3 key"),
            ({"rules": []}, "no encryption rule"),
        ],
        # During preview the key's ARN is unknown: still a customer key.
        [{"rules.0.applyServerSideEncryptionByDefault.kmsMasterKeyId": UNKNOWN}],
    ),
    Case(
        storage.s3_versioning_enabled,
        VERSIONING,
        VERSIONED,
        [
            ({"versioningConfiguration.status": "Suspended"}, "versioning status is Suspended"),
            ({"versioningConfiguration": DELETE}, "versioning status is unset"),
        ],
    ),
    Case(
        storage.s3_public_access_blocked,
        PAB,
        BLOCKED,
        [
            ({"restrictPublicBuckets": False}, "not blocked: restrictPublicBuckets"),
            (
                {"blockPublicAcls": DELETE, "ignorePublicAcls": "false"},
                "not blocked: blockPublicAcls, ignorePublicAcls",
            ),
        ],
    ),
    Case(
        cache.elasticache_encryption,
        REDIS,
        GROUP,
        [
            ({"atRestEncryptionEnabled": False}, "at-rest encryption is off"),
            ({"transitEncryptionEnabled": DELETE}, "in-transit encryption (TLS) is off"),
            ({"transitEncryptionMode": "preferred"}, "still accepts plaintext"),
        ],
        [{"transitEncryptionMode": "required"}],
    ),
    Case(
        cache.elasticache_auth,
        REDIS,
        GROUP,
        [({"authToken": DELETE}, "no auth_token and no user groups")],
        [{"authToken": DELETE, "userGroupIds": ["streamgate"]}],
    ),
    Case(
        cache.elasticache_high_availability,
        REDIS,
        GROUP,
        [
            ({"automaticFailoverEnabled": False}, "automatic failover is off"),
            ({"multiAzEnabled": DELETE}, "multi-AZ is off"),
            ({"numCacheClusters": 1.0}, "no replica to fail over to"),
        ],
        [{"numCacheClusters": DELETE, "replicasPerNodeGroup": 1.0}],
    ),
    Case(
        cluster.eks_secrets_encryption,
        EKS,
        CLUSTER,
        [
            ({"encryptionConfig": DELETE}, "secrets are stored unencrypted"),
            ({"encryptionConfig.resources": []}, "secrets are stored unencrypted"),
            ({"encryptionConfig.provider": DELETE}, "no provider key_arn"),
        ],
        # The pre-v7 list shape.
        [{"encryptionConfig": [{"resources": ["secrets"], "provider": {"keyArn": "arn:aws:kms:k"}}]}],
    ),
    Case(
        cluster.eks_public_endpoint_restricted,
        EKS,
        CLUSTER,
        [
            (
                {"vpcConfig.endpointPublicAccess": True, "vpcConfig.publicAccessCidrs": ["0.0.0.0/0"]},
                "open to 0.0.0.0/0",
            ),
            (
                {
                    "vpcConfig.endpointPublicAccess": True,
                    "vpcConfig.publicAccessCidrs": ["10.0.0.0/8", "::/0"],
                },
                "open to ::/0",
            ),
            ({"vpcConfig.endpointPublicAccess": DELETE}, "AWS opens it to 0.0.0.0/0"),  # public by default
        ],
        [{"vpcConfig.endpointPublicAccess": True, "vpcConfig.publicAccessCidrs": ["203.0.113.0/24"]}],
    ),
    Case(
        cluster.eks_node_group_min_size,
        NODES,
        NODE_GROUP,
        [
            ({"scalingConfig.minSize": 1.0}, "scaling_config.min_size is 1, below 2"),
            ({"scalingConfig.minSize": DELETE}, "min_size is unset"),
        ],
    ),
    Case(
        cdn.cloudfront_https_only,
        CDN,
        DISTRIBUTION,
        [
            (
                {"defaultCacheBehavior.viewerProtocolPolicy": "allow-all"},
                "default behavior allows plain HTTP",
            ),
            (
                {"orderedCacheBehaviors.0.viewerProtocolPolicy": "allow-all"},
                "behavior /segments/* allows plain HTTP",
            ),
            (
                {"origins.0.customOriginConfig.originProtocolPolicy": "match-viewer"},
                "origin us-east-1 is fetched over match-viewer",
            ),
        ],
    ),
    Case(
        cdn.cloudfront_tls_1_2,
        CDN,
        DISTRIBUTION,
        [
            (
                {"viewerCertificate.minimumProtocolVersion": "TLSv1_2016"},
                "viewers may connect with TLSv1_2016",
            ),
            (
                {"viewerCertificate.minimumProtocolVersion": "TLSv1.1_2016"},
                "viewers may connect with TLSv1.1_2016",
            ),
            ({"viewerCertificate.minimumProtocolVersion": DELETE}, "TLSv1 (the default)"),
            (
                {"viewerCertificate": {"cloudfrontDefaultCertificate": True}},
                "default *.cloudfront.net certificate",
            ),
            (
                {"origins.0.customOriginConfig.originSslProtocols": ["TLSv1", "TLSv1.2"]},
                "origin us-east-1 allows TLSv1",
            ),
        ],
        [{"viewerCertificate.minimumProtocolVersion": "TLSv1.2_2019"}],
    ),
    Case(
        cdn.cloudfront_waf_attached,
        CDN,
        DISTRIBUTION,
        [({"webAclId": DELETE}, "no web ACL is attached"), ({"webAclId": ""}, "no web ACL is attached")],
        [{"webAclId": UNKNOWN}],  # the ACL's ARN during preview
    ),
    Case(
        workloads.k8s_container_resources,
        DEPLOYMENT,
        WORKLOAD,
        [
            ({f"{C0}.resources.limits": DELETE}, "container gateway has no limits.cpu, limits.memory"),
            (
                {f"{C0}.resources.requests.cpu": "3"},
                "container gateway requests more cpu (3) than its limit (2)",
            ),
            ({f"{C0}.resources.requests.memory": "2Gi"}, "requests more memory (2Gi) than its limit (1Gi)"),
            (
                {"spec.template.spec.initContainers": [{"name": "migrate"}]},
                "container migrate has no requests.cpu",
            ),
        ],
        [{f"{C0}.resources.limits.cpu": 2.0, f"{C0}.resources.requests.cpu": "2000m"}],
    ),
    Case(
        workloads.k8s_container_probes,
        DEPLOYMENT,
        WORKLOAD,
        [
            ({f"{C0}.readinessProbe": DELETE}, "container gateway has no readinessProbe"),
            (
                {f"{C0}.readinessProbe": DELETE, f"{C0}.livenessProbe": DELETE},
                "no readinessProbe or livenessProbe",
            ),
        ],
    ),
    Case(
        workloads.k8s_non_root,
        DEPLOYMENT,
        WORKLOAD,
        [
            ({f"{C0}.securityContext.runAsNonRoot": False}, "container gateway may run as root"),
            ({f"{C0}.securityContext.runAsUser": 0.0}, "container gateway runs as root (runAsUser 0)"),
            (
                {f"{C0}.securityContext.runAsNonRoot": DELETE, "spec.template.spec.securityContext": DELETE},
                "may run as root (runAsNonRoot is not true)",
            ),
            ({f"{C0}.securityContext.privileged": True}, "container gateway is privileged"),
            ({f"{C0}.securityContext.allowPrivilegeEscalation": DELETE}, "may escalate privileges"),
        ],
        # The pod's runAsNonRoot covers a container that sets none.
        [{f"{C0}.securityContext.runAsNonRoot": DELETE}],
    ),
]
CASES += [
    Case(
        tls.health_check_https,
        tls.HEALTH_CHECK,
        HEALTH_CHECK,
        [
            ({"type": "HTTP"}, "checks over HTTP, not HTTPS"),
            ({"port": 80.0}, "checks port 80, not the origin's 443"),
            ({"enableSni": False}, "does not send SNI"),
            ({"resourcePath": "/"}, "probes /, which is not a gateway health path"),
            ({"resourcePath": DELETE}, "probes /, which is not a gateway health path"),
        ],
        [{"resourcePath": "/healthz"}, {"type": "HTTPS_STR_MATCH"}, {"resourcePath": UNKNOWN}],
    ),
    Case(
        tls.ingress_https_only,
        tls.HELM_RELEASE,
        INGRESS_RELEASE,
        [
            ({"values.controller.service.enableHttp": True}, "also listens on plain HTTP"),
            ({"values.controller.service.enableHttp": DELETE}, "also listens on plain HTTP"),
            (nlb_annotations(**{"ssl-cert": None}), "no ACM certificate"),
            (nlb_annotations(**{"ssl-ports": "443x"}), "does not terminate TLS"),
            (nlb_annotations(**{"ssl-negotiation-policy": None}), "allows protocols older than TLS 1.2"),
        ],
        # Another chart is not an ingress controller; an unknown certificate ARN is decided at update time.
        [
            {"chart": "metrics-server", "values.controller.service.enableHttp": True},
            nlb_annotations(**{"ssl-cert": UNKNOWN}),
        ],
    ),
    Case(
        alerts.alertmanager_receivers,
        alerts.HELM_RELEASE,
        MONITORING_RELEASE,
        [
            ({f"{PAGE_RECEIVER}.pagerduty_configs": []}, "severity=page alerts reach receiver t-page"),
            (
                {"values.alertmanager.config.route.routes.0.routes.1.receiver": "t-info"},
                "severity=ticket alerts reach receiver t-info, which notifies no one",
            ),
            (
                {f"{PAGE_RECEIVER}.pagerduty_configs.0": {"routing_key": "plain"}},
                "receiver t-page holds its routing_key inline",
            ),
            ({"values.alertmanager.config": DELETE}, "no routing config"),
        ],
        [{"chart": "ingress-nginx", f"{PAGE_RECEIVER}.pagerduty_configs": []}],
    ),
]
IDS = [c.policy.name for c in CASES]


@pytest.mark.parametrize("case", CASES, ids=IDS)
def test_compliant_resource_passes(case: Case) -> None:
    assert resource_messages(case.policy, case.type, case.compliant, env=case.env, config=case.config) == []
    for changes in case.also_compliant:
        props = patched(case.compliant, changes)
        assert resource_messages(case.policy, case.type, props, env=case.env) == [], changes


@pytest.mark.parametrize("case", CASES, ids=IDS)
def test_violation_is_caught_with_its_message(case: Case) -> None:
    for changes, fragment in case.violations:
        messages = resource_messages(case.policy, case.type, patched(case.compliant, changes), env=case.env)
        assert any(fragment in m for m in messages), (changes, messages)


@pytest.mark.parametrize("case", CASES, ids=IDS)
def test_policy_ignores_other_resource_types(case: Case) -> None:
    broken = patched(case.compliant, case.violations[0][0])
    assert resource_messages(case.policy, "aws:ec2/vpc:Vpc", broken, env=case.env) == []


def test_every_resource_policy_has_a_case() -> None:
    resource_policies = {p.name for p in POLICIES if isinstance(p, ResourceValidationPolicy)}
    assert resource_policies == set(IDS)


PROD_ONLY = [
    (cache.elasticache_high_availability, REDIS, patched(GROUP, {"multiAzEnabled": False})),
    (cluster.eks_public_endpoint_restricted, EKS, patched(CLUSTER, {"vpcConfig.endpointPublicAccess": True})),
    (cluster.eks_node_group_min_size, NODES, patched(NODE_GROUP, {"scalingConfig.minSize": 1.0})),
]


@pytest.mark.parametrize(("policy", "type_", "props"), PROD_ONLY, ids=[p.name for p, _, _ in PROD_ONLY])
def test_prod_only_policies_follow_the_environment(policy: Policy, type_: str, props: dict[str, Any]) -> None:
    assert resource_messages(policy, type_, props, env="prod")
    assert resource_messages(policy, type_, props, env="dev") == []
    assert resource_messages(policy, type_, props, env=None) == []  # undeclared: environment-declared fires
    # The policy's config names the environment when the resources don't.
    assert resource_messages(policy, type_, props, env=None, config={"environment": "prod"})
    assert resource_messages(policy, type_, props, env="dev", config={"environment": "prod"})


def test_resource_tags_declare_the_environment_without_provider_tags() -> None:
    props = patched(GROUP, {"multiAzEnabled": False, "tags": {"streamgate/environment": "prod"}})
    assert resource_messages(cache.elasticache_high_availability, REDIS, props, env=None)


def test_thresholds_come_from_the_policy_config() -> None:
    assert resource_messages(
        cluster.eks_node_group_min_size, NODES, NODE_GROUP, config={"minNodes": 4.0}
    ) == ["scaling_config.min_size is 3, below 4"]
    long_key = patched(KEY, {"rotationPeriodInDays": 400.0})
    assert resource_messages(keys.kms_key_rotation, KMS, long_key)
    assert (
        resource_messages(keys.kms_key_rotation, KMS, long_key, config={"maxRotationPeriodDays": 400}) == []
    )


@pytest.mark.parametrize(
    ("type_", "path"),
    [
        ("kubernetes:apps/v1:StatefulSet", "spec.template.spec"),
        ("kubernetes:batch/v1:CronJob", "spec.jobTemplate.spec.template.spec"),
        ("kubernetes:core/v1:Pod", "spec"),
    ],
)
def test_workload_kinds_are_read_at_their_pod_spec(type_: str, path: str) -> None:
    root = patched({}, {path: patched(POD, {"containers.0.securityContext.runAsUser": 0.0})})
    assert resource_messages(workloads.k8s_non_root, type_, root) == [
        "container gateway runs as root (runAsUser 0)"
    ]


@pytest.mark.parametrize("policy", POLICIES, ids=lambda p: p.name)
def test_policy_metadata_says_what_and_how_to_fix(policy: Policy) -> None:
    """One line: the rule, a colon, then how to fix a violation; an explicit level; a kebab-case name."""
    assert policy.name == policy.name.lower() and " " not in policy.name
    assert "\n" not in policy.description and policy.description.endswith((".", ")"))
    rule, _, fix = policy.description.partition(": ")
    assert rule and fix, policy.description
    assert policy.enforcement_level is not None
