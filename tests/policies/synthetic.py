"""Synthetic resources for policy tests, in the shapes the engine hands policies: props behind the SDK's
unknown-checking proxies, AWS provider config as JSON strings, references as ids/ARNs or as the engine's
property dependencies."""

from __future__ import annotations

import copy
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from pulumi_policy import (
    Policy,
    PolicyCustomTimeouts,
    PolicyProviderResource,
    PolicyResource,
    PolicyResourceOptions,
    ResourceValidationArgs,
    ResourceValidationPolicy,
    StackValidationArgs,
    StackValidationPolicy,
)
from pulumi_policy.proxy import UNKNOWN_STRING_VALUE, unknown_checking_proxy

from policies.base import AWS_PROVIDER, ENV_TAG

UNKNOWN = UNKNOWN_STRING_VALUE  # what the engine sends for a value it learns only during the update
DELETE = object()
K8S_PROVIDER = "pulumi:providers:kubernetes"


def urn(type_: str, name: str) -> str:
    return f"urn:pulumi:test::streamgate::{type_}::{name}"


def options() -> PolicyResourceOptions:
    return PolicyResourceOptions(False, [], None, [], PolicyCustomTimeouts(0, 0, 0), [], None)


def aws_provider_props(region: str = "us-east-1", env: str | None = "prod") -> dict[str, Any]:
    props: dict[str, Any] = {"region": region, "skipCredentialsValidation": "false"}
    if env is not None:
        props["defaultTags"] = json.dumps({"tags": {ENV_TAG: env, "streamgate/stack": "test"}})
    return props


def aws_provider(region: str = "us-east-1", env: str | None = "prod") -> PolicyProviderResource:
    name = f"aws-{region}"
    return PolicyProviderResource(
        AWS_PROVIDER, unknown_checking_proxy(aws_provider_props(region, env)), urn(AWS_PROVIDER, name), name
    )


def patched(base: Mapping[str, Any], changes: Mapping[str, Any]) -> dict[str, Any]:
    """A deep copy of `base` with dotted paths set ("a.b.0.c": value) or removed (value DELETE)."""
    result = copy.deepcopy(dict(base))
    for path, value in changes.items():
        *parents, last = path.split(".")
        node: Any = result
        for part in parents:
            node = node[int(part)] if isinstance(node, list) else node.setdefault(part, {})
        key: Any = int(last) if isinstance(node, list) else last
        if value is DELETE:
            del node[key]
        else:
            node[key] = value
    return result


def resource_messages(
    policy: Policy,
    type_: str,
    props: Mapping[str, Any],
    *,
    env: str | None = "prod",
    provider: PolicyProviderResource | None = None,
    config: Mapping[str, Any] | None = None,
) -> list[str]:
    """The messages `policy` reports for one resource, called as the SDK's analyzer calls it."""
    assert isinstance(policy, ResourceValidationPolicy)
    messages: list[str] = []
    args = ResourceValidationArgs(
        type_,
        unknown_checking_proxy(copy.deepcopy(dict(props))),
        urn(type_, "subject"),
        "subject",
        options(),
        provider if provider is not None else aws_provider(env=env),
        dict(config or {}),
        {},
    )

    def report(message: str, urn: str | None = None) -> None:
        messages.append(message)

    assert policy.validate(args, report) is None
    return messages


@dataclass
class Spec:
    type: str
    name: str
    props: dict[str, Any]
    provider: str | None
    deps: dict[str, list[str]] = field(default_factory=dict)


