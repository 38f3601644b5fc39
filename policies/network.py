"""Networking: every VPC logs its traffic, no subnet hands out public IPs by itself, no security group admits
the whole internet (AWS FSBP EC2.6, EC2.15, EC2.18/EC2.19), and every Kubernetes workload's pods sit behind an
ingress NetworkPolicy (CIS EKS 4.3.2)."""

from __future__ import annotations

import ipaddress
from typing import Any

from pulumi_policy import ResourceValidationArgs, StackValidationArgs

from policies.autoscaling import workload_key
from policies.availability import pod_labels, selectors_by_namespace, selects
from policies.base import (
    UNKNOWN,
    Report,
    StackIndex,
    flag,
    get,
    items,
    label,
    number,
    resource_policy,
    stack_policy,
)
from policies.workloads import LONG_RUNNING

VPC = "aws:ec2/vpc:Vpc"
FLOW_LOG = "aws:ec2/flowLog:FlowLog"
SUBNET = "aws:ec2/subnet:Subnet"
SECURITY_GROUP = "aws:ec2/securityGroup:SecurityGroup"
SECURITY_GROUP_RULE = (
    "aws:ec2/securityGroupRule:SecurityGroupRule",
    "aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule",
)
ROUTE_TABLE = "aws:ec2/routeTable:RouteTable"
ROUTE_TABLE_ASSOCIATION = "aws:ec2/routeTableAssociation:RouteTableAssociation"
INTERNET_GATEWAY = "aws:ec2/internetGateway:InternetGateway"
# Ports FSBP EC2.18 allows open to the internet (a public load balancer's).
PUBLIC_PORTS = (80, 443)


@stack_policy(
    "vpc-flow-logs",
    "Every VPC must log its traffic (FSBP EC2.6): add an aws.ec2.FlowLog on the VPC (infra.aws.network does).",
)
def vpc_flow_logs(args: StackValidationArgs, report: Report) -> None:
    index = StackIndex(args.resources)
    logged = index.referenced_by(FLOW_LOG, "vpcId", [VPC])
    for vpc in index.of_type(VPC):
        if vpc.urn not in logged:
            report(f"{label(vpc)} has no flow log", vpc.urn)


@resource_policy(
    "subnet-no-public-ip",
    "Subnets must not give instances public IPs on launch (FSBP EC2.15): leave map_public_ip_on_launch "
    "false; public endpoints belong on load balancers.",
    [SUBNET],
)
def subnet_no_public_ip(args: ResourceValidationArgs, report: Report) -> None:
    if flag(get(args.props, "mapPublicIpOnLaunch"), unknown=False):
        report("map_public_ip_on_launch is true: every instance started here gets a public IP")


def _open_to_world(rule: Any) -> list[str]:
    blocks = [*items(get(rule, "cidrBlocks")), *items(get(rule, "ipv6CidrBlocks"))]
    single = get(rule, "cidrIpv4") or get(rule, "cidrIpv6")
    if single is not None:
        blocks.append(single)
    open_blocks = []
    for block in blocks:
        try:
            if ipaddress.ip_network(str(block), strict=False).prefixlen == 0:
                open_blocks.append(str(block))
        except ValueError:
            continue
    return open_blocks


def _ports(rule: Any) -> str:
    protocol = str(get(rule, "protocol", default=get(rule, "ipProtocol", default="-1")))
    low, high = number(get(rule, "fromPort")), number(get(rule, "toPort"))
    if protocol == "-1" or low is None or high is None:
        return "all ports"
    return f"port {low:g}" if low == high else f"ports {low:g}-{high:g}"


def _allowed_public(rule: Any) -> bool:
    low, high = number(get(rule, "fromPort")), number(get(rule, "toPort"))
    protocol = str(get(rule, "protocol", default=get(rule, "ipProtocol", default="-1")))
    return protocol in ("tcp", "6") and low is not None and low == high and int(low) in PUBLIC_PORTS


@resource_policy(
    "security-group-no-public-ingress",
    "Security groups must not admit 0.0.0.0/0 or ::/0 except on ports 80 and 443 (FSBP EC2.18, EC2.19): "
    "allow the VPC's CIDR or a peer security group instead.",
    [SECURITY_GROUP, *SECURITY_GROUP_RULE],
)
def security_group_no_public_ingress(args: ResourceValidationArgs, report: Report) -> None:
    if args.resource_type == SECURITY_GROUP:
        rules = items(get(args.props, "ingress"))
    elif get(args.props, "type", default="ingress") == "ingress":
        rules = [args.props]
    else:
        rules = []
    for rule in rules:
        if rule is UNKNOWN or _allowed_public(rule):
            continue
        for block in _open_to_world(rule):
            report(f"ingress on {_ports(rule)} is open to {block}")


NETWORK_POLICY = "kubernetes:networking.k8s.io/v1:NetworkPolicy"


@stack_policy(
    "k8s-network-policy",
    "Every long-running workload's pods must be selected by an Ingress NetworkPolicy of their namespace, so "
    "only the traffic it names reaches them (CIS EKS 4.3.2): add one (infra.k8s.workload does).",
)
def k8s_network_policy(args: StackValidationArgs, report: Report) -> None:
    index = StackIndex(args.resources)
    ingress = [
        p
        for p in index.of_type(NETWORK_POLICY)
        if not items(get(p.props, "spec", "policyTypes"))
        or "Ingress" in items(get(p.props, "spec", "policyTypes"))
    ]
    guarded = selectors_by_namespace(ingress, "podSelector")
    for workload in index.of_type(*LONG_RUNNING):
        key, labels = workload_key(workload), pod_labels(workload)
        if key is None or labels is None:
            continue
        if not any(
            selects(selector, labels, empty_selects_all=True) for selector in guarded.get(key[:2], [])
        ):
            report(f"no NetworkPolicy guards the pods of {key[2]} {key[1]}/{key[3]}", workload.urn)
