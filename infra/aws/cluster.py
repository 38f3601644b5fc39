"""An EKS cluster per region: KMS-encrypted secrets, private endpoint, managed nodes, IRSA via OIDC."""

from __future__ import annotations

import json
from dataclasses import dataclass

import pulumi
import pulumi_aws as aws

from infra.aws.base import assume_role_policy, child
from infra.aws.network import Network
from infra.config import ClusterConfig

NODE_POLICIES = (
    "arn:aws:iam::aws:policy/AmazonEKSWorkerNodePolicy",
    "arn:aws:iam::aws:policy/AmazonEKS_CNI_Policy",
    "arn:aws:iam::aws:policy/AmazonEC2ContainerRegistryReadOnly",
)
# Root CA thumbprint of the EKS OIDC issuers (IAM ignores it for well-known issuers, but the API needs one).
OIDC_THUMBPRINT = "9e99a48a9960b14926bb7f3b02e22da2b0ab7280"


def kubeconfig(
    name: pulumi.Input[str], endpoint: pulumi.Input[str], ca_data: pulumi.Input[str], region: str
) -> pulumi.Output[str]:
    """A kubeconfig that authenticates with `aws eks get-token`, as `aws eks update-kubeconfig` writes."""

    def render(args: list[str]) -> str:
        cluster, server, ca = args
        return json.dumps(
            {
                "apiVersion": "v1",
                "kind": "Config",
                "current-context": cluster,
                "clusters": [
                    {"name": cluster, "cluster": {"server": server, "certificate-authority-data": ca}}
                ],
                "contexts": [{"name": cluster, "context": {"cluster": cluster, "user": cluster}}],
                "users": [
                    {
                        "name": cluster,
                        "user": {
                            "exec": {
                                "apiVersion": "client.authentication.k8s.io/v1beta1",
                                "command": "aws",
                                "args": ["eks", "get-token", "--cluster-name", cluster, "--region", region],
                            }
                        },
                    }
                ],
            }
        )

    return pulumi.Output.all(name, endpoint, ca_data).apply(render)


@dataclass(frozen=True)
class ClusterArgs:
    stack: str
    region: str
    sizing: ClusterConfig
    network: Network
    key: aws.kms.Key  # encrypts the cluster's secrets


class Cluster(pulumi.ComponentResource):
    cluster: aws.eks.Cluster
    node_group: aws.eks.NodeGroup
    oidc_provider: aws.iam.OpenIdConnectProvider
    kubeconfig: pulumi.Output[str]

    def __init__(self, name: str, args: ClusterArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("streamgate:aws:Cluster", name, None, opts)
        sizing, network, key = args.sizing, args.network, args.key
        cluster_role = aws.iam.Role(
            f"{name}-cluster", assume_role_policy=assume_role_policy("eks.amazonaws.com"), opts=child(self)
        )
        aws.iam.RolePolicyAttachment(
            f"{name}-cluster",
            role=cluster_role.name,
            policy_arn="arn:aws:iam::aws:policy/AmazonEKSClusterPolicy",
            opts=child(self),
        )
        self.cluster = aws.eks.Cluster(
            f"{name}-eks",
            name=f"streamgate-{args.stack}-{args.region}",
            version=sizing.kubernetes_version,
            role_arn=cluster_role.arn,
            vpc_config={
                "subnet_ids": [*network.private_subnet_ids, *network.public_subnet_ids],
                "endpoint_private_access": True,
                "endpoint_public_access": bool(sizing.public_access_cidrs),
                "public_access_cidrs": sizing.public_access_cidrs or None,
            },
            encryption_config={"resources": ["secrets"], "provider": {"key_arn": key.arn}},
            access_config={"authentication_mode": "API_AND_CONFIG_MAP"},
            enabled_cluster_log_types=["api", "audit", "authenticator"],
            opts=child(self),
        )
        node_role = aws.iam.Role(
            f"{name}-nodes", assume_role_policy=assume_role_policy("ec2.amazonaws.com"), opts=child(self)
        )
        attachments = [
            aws.iam.RolePolicyAttachment(
                f"{name}-nodes-{i}", role=node_role.name, policy_arn=arn, opts=child(self)
            )
            for i, arn in enumerate(NODE_POLICIES)
        ]
        self.node_group = aws.eks.NodeGroup(
            f"{name}-nodes",
            cluster_name=self.cluster.name,
            node_role_arn=node_role.arn,
            subnet_ids=network.private_subnet_ids,
            instance_types=sizing.node_instance_types,
            scaling_config={
                "min_size": sizing.min_nodes,
                "max_size": sizing.max_nodes,
                "desired_size": sizing.desired,
            },
            update_config={"max_unavailable": 1},
            labels={"streamgate/pool": "general"},
            opts=child(self, depends_on=attachments, ignore_changes=["scalingConfig.desiredSize"]),
        )
        issuer = self.cluster.identities.apply(lambda ids: ids[0].oidcs[0].issuer if ids else "")  # type: ignore[index]
        self.oidc_provider = aws.iam.OpenIdConnectProvider(
            f"{name}-oidc",
            url=issuer,
            client_id_lists=["sts.amazonaws.com"],
            thumbprint_lists=[OIDC_THUMBPRINT],
            opts=child(self),
        )
        self.kubeconfig = pulumi.Output.secret(
            kubeconfig(
                self.cluster.name,
                self.cluster.endpoint,
                self.cluster.certificate_authority.apply(lambda ca: ca.data or ""),
                args.region,
            )
        )
        self.register_outputs({"clusterName": self.cluster.name, "endpoint": self.cluster.endpoint})
