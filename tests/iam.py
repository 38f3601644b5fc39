"""IAM checks that can fail here: record the AWS calls code really makes, and evaluate them against a policy.

`CallRecorder` wraps botocore's one entry for every API call (`BaseClient._make_api_call`): the calls still
go to the server (moto, or a Stubber), and each is recorded with its IAM action, the resource it acts on and
its error code. `allowed` evaluates a call against policy statements the way IAM matches Action and
Resource (wildcards, no conditions): moto's own enforcement only resolves resources for S3, so this is how
the other services' resource scoping is checked.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any
from unittest import mock

from botocore.client import BaseClient
from botocore.exceptions import ClientError

ACCOUNT = "123456789012"
# Operations whose IAM action is not `<service>:<Operation>`.
ACTIONS = {
    ("s3", "HeadObject"): "s3:GetObject",
    ("s3", "HeadBucket"): "s3:ListBucket",
    ("s3", "ListObjectsV2"): "s3:ListBucket",
    ("s3", "ListObjects"): "s3:ListBucket",
    ("s3", "DeleteObjects"): "s3:DeleteObject",
    ("s3", "GetObjectVersion"): "s3:GetObjectVersion",
}
SERVICE_PREFIX = {"monitoring": "cloudwatch"}


@dataclass(frozen=True)
class Call:
    service: str  # botocore's service name (s3, kms, cloudfront, ...)
    operation: str
    action: str  # the IAM action
    resources: tuple[str, ...]  # ARNs it acts on
    error: str | None  # the error code, if the call failed


def iam_action(service: str, operation: str) -> str:
    return ACTIONS.get((service, operation), f"{SERVICE_PREFIX.get(service, service)}:{operation}")


def resources_of(
    service: str, operation: str, region: str, params: Mapping[str, Any], result: Any
) -> tuple[str, ...]:
    """The ARNs a call acts on, as IAM's resource types for that action name them."""
    p, r = params, result if isinstance(result, Mapping) else {}
    if service == "s3":
        bucket = p.get("Bucket", "*")
        if operation == "DeleteObjects":
            return tuple(f"arn:aws:s3:::{bucket}/{o['Key']}" for o in p["Delete"]["Objects"])
        key = p.get("Key")
        return (f"arn:aws:s3:::{bucket}/{key}" if key else f"arn:aws:s3:::{bucket}",)
    if service == "kms":
        key = str(p.get("KeyId") or r.get("KeyId") or "*")
        return (key if key.startswith("arn:") else f"arn:aws:kms:{region}:{ACCOUNT}:key/{key}",)
    if service == "cloudfront":
        return (f"arn:aws:cloudfront::{ACCOUNT}:distribution/{p.get('DistributionId') or p.get('Id')}",)
    if service == "route53":
        if "HostedZoneId" in p:
            return (f"arn:aws:route53:::hostedzone/{str(p['HostedZoneId']).rsplit('/', 1)[-1]}",)
        if operation == "GetChange":
            return (f"arn:aws:route53:::change/{str(p['Id']).rsplit('/', 1)[-1]}",)
        if "HealthCheckId" in p:
            return (f"arn:aws:route53:::healthcheck/{p['HealthCheckId']}",)
    if service == "eks":
        arn = (r.get("nodegroup") or {}).get("nodegroupArn") or (r.get("update") and p.get("_nodegroup_arn"))
        if arn:
            return (str(arn),)
        return (f"arn:aws:eks:{region}:{ACCOUNT}:cluster/{p['clusterName']}",)
    if service == "elasticache":
        found = []
        if "GlobalReplicationGroupId" in p:
            found.append(
                f"arn:aws:elasticache::{ACCOUNT}:globalreplicationgroup:{p['GlobalReplicationGroupId']}"
            )
        for key in ("ReplicationGroupId", "PrimaryReplicationGroupId"):
            if key in p:
                group_region = p.get("ReplicationGroupRegion") or p.get("PrimaryRegion") or region
                found.append(f"arn:aws:elasticache:{group_region}:{ACCOUNT}:replicationgroup:{p[key]}")
        return tuple(found) or ("*",)
    if service == "rds":  # a global database and, for a switchover or failover, its target cluster
        found = []
        if "GlobalClusterIdentifier" in p:
            found.append(f"arn:aws:rds::{ACCOUNT}:global-cluster:{p['GlobalClusterIdentifier']}")
        for key in ("TargetDbClusterIdentifier", "DBClusterIdentifier"):  # ARNs in our calls
            if key in p:
                found.append(str(p[key]))
        return tuple(found) or ("*",)
    return ("*",)


