"""EKS: Kubernetes secrets envelope-encrypted with KMS, control-plane audit logs on, a supported Kubernetes
version; in prod no API endpoint open to the whole internet and node groups that survive losing a node; every
node group spread over availability zones in private subnets."""

from __future__ import annotations

import ipaddress
from collections.abc import Mapping

from pulumi_policy import PolicyResource, ResourceValidationArgs, StackValidationArgs

from policies.base import (
    UNKNOWN,
    Report,
    StackIndex,
    flag,
    get,
    is_set,
    items,
    label,
    number,
    resource_policy,
    setting,
    stack_policy,
    string,
)
from policies.network import INTERNET_GATEWAY, ROUTE_TABLE, ROUTE_TABLE_ASSOCIATION, SUBNET

EKS_CLUSTER = "aws:eks/cluster:Cluster"
NODE_GROUP = "aws:eks/nodeGroup:NodeGroup"
DEFAULT_MIN_NODES = 2
DEFAULT_MIN_ZONES = 2
# The oldest Kubernetes minor EKS still supports in standard support (update as versions age out).
DEFAULT_MIN_VERSION = "1.29"
AUDIT_LOG_TYPES = ("api", "audit", "authenticator")


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


@resource_policy(
    "eks-control-plane-logging",
    "EKS must send its api, audit and authenticator logs to CloudWatch (CIS EKS 2.1.1, FSBP EKS.8): set "
    "enabled_cluster_log_types to include them.",
    [EKS_CLUSTER],
)
def eks_control_plane_logging(args: ResourceValidationArgs, report: Report) -> None:
    enabled = get(args.props, "enabledClusterLogTypes")
    if enabled is UNKNOWN:
        return
    missing = [t for t in AUDIT_LOG_TYPES if t not in {str(x) for x in items(enabled)}]
    if missing:
        report(f"control-plane logs not enabled: {', '.join(missing)}")


def _minor(version: str) -> tuple[int, int] | None:
    major, _, minor = version.partition(".")
    return (int(major), int(minor)) if major.isdigit() and minor.isdigit() else None


@resource_policy(
    "eks-supported-version",
    "EKS clusters must run a Kubernetes version in standard support (FSBP EKS.2): raise "
    "cluster.kubernetesVersion to minVersion or newer.",
    [EKS_CLUSTER],
    config={
        "minVersion": {
            "type": "string",
            "default": DEFAULT_MIN_VERSION,
            "description": "The oldest Kubernetes minor version (e.g. 1.29) a cluster may run.",
        }
    },
)
def eks_supported_version(args: ResourceValidationArgs, report: Report) -> None:
    minimum = string(get(args.get_config(), "minVersion")) or DEFAULT_MIN_VERSION
    version = get(args.props, "version")
    if version is UNKNOWN:
        return
    if version is None:
        report("no version: EKS would pick its default, which moves; pin cluster.kubernetesVersion")
        return
    parsed, floor = _minor(str(version)), _minor(minimum)
    if parsed is None or (floor is not None and parsed < floor):
        report(f"Kubernetes {version} is older than {minimum}")


def _subnets(index: StackIndex, group: PolicyResource) -> list[PolicyResource]:
    return index.referenced(group, "subnetIds", items(get(group.props, "subnetIds")), [SUBNET])


def _public(index: StackIndex, subnet: PolicyResource) -> bool:
    """Whether the subnet's route table sends traffic straight to an internet gateway."""
    gateways = {get(g.props, "id") for g in index.of_type(INTERNET_GATEWAY)}
    for association in index.of_type(ROUTE_TABLE_ASSOCIATION):
        if subnet not in index.referenced(
            association, "subnetId", [get(association.props, "subnetId")], [SUBNET]
        ):
            continue
        tables = index.referenced(
            association, "routeTableId", [get(association.props, "routeTableId")], [ROUTE_TABLE]
        )
        for table in tables:
            if any(get(route, "gatewayId") in gateways for route in items(get(table.props, "routes"))):
                return True
    return False


@stack_policy(
    "eks-node-group-placement",
    "Node groups must span at least minZones (2) availability zones and run in private subnets (CIS EKS "
    "5.4.3): give them the private subnets of every AZ (infra.aws.network.Network.private_subnet_ids).",
    config={
        "minZones": {
            "type": "integer",
            "minimum": 1,
            "default": DEFAULT_MIN_ZONES,
            "description": "How many availability zones a node group's subnets must cover.",
        }
    },
)
def eks_node_group_placement(args: StackValidationArgs, report: Report) -> None:
    minimum = setting(args.get_config(), "minZones", DEFAULT_MIN_ZONES)
    index = StackIndex(args.resources)
    for group in index.of_type(NODE_GROUP):
        subnets = _subnets(index, group)
        if not subnets:
            continue  # unresolvable (subnets outside this stack): nothing to judge
        zones = {get(s.props, "availabilityZone") for s in subnets}
        if UNKNOWN not in zones and len(zones - {None}) < minimum:
            shown = ", ".join(sorted(str(z) for z in zones if z)) or "unknown"
            report(
                f"{label(group)} spans {len(zones - {None})} availability zone(s) ({shown}), fewer than {minimum:g}",
                group.urn,
            )
        public = [s.name for s in subnets if _public(index, s)]
        if public:
            report(f"{label(group)} runs nodes in public subnets: {', '.join(sorted(public))}", group.urn)