class Stack:
    """A synthetic stack: resources by name, built into PolicyResources (with providers, parents and
    property dependencies resolved by name) when a stack policy runs over it."""

    def __init__(self) -> None:
        self.specs: dict[str, Spec] = {}

    def add(
        self,
        type_: str,
        name: str,
        props: dict[str, Any],
        *,
        provider: str | None = None,
        deps: dict[str, list[str]] | None = None,
    ) -> dict[str, Any]:
        self.specs[name] = Spec(type_, name, props, provider, deps or {})
        return props

    def aws(self, region: str, env: str | None = "prod") -> str:
        name = f"aws-{region}"
        self.add(AWS_PROVIDER, name, aws_provider_props(region, env))
        return name

    def k8s(self, region: str) -> str:
        name = f"k8s-{region}"
        self.add(K8S_PROVIDER, name, {"enableServerSideApply": "true"})
        return name

    def props(self, name: str) -> dict[str, Any]:
        return self.specs[name].props

    def remove(self, *names: str) -> None:
        for name in names:
            del self.specs[name]

    def resources(self) -> list[PolicyResource]:
        providers = {
            s.name: PolicyProviderResource(
                s.type, unknown_checking_proxy(copy.deepcopy(s.props)), urn(s.type, s.name), s.name
            )
            for s in self.specs.values()
            if s.type.startswith("pulumi:providers:")
        }
        built = {
            s.name: PolicyResource(
                s.type,
                unknown_checking_proxy(copy.deepcopy(s.props)),
                urn(s.type, s.name),
                s.name,
                options(),
                providers.get(s.provider or ""),
                None,
                [],
                {},
            )
            for s in self.specs.values()
        }
        for s in self.specs.values():
            for prop, names in s.deps.items():
                built[s.name].property_dependencies[prop] = [built[n] for n in names if n in built]
        return list(built.values())

    def urn_of(self, name: str) -> str:
        return urn(self.specs[name].type, name)

    def violations(
        self,
        policy: Policy,
        config: Mapping[str, Any] | None = None,
        stack_tags: Mapping[str, str] | None = None,
    ) -> list[tuple[str, str | None]]:
        """(message, urn) pairs `policy` reports over this stack."""
        assert isinstance(policy, StackValidationPolicy)
        found: list[tuple[str, str | None]] = []
        args = StackValidationArgs(self.resources(), dict(config or {}), dict(stack_tags or {}))

        def report(message: str, urn: str | None = None) -> None:
            found.append((message, urn))

        assert policy.validate(args, report) is None
        return found

    def messages(self, policy: Policy, config: Mapping[str, Any] | None = None) -> list[str]:
        return [m for m, _ in self.violations(policy, config)]


def arn(region: str, name: str) -> str:
    return f"arn:aws:test:{region}:123456789012:{name}"


def aws_resource(
    stack: Stack, type_: str, name: str, region: str, props: dict[str, Any], **kw: Any
) -> dict[str, Any]:
    """An AWS resource with the id and ARN outputs the engine shows stack policies."""
    return stack.add(
        type_, name, {"id": f"{name}-id", "arn": arn(region, name), **props}, provider=f"aws-{region}", **kw
    )


BUCKET = "aws:s3/bucket:Bucket"
SSE = "aws:s3/bucketServerSideEncryptionConfiguration:BucketServerSideEncryptionConfiguration"
VERSIONING = "aws:s3/bucketVersioning:BucketVersioning"
PAB = "aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock"
BUCKET_POLICY = "aws:s3/bucketPolicy:BucketPolicy"
LIFECYCLE = "aws:s3/bucketLifecycleConfiguration:BucketLifecycleConfiguration"
OBJECT_LOCK = "aws:s3/bucketObjectLockConfiguration:BucketObjectLockConfiguration"
REPLICATION = "aws:s3/bucketReplicationConfig:BucketReplicationConfig"
EKS = "aws:eks/cluster:Cluster"
HEALTH_CHECK = "aws:route53/healthCheck:HealthCheck"
RECORD = "aws:route53/record:Record"
CERTIFICATE = "aws:acm/certificate:Certificate"
CERTIFICATE_VALIDATION = "aws:acm/certificateValidation:CertificateValidation"
DEPLOYMENT = "kubernetes:apps/v1:Deployment"
HPA = "kubernetes:autoscaling/v2:HorizontalPodAutoscaler"
VPA = "kubernetes:autoscaling.k8s.io/v1:VerticalPodAutoscaler"
PROMETHEUS_RULE = "kubernetes:monitoring.coreos.com/v1:PrometheusRule"
PDB = "kubernetes:policy/v1:PodDisruptionBudget"
VPC = "aws:ec2/vpc:Vpc"
FLOW_LOG = "aws:ec2/flowLog:FlowLog"
SUBNET = "aws:ec2/subnet:Subnet"
IGW = "aws:ec2/internetGateway:InternetGateway"
ROUTE_TABLE = "aws:ec2/routeTable:RouteTable"
ASSOCIATION = "aws:ec2/routeTableAssociation:RouteTableAssociation"
NODE_GROUP = "aws:eks/nodeGroup:NodeGroup"
NETWORK_POLICY = "kubernetes:networking.k8s.io/v1:NetworkPolicy"

