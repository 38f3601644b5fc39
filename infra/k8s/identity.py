"""IAM roles for service accounts (IRSA): a role only one Kubernetes ServiceAccount of one cluster can assume.

The trust policy names the cluster's OIDC provider and pins both the audience and the `sub` claim
(`system:serviceaccount:<namespace>:<name>`), so no other pod of the cluster can take the role.
"""

from __future__ import annotations

import json
from typing import Any

import pulumi
import pulumi_aws as aws

IRSA_ANNOTATION = "eks.amazonaws.com/role-arn"


def irsa_trust_policy(provider_arn: str, issuer_url: str, namespace: str, service_account: str) -> str:
    issuer = issuer_url.removeprefix("https://")  # IAM condition keys use the issuer without its scheme
    return json.dumps(
        {
            "Version": "2012-10-17",
            "Statement": [
                {
                    "Effect": "Allow",
                    "Principal": {"Federated": provider_arn},
                    "Action": "sts:AssumeRoleWithWebIdentity",
                    "Condition": {
                        "StringEquals": {
                            f"{issuer}:sub": f"system:serviceaccount:{namespace}:{service_account}",
                            f"{issuer}:aud": "sts.amazonaws.com",
                        }
                    },
                }
            ],
        }
    )


def irsa_role(
    name: str,
    oidc: aws.iam.OpenIdConnectProvider,
    namespace: str,
    service_account: str,
    statements: list[dict[str, Any]],
    parent: pulumi.Resource,
) -> aws.iam.Role:
    """A role for `namespace/service_account` with an inline policy of `statements` (which may hold
    Outputs, e.g. bucket and key ARNs). On the parent's AWS provider, i.e. the region's."""
    trust = pulumi.Output.all(oidc.arn, oidc.url).apply(
        lambda args: irsa_trust_policy(args[0], args[1], namespace, service_account)
    )
    role = aws.iam.Role(
        name,
        assume_role_policy=trust,
        description=f"IRSA: {namespace}/{service_account}",
        opts=pulumi.ResourceOptions(parent=parent),
    )
    aws.iam.RolePolicy(
        name,
        role=role.id,
        policy=pulumi.Output.json_dumps({"Version": "2012-10-17", "Statement": statements}),
        opts=pulumi.ResourceOptions(parent=parent),
    )
    return role
