"""The stack as a whole: it says which environment it is, prod spans regions and copies its backups across
them, and every region is health-checked and part of the DNS failover chain."""

from __future__ import annotations

from pulumi_policy import PolicyResource, StackValidationArgs

from policies.base import (
    ENV_TAG,
    ENVIRONMENT_PROPERTY,
    ENVIRONMENTS,
    REGION_TAG,
    Report,
    StackIndex,
    aws_providers,
    default_tags,
    get,
    items,
    label,
    region,
    setting,
    stack_policy,
    string,
    tags_of,
)
from policies.cluster import EKS_CLUSTER
from policies.storage import BUCKETS, backup_buckets, bucket_of

REPLICATION = "aws:s3/bucketReplicationConfig:BucketReplicationConfig"
HEALTH_CHECK = "aws:route53/healthCheck:HealthCheck"
RECORD = "aws:route53/record:Record"
DEFAULT_MIN_REGIONS = 2


def cluster_regions(index: StackIndex) -> list[str]:
    """The regions the stack serves from: where its EKS clusters run."""
    return sorted({r for c in index.of_type(EKS_CLUSTER) if (r := region(c))})


@stack_policy(
    "environment-declared",
    "Every AWS provider must tag resources with streamgate/environment (the stack's environment, which the "
    "prod-only policies key on): build providers with infra.aws.base.regional_provider.",
    config={
        "environment": {
            **ENVIRONMENT_PROPERTY["environment"],
            "description": "The environment this stack must declare (its policy config file pins it).",
        }
    },
)
def environment_declared(args: StackValidationArgs, report: Report) -> None:
    expected = string(get(args.get_config(), "environment"))
    providers = aws_providers(args.resources)
    declared: set[str] = set()
    for urn, props in providers.items():
        env = default_tags(props).get(ENV_TAG)
        name = urn.rsplit("::", 1)[-1]
        if not env:
            report(f"AWS provider {name} sets no {ENV_TAG} default tag", urn)
        elif env not in ENVIRONMENTS:
            report(f"AWS provider {name} declares unknown environment {env!r}", urn)
        elif expected and env != expected:
            report(
                f"AWS provider {name} declares {env} but the stack's policy config expects {expected}", urn
            )
        else:
            declared.add(env)
    if len(declared) > 1:
        report(f"AWS providers disagree on the environment: {', '.join(sorted(declared))}")
    if not providers and not expected and not args.stack_tags.get(ENV_TAG):
        report("nothing declares the environment (no AWS provider, stack tag or policy config)")


@stack_policy(
    "prod-multi-region",
    "Prod must serve from at least minRegions (2) regions to survive a region outage: add regions to the "
    "stack file (primary first).",
    config={
        "minRegions": {
            "type": "integer",
            "minimum": 1,
            "default": DEFAULT_MIN_REGIONS,
            "description": "How many regions a prod stack must run clusters in.",
        }
    },
    prod_only=True,
)
def prod_multi_region(args: StackValidationArgs, report: Report) -> None:
    minimum = setting(args.get_config(), "minRegions", DEFAULT_MIN_REGIONS)
    regions = cluster_regions(StackIndex(args.resources))
    if len(regions) < minimum:
        report(
            f"clusters run in {len(regions)} region(s) ({', '.join(regions) or 'none'}), fewer than {minimum:g}"
        )


def _destinations(index: StackIndex, replication: PolicyResource) -> list[PolicyResource]:
    rules = [
        r for r in items(get(replication.props, "rules")) if get(r, "status", default="Enabled") == "Enabled"
    ]
    values = [get(r, "destination", "bucket") for r in rules]
    return index.referenced(replication, "rules", values, BUCKETS, ("arn", "id"))


@stack_policy(
    "prod-backup-replication",
    "Prod backups must be copied to another region: replicate the primary region's backup bucket to a "
    "backup bucket in another region (infra.aws.storage.DataProtection does on multi-region stacks).",
    prod_only=True,
)
def prod_backup_replication(args: StackValidationArgs, report: Report) -> None:
    index = StackIndex(args.resources)
    backups = {b.urn: b for b in backup_buckets(index)}
    if not backups:
        report("no backup bucket (tagged streamgate/purpose=backup) to replicate")
        return
    crossing = []
    for replication in index.of_type(REPLICATION):
        for source in (b for b in bucket_of(index, replication) if b.urn in backups):
            for target in _destinations(index, replication):
                if region(source) and region(target) and region(source) != region(target):
                    crossing.append((source, target))
    if not crossing:
        names = ", ".join(label(b) for b in backups.values())
        report(f"no backup bucket replicates to a bucket in another region ({names})")


def _check_region(check: PolicyResource, regions: list[str]) -> str | None:
    tagged = tags_of(check.props).get(REGION_TAG)
    if tagged:
        return tagged
    fqdn = f".{get(check.props, 'fqdn', default='')}."
    return next((r for r in regions if f".{r}." in fqdn), None)


@stack_policy(
    "region-failover-covered",
    "Every serving region needs a Route 53 health check that a failover record uses, so DNS leaves a failed "
    "region: build DNS with infra.aws.dns.Dns over all of the stack's regions.",
)
def region_failover_covered(args: StackValidationArgs, report: Report) -> None:
    index = StackIndex(args.resources)
    regions = cluster_regions(index)
    checks: dict[str, list[PolicyResource]] = {}
    for check in index.of_type(HEALTH_CHECK):
        if (where := _check_region(check, regions)) is not None:
            checks.setdefault(where, []).append(check)
    used: set[str] = set()
    for record in index.of_type(RECORD):
        if items(get(record.props, "failoverRoutingPolicies")):
            found = index.referenced(
                record, "healthCheckId", [get(record.props, "healthCheckId")], [HEALTH_CHECK]
            )
            used.update(c.urn for c in found)
    for name in regions:
        if name not in checks:
            report(f"region {name} has no Route 53 health check")
        elif not any(c.urn in used for c in checks[name]):
            report(f"region {name}'s health check is on no failover record, so DNS never fails away from it")
