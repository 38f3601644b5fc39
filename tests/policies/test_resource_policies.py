"""Every resource policy: a compliant resource passes, each violating variant is caught with its message."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import pytest
from pulumi_policy import Policy, ResourceValidationPolicy

from policies import (
    alerts,
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
    workloads,
)
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
    "snapshotRetentionLimit": 7.0,
    "subnetGroupName": "streamgate-cache",
    "atRestEncryptionEnabled": True,
    "transitEncryptionEnabled": True,
    "authToken": "[secret]",
    "automaticFailoverEnabled": True,
    "multiAzEnabled": True,
    "numCacheClusters": 3.0,
}
CLUSTER = {
    "version": "1.31",
    "enabledClusterLogTypes": ["api", "audit", "authenticator", "scheduler"],
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
    "loggingConfig": {"bucket": "logs.s3.amazonaws.com", "prefix": "cloudfront/"},
}
# Two regional origins read through an origin group (writes go to the primary by the default behavior).
FAILOVER = patched(
    DISTRIBUTION,
    {
        "origins": [
            *DISTRIBUTION["origins"],
            {"originId": "eu-west-1", "customOriginConfig": {"originProtocolPolicy": "https-only"}},
        ],
        "originGroups": [
            {"originId": "regional", "members": [{"originId": "us-east-1"}, {"originId": "eu-west-1"}]}
        ],
        "orderedCacheBehaviors.0.targetOriginId": "regional",
        "defaultCacheBehavior.targetOriginId": "us-east-1",
    },
)
WORKLOAD = {"metadata": {"name": "gateway-blue"}, "spec": {"template": {"spec": POD}}}
RESTRICTED = patched(
    WORKLOAD,
    {
        "metadata.namespace": "streamgate",
        "spec.template.spec.securityContext.seccompProfile": {"type": "RuntimeDefault"},
        "spec.template.spec.volumes": [
            {"name": "tmp", "emptyDir": {}},
            {"name": "cfg", "configMap": {"name": "c"}},
        ],
        "spec.template.spec.containers.0.securityContext.capabilities": {"drop": ["ALL"]},
        "spec.template.spec.topologySpreadConstraints": [
            {
                "topologyKey": "topology.kubernetes.io/zone",
                "maxSkew": 1.0,
                "whenUnsatisfiable": "DoNotSchedule",
            }
        ],
    },
)
SUBNET = {"vpcId": "vpc-id", "cidrBlock": "10.0.0.0/18", "availabilityZone": "us-east-1a"}
SECURITY_GROUP = {
    "ingress": [
        {"protocol": "tcp", "fromPort": 6379.0, "toPort": 6379.0, "cidrBlocks": ["10.0.0.0/16"]},
        {"protocol": "tcp", "fromPort": 443.0, "toPort": 443.0, "cidrBlocks": ["0.0.0.0/0"]},
    ],
    "egress": [{"protocol": "-1", "fromPort": 0.0, "toPort": 0.0, "cidrBlocks": ["0.0.0.0/0"]}],
}
ROLE_POLICY = {
    "policy": '{"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": ["s3:GetObject"], '
    '"Resource": ["arn:aws:s3:::b/*"]}, {"Effect": "Allow", "Action": "kms:*", "Resource": "*"}]}'
}
NAMESPACE = {
    "metadata": {"name": "streamgate", "labels": {"pod-security.kubernetes.io/enforce": "restricted"}}
}
ADMIN = '{"Statement": [{"Sid": "all", "Effect": "Allow", "Action": "*", "Resource": "*"}]}'
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


AURORA = {
    "storageEncrypted": True,
    "kmsKeyId": "arn:aws:kms:us-east-1:123456789012:key/k",
    "backupRetentionPeriod": 14.0,
    "skipFinalSnapshot": False,
    "deletionProtection": True,
    "iamDatabaseAuthenticationEnabled": True,
    "masterUsername": "streamgate_admin",
    "manageMasterUserPassword": True,
    "masterUserSecretKmsKeyId": "arn:aws:kms:us-east-1:123456789012:key/k",
}
RDS_PROXY = {"requireTls": True, "defaultAuthScheme": "IAM_AUTH", "engineFamily": "POSTGRESQL"}
RDS_INSTANCE = {
    "publiclyAccessible": False,
    "performanceInsightsEnabled": True,
    "performanceInsightsKmsKeyId": "arn:aws:kms:us-east-1:123456789012:key/k",
}
DATABASE_CASES = [
    Case(
        database.rds_encryption,
        database.CLUSTER,
        AURORA,
        [
            ({"storageEncrypted": False}, "storage is not encrypted"),
            ({"kmsKeyId": DELETE}, "no kms_key_id"),
        ],
    ),
    Case(
        database.rds_encryption,
        database.INSTANCE,
        RDS_INSTANCE,
        [({"performanceInsightsKmsKeyId": DELETE}, "Performance Insights data is encrypted with the AWS")],
        [{"performanceInsightsEnabled": False, "performanceInsightsKmsKeyId": DELETE}],
    ),
    Case(
        database.rds_backups,
        database.CLUSTER,
        AURORA,
        [
            ({"backupRetentionPeriod": 1.0}, "backups kept 1 days < 7"),
            ({"skipFinalSnapshot": True}, "would keep no snapshot"),
        ],
        [{"backupRetentionPeriod": 35.0}],
    ),
    Case(
        database.rds_deletion_protection,
        database.GLOBAL_CLUSTER,
        {"deletionProtection": True, "storageEncrypted": True},
        [({"deletionProtection": False}, "deletion protection is off")],
    ),
    Case(
        database.rds_iam_auth,
        database.CLUSTER,
        AURORA,
        [({"iamDatabaseAuthenticationEnabled": DELETE}, "IAM database authentication is off")],
    ),
    Case(
        database.rds_iam_auth,
        database.PROXY,
        RDS_PROXY,
        [
            ({"requireTls": False}, "without TLS"),
            ({"defaultAuthScheme": "NONE", "auths": [{"iamAuth": "DISABLED"}]}, "accepts database passwords"),
        ],
        [{"defaultAuthScheme": DELETE, "auths": [{"iamAuth": "REQUIRED", "authScheme": "SECRETS"}]}],
    ),
    Case(
        database.rds_managed_credentials,
        database.CLUSTER,
        AURORA,
        [
            (
                {"manageMasterUserPassword": DELETE, "masterPassword": "[secret]"},
                "master_password is in the program",
            ),
            ({"manageMasterUserPassword": False}, "not managed (and rotated) in Secrets Manager"),
            ({"masterUserSecretKmsKeyId": DELETE}, "encrypted with the AWS-managed key"),
        ],
        # A secondary cluster of a global database has no master user of its own.
        [{"masterUsername": DELETE, "manageMasterUserPassword": DELETE, "masterUserSecretKmsKeyId": DELETE}],
    ),
    Case(
        database.rds_private,
        database.INSTANCE,
        RDS_INSTANCE,
        [({"publiclyAccessible": True}, "publicly accessible")],
    ),
]


CASES = [
    *DATABASE_CASES,
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
        cache.elasticache_snapshots,
        REDIS,
        GROUP,
        [
            ({"snapshotRetentionLimit": 0.0}, "automatic snapshots are off"),
            ({"snapshotRetentionLimit": DELETE}, "automatic snapshots are off"),
            ({"subnetGroupName": "default"}, "no subnet group of its own"),
        ],
        [{"subnetGroupName": UNKNOWN}],
    ),
    Case(
        cluster.eks_control_plane_logging,
        EKS,
        CLUSTER,
        [
            ({"enabledClusterLogTypes": ["api"]}, "control-plane logs not enabled: audit, authenticator"),
            ({"enabledClusterLogTypes": DELETE}, "not enabled: api, audit, authenticator"),
        ],
    ),
    Case(
        cluster.eks_supported_version,
        EKS,
        CLUSTER,
        [({"version": "1.27"}, "Kubernetes 1.27 is older than 1.29"), ({"version": DELETE}, "no version")],
        [{"version": "1.29"}, {"version": UNKNOWN}],
    ),
    Case(
        network.subnet_no_public_ip,
        "aws:ec2/subnet:Subnet",
        SUBNET,
        [({"mapPublicIpOnLaunch": True}, "map_public_ip_on_launch is true")],
        [{"mapPublicIpOnLaunch": False}],
    ),
    Case(
        network.security_group_no_public_ingress,
        "aws:ec2/securityGroup:SecurityGroup",
        SECURITY_GROUP,
        [
            ({"ingress.0.cidrBlocks": ["0.0.0.0/0"]}, "ingress on port 6379 is open to 0.0.0.0/0"),
            (
                {"ingress.1": {"protocol": "-1", "fromPort": 0.0, "toPort": 0.0, "ipv6CidrBlocks": ["::/0"]}},
                "ingress on all ports is open to ::/0",
            ),
            (
                {"ingress.1.toPort": 8443.0},
                "ingress on ports 443-8443 is open to 0.0.0.0/0",
            ),
        ],
    ),
    Case(
        identity.iam_no_admin_wildcard,
        "aws:iam/rolePolicy:RolePolicy",
        ROLE_POLICY,
        [
            ({"policy": ADMIN}, "statement all allows every action on every resource"),
            (
                {"policy": {"Statement": {"Effect": "Allow", "Action": ["*:*"], "Resource": ["*"]}}},
                "statement 0 allows every action",
            ),
        ],
        # A Deny, or NotAction, is not a grant of everything; an unknown document is judged at update time.
        [
            {"policy": ADMIN.replace("Allow", "Deny")},
            {"policy": '{"Statement": [{"Effect": "Allow", "NotAction": "iam:*", "Resource": "*"}]}'},
            {"policy": UNKNOWN},
        ],
    ),
    Case(
        cdn.cloudfront_logging,
        CDN,
        DISTRIBUTION,
        [({"loggingConfig": DELETE}, "no access logs"), ({"loggingConfig.bucket": ""}, "no access logs")],
    ),
    Case(
        cdn.cloudfront_origin_failover,
        CDN,
        FAILOVER,
        [
            ({"originGroups": DELETE}, "2 origins but no origin group"),
            (
                {"orderedCacheBehaviors.0.targetOriginId": "eu-west-1"},
                "behavior /segments/* reads from origin eu-west-1, not from an origin group",
            ),
        ],
        [{"origins.1": DELETE, "originGroups": DELETE}],  # one origin: nothing to fail over to
    ),
    Case(
        workloads.k8s_pod_security_restricted,
        DEPLOYMENT,
        RESTRICTED,
        [
            ({"spec.template.spec.hostNetwork": True}, "hostNetwork is on"),
            ({"spec.template.spec.hostPID": True, "spec.template.spec.hostIPC": True}, "hostIPC is on"),
            (
                {"spec.template.spec.volumes.1": {"name": "docker", "hostPath": {"path": "/var/run"}}},
                "volume docker is of type hostPath",
            ),
            (
                {f"{C0}.securityContext.capabilities": DELETE},
                "container gateway does not drop ALL capabilities",
            ),
            ({f"{C0}.securityContext.capabilities.add": ["NET_ADMIN"]}, "adds capabilities NET_ADMIN"),
            (
                {"spec.template.spec.securityContext.seccompProfile": DELETE},
                "container gateway has seccomp profile unset",
            ),
            (
                {f"{C0}.securityContext.seccompProfile": {"type": "Unconfined"}},
                "has seccomp profile Unconfined",
            ),
            ({f"{C0}.ports": [{"containerPort": 8080.0, "hostPort": 8080.0}]}, "binds host port 8080"),
            (
                {"spec.template.spec.securityContext.sysctls": [{"name": "kernel.msgmax", "value": "1"}]},
                "sets the unsafe sysctl kernel.msgmax",
            ),
            ({f"{C0}.securityContext.procMount": "Unmasked"}, "has procMount Unmasked"),
            ({f"{C0}.securityContext.appArmorProfile": {"type": "Unconfined"}}, "runs without AppArmor"),
        ],
        [
            {f"{C0}.securityContext.capabilities.add": ["NET_BIND_SERVICE"]},
            {f"{C0}.securityContext.seccompProfile": {"type": "Localhost"}},  # container beats pod
            {
                "spec.template.spec.securityContext.sysctls": [
                    {"name": "net.ipv4.tcp_syncookies", "value": "1"}
                ]
            },
        ],
    ),
    Case(
        workloads.k8s_image_pinned,
        DEPLOYMENT,
        WORKLOAD,
        [
            (
                {f"{C0}.image": "ghcr.io/streamgate/gateway:latest"},
                "runs ghcr.io/streamgate/gateway:latest without",
            ),
            ({f"{C0}.image": "registry:5000/gateway"}, "runs registry:5000/gateway without a version tag"),
            ({f"{C0}.image": DELETE}, "runs no image"),
        ],
        [{f"{C0}.image": "ghcr.io/streamgate/gateway@sha256:" + "a" * 64}, {f"{C0}.image": UNKNOWN}],
    ),
    Case(
        workloads.k8s_not_default_namespace,
        DEPLOYMENT,
        RESTRICTED,
        [
            ({"metadata.namespace": "default"}, "runs in the default namespace"),
            ({"metadata.namespace": DELETE}, "default"),
        ],
    ),
    Case(
        workloads.k8s_namespace_pod_security,
        "kubernetes:core/v1:Namespace",
        NAMESPACE,
        [
            ({"metadata.labels": {}}, "namespace streamgate enforces no Pod Security level"),
            (
                {"metadata.labels": {"pod-security.kubernetes.io/enforce": "baseline"}},
                "enforces baseline Pod Security level, not restricted",
            ),
            # The monitoring add-ons' namespace may be privileged, but must say so.
            ({"metadata.name": "monitoring", "metadata.labels": {}}, "namespace monitoring enforces no"),
        ],
        [
            {"metadata.name": "kube-system", "metadata.labels": {}},
            {
                "metadata.name": "monitoring",
                "metadata.labels": {"pod-security.kubernetes.io/enforce": "privileged"},
            },
        ],
    ),
    Case(
        availability.k8s_zone_spread,
        DEPLOYMENT,
        RESTRICTED,
        [
            (
                {"spec.template.spec.topologySpreadConstraints": DELETE},
                "pods are not spread over availability zones",
            ),
            (
                {"spec.template.spec.topologySpreadConstraints.0.whenUnsatisfiable": "ScheduleAnyway"},
                "not spread",
            ),
        ],
        [
            {
                "spec.template.spec.topologySpreadConstraints": DELETE,
                "spec.template.spec.affinity": {
                    "podAntiAffinity": {
                        "requiredDuringSchedulingIgnoredDuringExecution": [
                            {"topologyKey": "topology.kubernetes.io/zone", "labelSelector": {}}
                        ]
                    }
                },
            }
        ],
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
    (cdn.cloudfront_origin_failover, CDN, patched(FAILOVER, {"originGroups": DELETE})),
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
