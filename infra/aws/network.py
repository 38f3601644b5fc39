"""A VPC over three availability zones: public and private subnets, NAT, route tables, flow logs."""

from __future__ import annotations

import ipaddress
import json
from dataclasses import dataclass

import pulumi
import pulumi_aws as aws

from infra.aws.base import assume_role_policy, child
from infra.config import Environment

AZ_COUNT = 3


def subnet_cidrs(vpc_cidr: str) -> tuple[list[str], list[str]]:
    """Split the VPC into /4ths-of-/4 blocks: 3 small public subnets, 3 large private ones (pods live there)."""
    vpc = ipaddress.IPv4Network(vpc_cidr)
    quarters = list(vpc.subnets(prefixlen_diff=2))
    private = [str(q) for q in quarters[:AZ_COUNT]]
    public = [str(s) for s in list(quarters[AZ_COUNT].subnets(prefixlen_diff=2))[:AZ_COUNT]]
    return public, private


@dataclass(frozen=True)
class NetworkArgs:
    stack: str
    region: str
    vpc_cidr: str
    environment: Environment  # prod: a NAT gateway per zone and longer flow-log retention


class Network(pulumi.ComponentResource):
    vpc: aws.ec2.Vpc
    public_subnet_ids: list[pulumi.Output[str]]
    private_subnet_ids: list[pulumi.Output[str]]

    def __init__(self, name: str, args: NetworkArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("streamgate:aws:Network", name, None, opts)
        zones = aws.get_availability_zones_output(
            state="available", opts=pulumi.InvokeOutputOptions(parent=self)
        )
        cluster_tag = f"kubernetes.io/cluster/streamgate-{args.stack}-{args.region}"
        self.vpc = aws.ec2.Vpc(
            f"{name}-vpc",
            cidr_block=args.vpc_cidr,
            enable_dns_hostnames=True,
            enable_dns_support=True,
            tags={"Name": f"streamgate-{args.stack}-{args.region}"},
            opts=child(self),
        )
        igw = aws.ec2.InternetGateway(f"{name}-igw", vpc_id=self.vpc.id, opts=child(self))
        public_rt = aws.ec2.RouteTable(
            f"{name}-public",
            vpc_id=self.vpc.id,
            routes=[{"cidr_block": "0.0.0.0/0", "gateway_id": igw.id}],
            opts=child(self),
        )

        public_cidrs, private_cidrs = subnet_cidrs(args.vpc_cidr)
        # One NAT per AZ in prod (an AZ outage must not cut egress); one shared NAT elsewhere saves cost.
        nat_count = AZ_COUNT if args.environment is Environment.PROD else 1
        self.public_subnet_ids, self.private_subnet_ids = [], []
        nats: list[aws.ec2.NatGateway] = []
        for i in range(AZ_COUNT):
            az = zones.names[i]
            public = aws.ec2.Subnet(
                f"{name}-public-{i}",
                vpc_id=self.vpc.id,
                cidr_block=public_cidrs[i],
                availability_zone=az,
                map_public_ip_on_launch=False,
                tags={"Name": f"public-{i}", "kubernetes.io/role/elb": "1", cluster_tag: "shared"},
                opts=child(self),
            )
            aws.ec2.RouteTableAssociation(
                f"{name}-public-{i}", subnet_id=public.id, route_table_id=public_rt.id, opts=child(self)
            )
            self.public_subnet_ids.append(public.id)
            if i < nat_count:
                eip = aws.ec2.Eip(f"{name}-nat-{i}", domain="vpc", opts=child(self))
                nats.append(
                    aws.ec2.NatGateway(
                        f"{name}-nat-{i}",
                        subnet_id=public.id,
                        allocation_id=eip.id,
                        opts=child(self, depends_on=[igw]),
                    )
                )
            private = aws.ec2.Subnet(
                f"{name}-private-{i}",
                vpc_id=self.vpc.id,
                cidr_block=private_cidrs[i],
                availability_zone=az,
                tags={"Name": f"private-{i}", "kubernetes.io/role/internal-elb": "1", cluster_tag: "shared"},
                opts=child(self),
            )
            private_rt = aws.ec2.RouteTable(
                f"{name}-private-{i}",
                vpc_id=self.vpc.id,
                routes=[{"cidr_block": "0.0.0.0/0", "nat_gateway_id": nats[min(i, nat_count - 1)].id}],
                opts=child(self),
            )
            aws.ec2.RouteTableAssociation(
                f"{name}-private-{i}", subnet_id=private.id, route_table_id=private_rt.id, opts=child(self)
            )
            self.private_subnet_ids.append(private.id)

        log_group = aws.cloudwatch.LogGroup(
            f"{name}-flow-logs",
            retention_in_days=90 if args.environment is Environment.PROD else 14,
            opts=child(self),
        )
        role = aws.iam.Role(
            f"{name}-flow-logs",
            assume_role_policy=assume_role_policy("vpc-flow-logs.amazonaws.com"),
            opts=child(self),
        )
        aws.iam.RolePolicy(
            f"{name}-flow-logs",
            role=role.id,
            policy=log_group.arn.apply(
                lambda arn: json.dumps(
                    {
                        "Version": "2012-10-17",
                        "Statement": [
                            {
                                "Effect": "Allow",
                                "Resource": f"{arn}:*",
                                "Action": [
                                    "logs:CreateLogStream",
                                    "logs:PutLogEvents",
                                    "logs:DescribeLogStreams",
                                ],
                            }
                        ],
                    }
                )
            ),
            opts=child(self),
        )
        aws.ec2.FlowLog(
            f"{name}-flow-logs",
            vpc_id=self.vpc.id,
            traffic_type="ALL",
            log_destination=log_group.arn,
            iam_role_arn=role.arn,
            opts=child(self),
        )
        self.register_outputs({"vpcId": self.vpc.id})


def vpc_only_port(
    name: str, parent: pulumi.Resource, network: Network, vpc_cidr: str, port: int, what: str
) -> aws.ec2.SecurityGroup:
    """A security group for one TCP port reachable from inside the VPC only (and talking only to it)."""
    return aws.ec2.SecurityGroup(
        name,
        vpc_id=network.vpc.id,
        description=f"{what} from inside the VPC only",
        ingress=[{"protocol": "tcp", "from_port": port, "to_port": port, "cidr_blocks": [vpc_cidr]}],
        egress=[{"protocol": "-1", "from_port": 0, "to_port": 0, "cidr_blocks": [vpc_cidr]}],
        opts=child(parent),
    )