CONTAINER: dict[str, Any] = {
    "name": "gateway",
    "image": "ghcr.io/streamgate/gateway:0.1.0",
    "resources": {"requests": {"cpu": "500m", "memory": "512Mi"}, "limits": {"cpu": "2", "memory": "1Gi"}},
    "readinessProbe": {"httpGet": {"path": "/readyz", "port": "http"}},
    "livenessProbe": {"httpGet": {"path": "/healthz", "port": "http"}},
    "securityContext": {"allowPrivilegeEscalation": False, "runAsNonRoot": True},
}
POD: dict[str, Any] = {
    "securityContext": {"runAsNonRoot": True, "runAsUser": 10001},
    "containers": [CONTAINER],
}


def deployment(name: str = "gateway-blue", app: str = "gateway") -> dict[str, Any]:
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": name, "namespace": "streamgate", "labels": {"app.kubernetes.io/name": app}},
        "spec": {
            "selector": {"matchLabels": {"app.kubernetes.io/name": app}},
            "template": {"metadata": {"labels": {"app.kubernetes.io/name": app}}, "spec": copy.deepcopy(POD)},
        },
    }


def pdb(app: str = "gateway") -> dict[str, Any]:
    return {
        "metadata": {"name": app, "namespace": "streamgate"},
        "spec": {"maxUnavailable": 1.0, "selector": {"matchLabels": {"app.kubernetes.io/name": app}}},
    }


def network_policy() -> dict[str, Any]:
    return {
        "metadata": {"name": "gateway", "namespace": "streamgate"},
        "spec": {"podSelector": {}, "policyTypes": ["Ingress"], "ingress": [{"from": []}]},
    }


def network(stack: Stack, region: str) -> None:
    """A VPC with its flow log, an internet gateway, a public and two private subnets (two AZs) with their
    route tables, and the node group on the private ones."""
    aws_resource(stack, VPC, f"{region}-vpc", region, {"cidrBlock": "10.0.0.0/16"})
    aws_resource(
        stack, FLOW_LOG, f"{region}-flow-logs", region, {"vpcId": f"{region}-vpc-id", "trafficType": "ALL"}
    )
    aws_resource(stack, IGW, f"{region}-igw", region, {"vpcId": f"{region}-vpc-id"})
    routes = {
        "public": [{"cidrBlock": "0.0.0.0/0", "gatewayId": f"{region}-igw-id"}],
        "private": [{"cidrBlock": "0.0.0.0/0", "natGatewayId": f"{region}-nat-id"}],
    }
    for kind, route in routes.items():
        aws_resource(
            stack, ROUTE_TABLE, f"{region}-{kind}-rt", region, {"vpcId": f"{region}-vpc-id", "routes": route}
        )
    for name, zone, kind in (
        ("public-a", "a", "public"),
        ("private-a", "a", "private"),
        ("private-b", "b", "private"),
    ):
        subnet = f"{region}-{name}"
        aws_resource(
            stack,
            SUBNET,
            subnet,
            region,
            {"vpcId": f"{region}-vpc-id", "availabilityZone": f"{region}{zone}"},
        )
        aws_resource(
            stack,
            ASSOCIATION,
            f"{subnet}-rta",
            region,
            {"subnetId": f"{subnet}-id", "routeTableId": f"{region}-{kind}-rt-id"},
        )
    aws_resource(
        stack,
        NODE_GROUP,
        f"{region}-nodes",
        region,
        {
            "subnetIds": [f"{region}-private-a-id", f"{region}-private-b-id"],
            "scalingConfig": {"minSize": 2.0},
        },
    )


