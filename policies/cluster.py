"""EKS: Kubernetes secrets envelope-encrypted with KMS; in prod no API endpoint open to the whole internet and
node groups that survive losing a node."""

from __future__ import annotations

import ipaddress
from collections.abc import Mapping

from pulumi_policy import ResourceValidationArgs

from policies.base import UNKNOWN, Report, flag, get, is_set, items, number, resource_policy, setting

EKS_CLUSTER = "aws:eks/cluster:Cluster"
NODE_GROUP = "aws:eks/nodeGroup:NodeGroup"
DEFAULT_MIN_NODES = 2


@resource_policy(
    "eks-secrets-encryption",
    "EKS must envelope-encrypt Kubernetes secrets: set encryption_config {resources: ['secrets'], "
    "provider: {key_arn: <the region's KMS key>}}.",
    [EKS_CLUSTER],
)
def eks_secrets_encryption(args: ResourceValidationArgs, report: Report) -> None:
    config = get(args.props, "encryptionConfig")
    if config is UNKNOWN:
        return
    # v7 takes one object; older schemas took a list of them.
    configs = [config] if isinstance(config, Mapping) else items(config)
    encrypted = [c for c in configs if "secrets" in items(get(c, "resources"))]
    if not encrypted:
        report("secrets are stored unencrypted in etcd (no encryption_config for 'secrets')")
    elif not all(is_set(c, "provider", "keyArn") for c in encrypted):
        report("encryption_config has no provider key_arn")


def _unrestricted(cidr: object) -> bool:
    try:
        return ipaddress.ip_network(str(cidr), strict=False).prefixlen == 0
    except ValueError:
        return False


@resource_policy(
    "eks-public-endpoint-restricted",
    "Prod EKS API endpoints must not be open to 0.0.0.0/0: set cluster.publicAccessCidrs to your admin "
    "CIDRs, or to [] to keep the endpoint private.",
    [EKS_CLUSTER],
    prod_only=True,
)
def eks_public_endpoint_restricted(args: ResourceValidationArgs, report: Report) -> None:
    vpc = get(args.props, "vpcConfig")
    # AWS defaults: the public endpoint is on, and open to 0.0.0.0/0 when no CIDRs are given.
    if not flag(get(vpc, "endpointPublicAccess", default=True), unknown=False):
        return
    cidrs = get(vpc, "publicAccessCidrs")
    if cidrs is UNKNOWN:
        return
    open_to = [str(c) for c in items(cidrs) if _unrestricted(c)]
    if not items(cidrs):
        report("the public endpoint is on with no public_access_cidrs, so AWS opens it to 0.0.0.0/0")
    elif open_to:
        report(f"the public endpoint is open to {', '.join(open_to)}")


@resource_policy(
    "eks-node-group-min-size",
    "Prod node groups must keep at least minNodes nodes: raise cluster.minNodes for the region in the "
    "stack file.",
    [NODE_GROUP],
    config={
        "minNodes": {
            "type": "integer",
            "minimum": 1,
            "default": DEFAULT_MIN_NODES,
            "description": "The smallest min_size a prod node group may have.",
        }
    },
    prod_only=True,
)
def eks_node_group_min_size(args: ResourceValidationArgs, report: Report) -> None:
    minimum = setting(args.get_config(), "minNodes", DEFAULT_MIN_NODES)
    raw = get(args.props, "scalingConfig", "minSize")
    if raw is UNKNOWN:
        return
    size = number(raw)
    if size is None or size < minimum:
        shown = "unset" if size is None else f"{size:g}"
        report(f"scaling_config.min_size is {shown}, below {minimum:g}")
