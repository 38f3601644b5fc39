"""The offline plan of every shipped stack: the resources exist, in the right regions, wired as intended."""

from __future__ import annotations

import json
import re
import subprocess
import sys
import time
from collections.abc import Callable
from typing import Any

import pytest

from infra.config import StackConfig, load_stack
from infra.plan import Plan, run_plan

PlanOf = Callable[[str], Plan]
PER_REGION = [
    "aws:ec2/vpc:Vpc",
    "aws:eks/cluster:Cluster",
    "aws:eks/nodeGroup:NodeGroup",
    "aws:elasticache/replicationGroup:ReplicationGroup",
    "aws:iam/openIdConnectProvider:OpenIdConnectProvider",
    "aws:ec2/flowLog:FlowLog",
    "aws:backup/vault:Vault",
]
GLOBAL_DATASTORE = "aws:elasticache/globalReplicationGroup:GlobalReplicationGroup"
DISTRIBUTION = "aws:cloudfront/distribution:Distribution"


@pytest.mark.parametrize("stack", ["dev", "staging", "prod"])
def test_every_region_has_its_building_blocks(plan_of: PlanOf, stack: str) -> None:
    plan, cfg = plan_of(stack), load_stack(stack)
    regions = [r.name for r in cfg.regions]
    assert plan.regions == sorted(regions)
    for region in regions:
        for token in PER_REGION:
            plan.one(token, region)
        assert len([k for k in plan.of_type("aws:kms/key:Key") if k.region == region]) == 1
        buckets = [b for b in plan.of_type("aws:s3/bucket:Bucket") if b.region == region]
        # content + backup, and in the primary region the automation's state
        assert len(buckets) == (3 if region == regions[0] else 2)
        assert len([s for s in plan.of_type("aws:ec2/subnet:Subnet") if s.region == region]) == 6
        health = [
            h
            for h in plan.of_type("aws:route53/healthCheck:HealthCheck")
            if h.inputs["fqdn"] == f"origin.{region}.{cfg.domain}"
        ]
        assert len(health) == 1 and health[0].inputs["resourcePath"] == "/readyz"
        assert health[0].inputs["type"] == "HTTPS" and health[0].inputs["enableSni"] is True
    assert len(plan.of_type(DISTRIBUTION)) == 1 and plan.one(DISTRIBUTION).region is None
    assert len(plan.of_type("aws:wafv2/webAcl:WebAcl")) == 1
    assert len(plan.of_type(GLOBAL_DATASTORE)) == (1 if len(regions) > 1 else 0)


def test_every_custom_resource_is_on_an_explicit_provider(plan_of: PlanOf) -> None:
    plan = plan_of("prod")
    for r in plan.resources:
        if r.custom and not r.type.startswith("pulumi:providers:"):
            assert r.provider is not None, r.urn
            assert not r.provider.endswith("::default"), r.urn


def test_encryption_everywhere(plan_of: PlanOf) -> None:
    plan = plan_of("prod")
    for key in plan.of_type("aws:kms/key:Key"):
        assert key.inputs["enableKeyRotation"] is True
    for sse in plan.of_type(
        "aws:s3/bucketServerSideEncryptionConfiguration:BucketServerSideEncryptionConfiguration"
    ):
        rule = sse.inputs["rules"][0]["applyServerSideEncryptionByDefault"]
        assert rule["sseAlgorithm"] == "aws:kms" and rule["kmsMasterKeyId"].startswith("arn:aws:kms:")
    assert len(plan.of_type("aws:s3/bucketVersioning:BucketVersioning")) == len(
        plan.of_type("aws:s3/bucket:Bucket")
    )
    for block in plan.of_type("aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock"):
        assert all(
            block.inputs[k]
            for k in ("blockPublicAcls", "blockPublicPolicy", "ignorePublicAcls", "restrictPublicBuckets")
        )
    for group in plan.of_type("aws:elasticache/replicationGroup:ReplicationGroup"):
        assert group.inputs["atRestEncryptionEnabled"] and group.inputs["transitEncryptionEnabled"]
        assert group.inputs["authToken"] == "[secret]"  # never printed, even the placeholder
        assert group.inputs["automaticFailoverEnabled"] and group.inputs["multiAzEnabled"]
    for cluster in plan.of_type("aws:eks/cluster:Cluster"):
        assert cluster.inputs["encryptionConfig"]["resources"] == ["secrets"]
        assert cluster.inputs["vpcConfig"]["endpointPrivateAccess"] is True
        assert cluster.inputs["vpcConfig"]["endpointPublicAccess"] is False  # prod: private only