def hpa(target: str = "gateway-blue", min_replicas: float = 2.0) -> dict[str, Any]:
    return {
        "metadata": {"name": target, "namespace": "streamgate"},
        "spec": {
            "scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": target},
            "minReplicas": min_replicas,
            "maxReplicas": 10.0,
            "metrics": [
                {
                    "type": "Resource",
                    "resource": {
                        "name": "cpu",
                        "target": {"type": "Utilization", "averageUtilization": 70.0},
                    },
                },
                {
                    "type": "Pods",
                    "pods": {
                        "metric": {"name": "rps"},
                        "target": {"type": "AverageValue", "averageValue": "200"},
                    },
                },
            ],
        },
    }


def vpa(target: str = "gateway-blue", controlled: list[str] | None = None) -> dict[str, Any]:
    return {
        "apiVersion": "autoscaling.k8s.io/v1",
        "kind": "VerticalPodAutoscaler",
        "metadata": {"name": target, "namespace": "streamgate"},
        "spec": {
            "targetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": target},
            "updatePolicy": {"updateMode": "Initial"},
            "resourcePolicy": {
                "containerPolicies": [
                    {"containerName": "gateway", "controlledResources": controlled or ["memory"]}
                ]
            },
        },
    }


def alert_rule(**alert: Any) -> dict[str, Any]:
    rule = {
        "alert": "GatewayDown",
        "expr": "up{job='gateway'} == 0",
        "labels": {"severity": "page"},
        "annotations": {"runbook_url": "https://runbooks.example.com/gateway-down"},
        **alert,
    }
    return {
        "apiVersion": "monitoring.coreos.com/v1",
        "kind": "PrometheusRule",
        "metadata": {"name": "streamgate-alerts", "namespace": "monitoring"},
        "spec": {
            "groups": [
                {
                    "name": "gateway",
                    "rules": [{"record": "job:requests:rate5m", "expr": "sum(rate(x[5m]))"}, rule],
                }
            ]
        },
    }


def tls_only(bucket: str) -> str:
    return json.dumps(
        {
            "Statement": [
                {
                    "Effect": "Deny",
                    "Principal": "*",
                    "Action": "s3:*",
                    "Resource": [f"arn:aws:s3:::{bucket}", f"arn:aws:s3:::{bucket}/*"],
                    "Condition": {"Bool": {"aws:SecureTransport": "false"}},
                }
            ]
        }
    )


