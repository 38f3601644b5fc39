"""What the `streamgate` automation acts through on a cloud stack: a state bucket (rollout and failover state,
locks), one IAM role with exactly the calls the automation makes (infra/aws/iam.py), and that role's access
to each cluster (an EKS access entry: the Ingress, Deployments and HPAs it patches, and the API server's
service proxy to Prometheus and the Pushgateway). The stack outputs name all three."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import pulumi
import pulumi_aws as aws

from infra.aws.base import child
from infra.aws.iam import RegionResources, automation_role, automation_statements
from infra.aws.storage import secure_bucket
from infra.k8s.base import NAMESPACE as GATEWAY_NAMESPACE
from infra.outputs import MONITORING_NAMESPACE

# EKS's managed access policy behind Kubernetes' `edit` role (patch Ingresses, Deployments, HPAs, proxy
# to Services), limited to the namespaces the automation works in.
EDIT_POLICY = "arn:aws:eks::aws:cluster-access-policy/AmazonEKSEditPolicy"
STATE_VERSIONS_KEPT_DAYS = 90


@dataclass(frozen=True)
class AutomationArgs:
    stack: str
    key: aws.kms.Key  # the primary region's: encrypts the state bucket
    regions: Sequence[RegionResources]  # what the role may act on, per region
    clusters: Mapping[str, tuple[aws.eks.Cluster, aws.Provider]]  # region → (cluster, its provider)
    zone: aws.route53.Zone
    distribution: aws.cloudfront.Distribution
    global_datastore_arn: pulumi.Input[str] | None
    catalog_global_arn: pulumi.Input[str] | None = None  # the catalog's Aurora global cluster (prod)


class Automation(pulumi.ComponentResource):
    state_bucket: aws.s3.Bucket
    role: aws.iam.Role

    def __init__(self, name: str, args: AutomationArgs, opts: pulumi.ResourceOptions) -> None:
        """On the primary region's provider (`opts`)."""
        super().__init__("streamgate:aws:Automation", name, None, opts)
        key, zone, distribution = args.key, args.zone, args.distribution
        state = secure_bucket(self, f"{name}-state", key, tags={"streamgate/purpose": "automation-state"})
        self.state_bucket = state.bucket
        aws.s3.BucketLifecycleConfiguration(
            f"{name}-state",
            bucket=state.bucket.id,
            rules=[
                {
                    "id": "old-versions",
                    "status": "Enabled",
                    "filter": {"prefix": ""},
                    "noncurrent_version_expiration": {"noncurrent_days": STATE_VERSIONS_KEPT_DAYS},
                    "abort_incomplete_multipart_upload": {"days_after_initiation": 1},
                }
            ],
            opts=child(self, depends_on=[state.versioning]),
        )
        statements = automation_statements(
            args.regions,
            state.bucket.arn,
            zone.arn,
            distribution.arn,
            args.global_datastore_arn,
            args.catalog_global_arn,
        )
        self.role = automation_role(f"{name}-role", args.stack, statements, child(self))
        for region, (cluster, provider) in args.clusters.items():
            entry = aws.eks.AccessEntry(
                f"{name}-{region}",
                cluster_name=cluster.name,
                principal_arn=self.role.arn,
                type="STANDARD",
                opts=child(self, provider),
            )
            aws.eks.AccessPolicyAssociation(
                f"{name}-{region}",
                cluster_name=cluster.name,
                principal_arn=self.role.arn,
                policy_arn=EDIT_POLICY,
                access_scope={"type": "namespace", "namespaces": [GATEWAY_NAMESPACE, MONITORING_NAMESPACE]},
                opts=child(self, provider, depends_on=[entry]),
            )
        self.register_outputs({"stateBucket": state.bucket.bucket, "roleArn": self.role.arn})