class CallRecorder:
    def __init__(self) -> None:
        self.calls: list[Call] = []
        self._nodegroups: dict[tuple[str, str], str] = {}

    @contextmanager
    def recording(self) -> Iterator[CallRecorder]:
        original = BaseClient._make_api_call
        recorder = self

        def spy(client: BaseClient, operation: str, params: dict[str, Any]) -> Any:
            service = client.meta.service_model.service_name
            region = client.meta.region_name or "us-east-1"
            if service == "eks" and operation == "UpdateNodegroupConfig":
                arn = recorder._nodegroups.get((params["clusterName"], params["nodegroupName"]))
                params_seen = {**params, "_nodegroup_arn": arn}
            else:
                params_seen = params
            try:
                result = original(client, operation, params)
            except ClientError as exc:
                code = str(exc.response.get("Error", {}).get("Code") or "")
                status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode")
                # moto's CloudFront answers a denial with a 403 whose code botocore cannot parse.
                recorder._record(service, operation, region, params_seen, {}, code or f"HTTP {status}")
                raise
            if operation == "DeleteObjects" and result.get("Errors"):  # per-key failures answer 200
                recorder._record(service, operation, region, params_seen, result, result["Errors"][0]["Code"])
                return result
            if service == "eks" and operation == "DescribeNodegroup":
                group = result["nodegroup"]
                recorder._nodegroups[(group["clusterName"], group["nodegroupName"])] = group["nodegroupArn"]
            recorder._record(service, operation, region, params_seen, result, None)
            return result

        with mock.patch.object(BaseClient, "_make_api_call", spy):
            yield self

    def _record(
        self,
        service: str,
        operation: str,
        region: str,
        params: Mapping[str, Any],
        result: Any,
        error: str | None,
    ) -> None:
        resources = resources_of(service, operation, region, params, result)
        self.calls.append(Call(service, operation, iam_action(service, operation), resources, error))

    def denied(self) -> list[Call]:
        return [c for c in self.calls if c.error in ("AccessDenied", "AccessDeniedException", "HTTP 403")]

    def refused(self, statements: Sequence[Mapping[str, Any]]) -> set[str]:
        """Actions refused: denied by the server, or (where moto does not enforce, e.g. S3 DeleteObjects)
        made although the statements do not allow them."""
        return {c.action for c in self.denied()} | {
            c.action for c in self.calls if c.service not in ("sts", "iam") and not allowed(statements, c)
        }


def matches(pattern: str, value: str) -> bool:
    """IAM's wildcard match: `*` any run of characters, `?` one character; actions case-insensitively."""
    regex = "^" + re.escape(pattern).replace(r"\*", ".*").replace(r"\?", ".") + "$"
    return re.match(regex, value) is not None


def listed(value: Any) -> list[str]:
    return [value] if isinstance(value, str) else list(value)


def allowed(statements: Sequence[Mapping[str, Any]], call: Call) -> bool:
    """Whether some Allow statement grants the call's action on every resource it touches."""
    for resource in call.resources:
        if not any(
            s["Effect"] == "Allow"
            and any(matches(a.lower(), call.action.lower()) for a in listed(s["Action"]))
            and any(matches(p, resource) for p in listed(s["Resource"]))
            for s in statements
        ):
            return False
    return True


# moto (5.2) names an S3 request's action after the API operation, where IAM names some otherwise.
MOTO_S3_ACTIONS = {
    "s3:ListBucket": ("s3:ListObjectsV2", "s3:ListObjects", "s3:HeadBucket"),
    "s3:GetObject": ("s3:HeadObject",),
}


def moto_view(statements: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """The statements as moto can enforce them. It resolves resources for S3 only (every other service's
    request carries the resource "*"), so other services' statements keep their actions with Resource "*"
    (`allowed` checks those resources instead); its S3 actions are operation names, so each IAM action also
    grants the operations IAM files under it (e.g. s3:ListBucket → s3:ListObjectsV2); and it authorizes a
    DeleteObjects on the bucket instead of on each key."""
    viewed = []
    for statement in statements:
        actions = listed(statement["Action"])
        if all(a.startswith("s3:") for a in actions):
            aliases = [alias for a in actions for alias in MOTO_S3_ACTIONS.get(a, ())]
            viewed.append({**statement, "Action": [*actions, *aliases]})
            if "s3:DeleteObject" in actions:
                # moto authorizes DeleteObjects on the bucket, not per key (AWS checks each key).
                buckets = sorted({r.split("/", 1)[0] for r in listed(statement["Resource"])})
                viewed.append({"Effect": "Allow", "Action": ["s3:DeleteObjects"], "Resource": buckets})
        else:
            # moto authorizes CloudWatch under its signing name, `monitoring:`.
            renamed = [f"monitoring:{a.split(':', 1)[1]}" for a in actions if a.startswith("cloudwatch:")]
            viewed.append({**statement, "Action": [*actions, *renamed], "Resource": ["*"]})
    return viewed