def good_stack(env: str = "prod", regions: tuple[str, ...] = ("us-east-1", "eu-west-1")) -> Stack:
    """A compliant stack shaped like the program's: per region a cluster, buckets with their companions,
    a health check and the gateway with HPA and VPA; failover records and backup replication across."""
    stack = Stack()
    for region in regions:
        stack.aws(region, env)
        stack.k8s(region)
        aws_resource(stack, EKS, f"{region}-eks", region, {"encryptionConfig": {"resources": ["secrets"]}})
        for kind, tags, lock in (("backup", {"streamgate/purpose": "backup"}, True), ("content", {}, False)):
            bucket = f"{region}-{kind}"
            props = {"bucket": bucket, "tags": tags, **({"objectLockEnabled": True} if lock else {})}
            aws_resource(stack, BUCKET, bucket, region, props)
            ref = {"bucket": f"{bucket}-id"}
            aws_resource(
                stack,
                SSE,
                f"{bucket}-sse",
                region,
                {
                    **ref,
                    "rules": [
                        {
                            "applyServerSideEncryptionByDefault": {
                                "sseAlgorithm": "aws:kms",
                                "kmsMasterKeyId": arn(region, "key"),
                            }
                        }
                    ],
                },
            )
            aws_resource(
                stack,
                VERSIONING,
                f"{bucket}-versioning",
                region,
                {**ref, "versioningConfiguration": {"status": "Enabled"}},
            )
            aws_resource(
                stack, BUCKET_POLICY, f"{bucket}-policy", region, {**ref, "policy": tls_only(bucket)}
            )
            aws_resource(
                stack,
                PAB,
                f"{bucket}-pab",
                region,
                {
                    **ref,
                    "blockPublicAcls": True,
                    "blockPublicPolicy": True,
                    "ignorePublicAcls": True,
                    "restrictPublicBuckets": True,
                },
            )
        backup = {"bucket": f"{region}-backup-id"}
        aws_resource(
            stack,
            LIFECYCLE,
            f"{region}-backup-lifecycle",
            region,
            {
                **backup,
                "rules": [
                    {
                        "id": "expire",
                        "status": "Enabled",
                        "expiration": {"days": 365.0},
                        "noncurrentVersionExpiration": {"noncurrentDays": 365.0},
                    }
                ],
            },
        )
        aws_resource(
            stack,
            OBJECT_LOCK,
            f"{region}-backup-lock",
            region,
            {**backup, "rule": {"defaultRetention": {"mode": "GOVERNANCE", "days": 365.0}}},
        )
        aws_resource(
            stack,
            HEALTH_CHECK,
            f"health-{region}",
            regions[0],
            {"type": "HTTPS", "fqdn": f"origin.{region}.example.com", "tags": {"streamgate/region": region}},
        )
        aws_resource(
            stack,
            CERTIFICATE,
            f"{region}-cert",
            region,
            {
                "domainName": f"origin.{region}.example.com",
                "subjectAlternativeNames": ["api.example.com"],
                "validationMethod": "DNS",
            },
        )
        aws_resource(
            stack,
            CERTIFICATE_VALIDATION,
            f"{region}-cert-validation",
            region,
            {"certificateArn": arn(region, f"{region}-cert")},
        )
        network(stack, region)
        stack.add(DEPLOYMENT, f"{region}-gateway-blue", deployment(), provider=f"k8s-{region}")
        stack.add(PDB, f"{region}-pdb", pdb(), provider=f"k8s-{region}")
        stack.add(NETWORK_POLICY, f"{region}-netpol", network_policy(), provider=f"k8s-{region}")
        stack.add(HPA, f"{region}-hpa", hpa(), provider=f"k8s-{region}")
        stack.add(VPA, f"{region}-vpa", vpa(), provider=f"k8s-{region}")
    primary = regions[0]
    for i, region in enumerate(regions):
        role = "PRIMARY" if i == 0 else "SECONDARY"
        aws_resource(
            stack,
            RECORD,
            f"api-{role.lower()}-{i}",
            primary,
            {
                "name": "api.example.com",
                "type": "CNAME",
                "failoverRoutingPolicies": [{"type": role}],
                "healthCheckId": f"health-{region}-id",
            },
        )
    if len(regions) > 1:
        aws_resource(
            stack,
            REPLICATION,
            "backup-replication",
            primary,
            {
                "bucket": f"{primary}-backup-id",
                "rules": [
                    {
                        "id": "to-0",
                        "status": "Enabled",
                        "destination": {"bucket": arn(regions[1], f"{regions[1]}-backup")},
                    }
                ],
            },
        )
    stack.add(PROMETHEUS_RULE, "alerts", alert_rule(), provider=f"k8s-{primary}")
    return stack
