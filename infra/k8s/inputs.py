"""The typed inputs of a region's Kubernetes layer (one argument object instead of a long positional list)."""

from __future__ import annotations

from dataclasses import dataclass

import pulumi
import pulumi_aws as aws

from infra.aws.cache import RegionalRedis
from infra.aws.catalog import RegionalCatalog
from infra.aws.cluster import Cluster
from infra.aws.storage import RegionStorage
from infra.stack_secrets import StackSecrets


@dataclass(frozen=True)
class ClusterInputs:
    """What the Kubernetes layer of one region takes from the AWS layer and the stack."""

    cluster: Cluster
    key: aws.kms.Key
    storage: RegionStorage
    redis: RegionalRedis
    certificate_arn: pulumi.Output[str]  # issued: the ingress load balancer terminates HTTPS with it
    distribution: aws.cloudfront.Distribution  # the CDN the gateway purges
    secrets: StackSecrets
    catalog: RegionalCatalog | None = None  # the region's catalog database (its RDS Proxy), if it serves one