def test_dev_public_endpoint_is_limited_by_config(plan_of: PlanOf) -> None:
    vpc = plan_of("dev").one("aws:eks/cluster:Cluster").inputs["vpcConfig"]
    assert vpc["endpointPublicAccess"] is True and vpc["publicAccessCidrs"] == ["0.0.0.0/0"]


def test_node_group_sizing_comes_from_the_stack(plan_of: PlanOf) -> None:
    plan, cfg = plan_of("prod"), load_stack("prod")
    for region in cfg.regions:
        scaling = plan.one("aws:eks/nodeGroup:NodeGroup", region.name).inputs["scalingConfig"]
        assert (scaling["minSize"], scaling["maxSize"], scaling["desiredSize"]) == (
            region.cluster.min_nodes,
            region.cluster.max_nodes,
            region.cluster.desired_nodes,
        )


def test_global_datastore_has_primary_region_as_primary(plan_of: PlanOf) -> None:
    plan = plan_of("prod")
    datastore = plan.one(GLOBAL_DATASTORE)
    primary = plan.one("aws:elasticache/replicationGroup:ReplicationGroup", "us-east-1")
    assert datastore.region == "us-east-1"
    assert plan.referenced(datastore.inputs["primaryReplicationGroupId"]) == primary
    assert primary.inputs["engine"] == "redis" and "globalReplicationGroupId" not in primary.inputs
    for region in ("eu-west-1", "ap-southeast-1"):
        secondary = plan.one("aws:elasticache/replicationGroup:ReplicationGroup", region)
        assert secondary.inputs["globalReplicationGroupId"] == "ldgnf-streamgate-prod"
        assert "engine" not in secondary.inputs and "nodeType" not in secondary.inputs


def test_cdn_fails_over_and_caches_by_content_type(plan_of: PlanOf) -> None:
    plan, cfg = plan_of("prod"), load_stack("prod")
    dist = plan.one(DISTRIBUTION).inputs
    group = dist["originGroups"][0]
    assert [m["originId"] for m in group["members"]] == ["us-east-1", "eu-west-1"]
    assert sorted(group["failoverCriteria"]["statusCodes"]) == [500, 502, 503, 504]
    assert {o["originId"] for o in dist["origins"]} == {"us-east-1", "eu-west-1", "ap-southeast-1"}
    assert all(o["customOriginConfig"]["originProtocolPolicy"] == "https-only" for o in dist["origins"])
    assert dist["viewerCertificate"]["minimumProtocolVersion"].startswith("TLSv1.2")
    assert dist["defaultCacheBehavior"]["viewerProtocolPolicy"] == "https-only"
    assert dist["webAclId"].startswith("arn:aws:wafv2")
    assert dist["loggingConfig"]["bucket"].endswith(".s3.amazonaws.com")
    policies = {p.name: p.inputs for p in plan.of_type("aws:cloudfront/cachePolicy:CachePolicy")}
    assert policies["cdn-segments"]["defaultTtl"] == cfg.cdn.segment_ttl_seconds
    assert policies["cdn-manifests"]["defaultTtl"] == cfg.cdn.manifest_ttl_seconds
    behaviors = {b["pathPattern"]: b for b in dist["orderedCacheBehaviors"]}
    # Both URL schemes: segments (first scheme, .ts, .m4s, init.mp4) long, playlists short.
    assert list(behaviors) == [
        "/v1/content/*/segments/*",
        "/v1/content/*.ts",
        "/v1/content/*.m4s",
        "/v1/content/*/init.mp4",
        "/v1/content/*/manifest",
        "/v1/content/*.m3u8",
    ]
    ids = {p.name: p.id for p in plan.of_type("aws:cloudfront/cachePolicy:CachePolicy")}
    segment_policy, manifest_policy = ids["cdn-segments"], ids["cdn-manifests"]
    assert {p: b["cachePolicyId"] for p, b in behaviors.items()} == {
        **{p: segment_policy for p in list(behaviors)[:4]},
        **{p: manifest_policy for p in list(behaviors)[4:]},
    }
    # CORS: CloudFront answers player origins from the stack's allow-list on every content behavior.
    cors = plan.one("aws:cloudfront/responseHeadersPolicy:ResponseHeadersPolicy").inputs["corsConfig"]
    assert cors["accessControlAllowOrigins"]["items"] == cfg.cors.allow_origins
    assert cors["originOverride"] is True
    assert {"Range", "If-None-Match"} <= set(cors["accessControlAllowHeaders"]["items"])
    assert {"Content-Range", "ETag"} <= set(cors["accessControlExposeHeaders"]["items"])
    cors_id = plan.one("aws:cloudfront/responseHeadersPolicy:ResponseHeadersPolicy").id
    assert {b["responseHeadersPolicyId"] for b in behaviors.values()} == {cors_id}
    assert dist["defaultCacheBehavior"]["responseHeadersPolicyId"] == cors_id
    acl = plan.one("aws:wafv2/webAcl:WebAcl").inputs
    assert acl["scope"] == "CLOUDFRONT"
    assert acl["rules"][0]["statement"]["rateBasedStatement"]["limit"] == cfg.waf.rate_per_five_minutes
    paths_rule = acl["rules"][1]
    assert paths_rule["name"] == "content-paths" and paths_rule["action"] == {"block": {}}
    scheme = paths_rule["statement"]["andStatement"]["statements"][1]["notStatement"]["statement"]
    pattern = scheme["regexMatchStatement"]["regexString"]
    # WAF's regex limits: at most 512 characters, no capturing groups (PCRE subset).
    assert len(pattern) <= 512 and "(" not in pattern.replace("(?:", "")
    for path, allowed in [
        ("/v1/content/t/master.m3u8", True),
        ("/v1/content/t/720p/12.ts", True),
        ("/v1/content/t/renditions", True),
        ("/v1/content/t/segments/3", True),
        ("/v1/content/t/720p/012.ts", False),
        ("/v1/content/t/../../admin", False),
    ]:
        assert bool(re.match(pattern, path)) is allowed, path
    common = acl["rules"][2]["statement"]["managedRuleGroupStatement"]
    assert common["ruleActionOverrides"] == [{"name": "SizeRestrictions_BODY", "actionToUse": {"count": {}}}]


