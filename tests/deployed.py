"""A cloud stack "deployed" into moto from its offline plan, and the outputs file `pulumi stack output --json
--show-secrets` would then print.

The plan's outputs name resources by the ids the mocks made up; a real `pulumi up` replaces them with the ids
AWS assigns. This does the same against moto's server: it creates what the outputs name (buckets under the
plan's names, KMS keys, the hosted zone with the plan's failover records, health checks, a distribution with
the plan's origins, EKS clusters and node groups), and maps every made-up id to the one moto assigned
(`ids`, applied to the outputs and to any other document of the plan, e.g. IAM policies). Each region's
kubeconfig points at a FakeKubeApi (no API server runs here). ElastiCache's global datastore is not in moto:
tests stub it with botocore's Stubber.
"""

from __future__ import annotations

import copy
import json
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import boto3

from infra.plan import Plan, PlanResource
from tests.kubeapi import FakeKubeApi

RECORD = "aws:route53/record:Record"
HEALTH_CHECK = "aws:route53/healthCheck:HealthCheck"
NODE_GROUP = "aws:eks/nodeGroup:NodeGroup"


@dataclass
class Deployed:
    outputs: dict[str, Any]
    ids: dict[str, str] = field(default_factory=dict)  # the plan's made-up id/ARN → moto's

    def map(self, document: Any) -> Any:
        """`document` (any JSON value) with the plan's ids replaced by the deployed ones."""
        text = json.dumps(document)
        for made_up, real in sorted(self.ids.items(), key=lambda kv: -len(kv[0])):
            text = text.replace(made_up, real)
        return json.loads(text)

    def write(self, path: Path) -> Path:
        path.write_text(json.dumps(self.outputs, indent=2))
        return path


def _one(plan: Plan, type_: str, keep: Callable[[PlanResource], bool]) -> PlanResource:
    (found,) = [r for r in plan.of_type(type_) if keep(r)]
    return found


def deploy(plan: Plan, kube: FakeKubeApi) -> Deployed:
    """Create the plan's outputs' resources in moto (boto3 must point at it: AWS_ENDPOINT_URL)."""
    client = boto3.client
    outputs = copy.deepcopy(plan.resolved_outputs)
    deployed = Deployed(outputs)
    ids = deployed.ids
    regions = outputs["regions"]
    primary = outputs["primaryRegion"]
    for name, region in [(outputs["stateBucket"], primary)] + [
        (out[kind], r) for r, out in regions.items() for kind in ("contentBucket", "backupBucket")
    ]:
        s3 = client("s3", region_name=region)
        location = (
            {} if region == "us-east-1" else {"CreateBucketConfiguration": {"LocationConstraint": region}}
        )
        s3.create_bucket(Bucket=name, **location)
    for r, out in regions.items():
        key = client("kms", region_name=r).create_key(Description=f"streamgate {r}")["KeyMetadata"]
        ids[out["kmsKeyArn"]] = key["Arn"]

    route53 = client("route53")
    domain = next(c.inputs["name"] for c in plan.of_type("aws:route53/zone:Zone"))
    zone = route53.create_hosted_zone(Name=domain, CallerReference=str(uuid.uuid4()))["HostedZone"]
    ids[outputs["zoneId"]] = zone["Id"].rsplit("/", 1)[-1]
    for check in plan.of_type(HEALTH_CHECK):
        created = route53.create_health_check(
            CallerReference=str(uuid.uuid4()),
            HealthCheckConfig={
                "Type": check.inputs["type"],
                "FullyQualifiedDomainName": check.inputs["fqdn"],
                "Port": int(check.inputs["port"]),
                "ResourcePath": check.inputs["resourcePath"],
                "RequestInterval": int(check.inputs["requestInterval"]),
                "FailureThreshold": int(check.inputs["failureThreshold"]),
            },
        )["HealthCheck"]
        assert check.id is not None
        ids[check.id] = created["Id"]
    records = [r for r in plan.of_type(RECORD) if "failoverRoutingPolicies" in r.inputs]
    route53.change_resource_record_sets(
        HostedZoneId=ids[outputs["zoneId"]],
        ChangeBatch={
            "Changes": [
                {
                    "Action": "CREATE",
                    "ResourceRecordSet": {
                        "Name": r.inputs["name"],
                        "Type": r.inputs["type"],
                        "TTL": int(r.inputs["ttl"]),
                        "SetIdentifier": r.inputs["setIdentifier"],
                        "Failover": r.inputs["failoverRoutingPolicies"][0]["type"],
                        "ResourceRecords": [{"Value": v} for v in r.inputs["records"]],
                        **(
                            {"HealthCheckId": ids[r.inputs["healthCheckId"]]}
                            if r.inputs.get("healthCheckId")
                            else {}
                        ),
                    },
                }
                for r in records
            ]
        },
    )

    distribution = plan.one("aws:cloudfront/distribution:Distribution").inputs
    origins = [
        {
            "Id": o["originId"],
            "DomainName": o["domainName"],
            "CustomOriginConfig": {
                "HTTPPort": 80,
                "HTTPSPort": 443,
                "OriginProtocolPolicy": o["customOriginConfig"]["originProtocolPolicy"],
            },
        }
        for o in distribution["origins"]
    ]
    groups = [
        {
            "Id": g["originId"],
            "FailoverCriteria": {
                "StatusCodes": {
                    "Quantity": len(g["failoverCriteria"]["statusCodes"]),
                    "Items": [int(c) for c in g["failoverCriteria"]["statusCodes"]],
                }
            },
            "Members": {
                "Quantity": len(g["members"]),
                "Items": [{"OriginId": m["originId"]} for m in g["members"]],
            },
        }
        for g in distribution.get("originGroups", [])
    ]
    created = client("cloudfront").create_distribution(
        DistributionConfig={
            "CallerReference": str(uuid.uuid4()),
            "Comment": distribution["comment"],
            "Enabled": True,
            "Origins": {"Quantity": len(origins), "Items": origins},
            "OriginGroups": {"Quantity": len(groups), "Items": groups},
            "DefaultCacheBehavior": {
                "TargetOriginId": distribution["defaultCacheBehavior"]["targetOriginId"],
                "ViewerProtocolPolicy": "https-only",
                "CachePolicyId": distribution["defaultCacheBehavior"]["cachePolicyId"],
            },
        }
    )["Distribution"]
    ids[outputs["cdnDistributionId"]] = created["Id"]

    for r, out in regions.items():
        eks = client("eks", region_name=r)
        cluster = out["clusterName"]
        eks.create_cluster(
            name=cluster,
            roleArn="arn:aws:iam::123456789012:role/eks",
            resourcesVpcConfig={"subnetIds": ["subnet-1", "subnet-2"]},
        )
        group = _one(plan, NODE_GROUP, lambda n, r=r: n.region == r)
        scaling = group.inputs["scalingConfig"]
        created_group = eks.create_nodegroup(
            clusterName=cluster,
            nodegroupName=group.name,
            nodeRole="arn:aws:iam::123456789012:role/nodes",
            subnets=["subnet-1", "subnet-2"],
            labels=group.inputs["labels"],
            scalingConfig={k: int(scaling[k]) for k in ("minSize", "maxSize", "desiredSize")},
        )["nodegroup"]
        assert group.arn is not None
        ids[group.arn] = created_group["nodegroupArn"]
        out["kubeconfig"] = json.dumps(kube.kubeconfig(cluster))
    deployed.outputs = deployed.map(outputs)
    return deployed