def test_waf_and_cdn_certificate_use_the_us_east_1_provider(plan_of: PlanOf) -> None:
    plan = plan_of("staging")  # staging has no us-east-1-only assumption beyond its first region
    cdn_cert = next(c for c in plan.of_type("aws:acm/certificate:Certificate") if c.name == "cdn-cert")
    for r in (plan.one("aws:wafv2/webAcl:WebAcl"), cdn_cert, plan.one(DISTRIBUTION)):
        assert r.provider is not None and r.provider.endswith("::aws-global")


def test_dns_failover_chain_covers_every_region_primary_first(plan_of: PlanOf) -> None:
    plan, cfg = plan_of("prod"), load_stack("prod")
    records = [
        r.inputs for r in plan.of_type("aws:route53/record:Record") if "failoverRoutingPolicies" in r.inputs
    ]
    by_name: dict[str, dict[str, str]] = {}
    for rec in records:
        by_name.setdefault(rec["name"], {})[rec["failoverRoutingPolicies"][0]["type"]] = rec["records"][0]
    api = f"api.{cfg.domain}"
    assert by_name[api]["PRIMARY"] == f"origin.us-east-1.{cfg.domain}"
    assert by_name[api]["SECONDARY"] == f"failover-1.{api}"
    assert by_name[f"failover-1.{api}"] == {
        "PRIMARY": f"origin.eu-west-1.{cfg.domain}",
        "SECONDARY": f"origin.ap-southeast-1.{cfg.domain}",
    }
    # Each region's origin record carries that region's health check.
    checked = [r for r in records if r.get("healthCheckId")]
    assert len(checked) == len(cfg.regions)


def test_backups_are_locked_expire_and_replicate_across_regions(plan_of: PlanOf) -> None:
    plan, cfg = plan_of("prod"), load_stack("prod")
    lifecycle = [
        r
        for r in plan.of_type("aws:s3/bucketLifecycleConfiguration:BucketLifecycleConfiguration")
        if r.name.endswith("-storage-backup")
    ]
    assert len(lifecycle) == 3
    rule = lifecycle[0].inputs["rules"][0]
    assert rule["expiration"]["days"] == cfg.backup.retention_days
    assert rule["transitions"][0]["days"] == cfg.backup.cold_storage_after_days
    assert len(plan.of_type("aws:s3/bucketObjectLockConfiguration:BucketObjectLockConfiguration")) == 3
    replications = {r.name: r for r in plan.of_type("aws:s3/bucketReplicationConfig:BucketReplicationConfig")}
    backup = replications["data-protection-backup"]
    assert plan.referenced(backup.inputs["bucket"]).name == "us-east-1-storage-backup"
    assert [plan.referenced(r["destination"]["bucket"]).name for r in backup.inputs["rules"]] == [
        "eu-west-1-storage-backup"
    ]
    content = replications["data-protection-content"]
    assert plan.referenced(content.inputs["bucket"]).region == "us-east-1"
    destinations = sorted(
        plan.referenced(r["destination"]["bucket"]).region or "" for r in content.inputs["rules"]
    )
    assert destinations == ["ap-southeast-1", "eu-west-1"]
    copy = plan.one("aws:backup/plan:Plan").inputs["rules"][0]["copyActions"][0]
    assert copy["destinationVaultArn"].startswith("arn:aws:backup:eu-west-1:")


def test_dev_is_single_region_without_replication(plan_of: PlanOf) -> None:
    plan = plan_of("dev")
    assert plan.of_type(GLOBAL_DATASTORE) == []
    assert plan.of_type("aws:s3/bucketReplicationConfig:BucketReplicationConfig") == []
    assert plan.one(DISTRIBUTION).inputs.get("originGroups", []) == []
    assert plan.of_type("aws:s3/bucketObjectLockConfiguration:BucketObjectLockConfiguration") == []
    assert len(plan.of_type("aws:ec2/natGateway:NatGateway")) == 1  # one shared NAT outside prod


def test_outputs_name_what_automation_needs(plan_of: PlanOf) -> None:
    outputs = plan_of("prod").outputs
    assert outputs["primaryRegion"] == "us-east-1"
    assert set(outputs["regions"]) == {"us-east-1", "eu-west-1", "ap-southeast-1"}
    for values in outputs["regions"].values():
        assert {
            "clusterName",
            "clusterEndpoint",
            "kubeconfig",
            "redisPrimaryEndpoint",
            "contentBucket",
            "backupBucket",
            "healthCheckId",
        } <= set(values)


def test_plan_json_cli(tmp_path: object) -> None:
    started = time.perf_counter()
    result = subprocess.run(
        [sys.executable, "-m", "infra.cli", "plan", "prod", "--json"],
        capture_output=True,
        text=True,
        check=True,
    )
    elapsed = time.perf_counter() - started
    rows = json.loads(result.stdout)
    assert {"type", "name", "region", "parent", "inputs"} <= set(rows[0])
    regions = {r["region"] for r in rows if r["type"] == "aws:ec2/vpc:Vpc"}
    assert regions == {"us-east-1", "eu-west-1", "ap-southeast-1"}
    assert "offline-plan-placeholder-secret" not in result.stdout
    print(f"prod plan via CLI: {elapsed:.2f}s")


def test_the_plan_is_deterministic() -> None:
    first = [(r.type, r.name, r.region) for r in run_plan(load_stack("dev")).resources]
    second = [(r.type, r.name, r.region) for r in run_plan(load_stack("dev")).resources]
    assert first == second


def test_a_plan_leaves_no_young_heap_to_rescan_and_records_no_stack_traces() -> None:
    """The two costs a plan removes: the collector's walk of its million objects once it is back on, and
    Pulumi's walk of the Python stack for every resource (neither changes what the plan records)."""
    import gc

    from pulumi.runtime import resource as pulumi_resource

    from infra.platform import build_platform

    original = pulumi_resource._get_stack_trace
    frames: list[int] = []

    def program(c: StackConfig) -> dict[str, Any]:
        frames.append(len(pulumi_resource._get_stack_trace().frames))
        return build_platform(c).outputs

    if gc.get_freeze_count():  # an in-process gateway froze this test process's heap: release it
        gc.unfreeze()
    gc.collect()
    plan = run_plan(load_stack("dev"), program)
    young = len(gc.get_objects(generation=0)) + len(gc.get_objects(generation=1))
    assert len(plan.resources) > 100
    assert young < 20_000, f"{young} objects left in the young generations"
    assert frames == [0] and pulumi_resource._get_stack_trace is original
