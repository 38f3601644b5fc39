"""Diffs of real offline plans, before and after the changes a pull request makes to a stack: a region added,
a TTL changed, a secret rotated, resources removed, an immutable property changed, a policy newly
violated. Each side is the program planned under mocks with the policy pack run over it."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from infra.config import RegionConfig, load_stack
from infra.plan import PLACEHOLDER_SECRET
from infra.preview import markdown
from infra.preview.diff import StackDiff, diff_documents
from tests.infra.preview_support import (
    document_of_config,
    edited_stack_file,
    set_secret,
    shipped_document,
)

CACHE_POLICY = "aws:cloudfront/cachePolicy:CachePolicy"
REPLICATION_GROUP = "aws:elasticache/replicationGroup:ReplicationGroup"
K8S_SECRET = "kubernetes:core/v1:Secret"


def diff(stack: str, head: dict, base: dict | None = None) -> StackDiff:
    return diff_documents(stack, base or shipped_document(stack), head, "base", "head")


def changed(d: StackDiff) -> dict[tuple[str, str], str]:
    return {(c.type, c.name): c.action for c in d.changes}


def test_the_same_stack_planned_twice_differs_in_nothing() -> None:
    d = diff("prod", document_of_config(load_stack("prod")))
    assert d.empty and d.changes == [] and d.base_verdict == d.head_verdict
    assert markdown.counts_line(d) == "**`prod`**: no changes · policies: passed"


def test_a_ttl_change_updates_exactly_the_segment_cache_policy_and_the_gateways_max_age() -> None:
    cfg = load_stack("prod")
    head = cfg.model_copy(update={"cdn": cfg.cdn.model_copy(update={"segment_ttl_seconds": 604800})})
    d = diff("prod", document_of_config(head))
    gateways = {
        ("kubernetes:apps/v1:Deployment", f"{r.name}-gateway-{color}"): "update"
        for r in cfg.regions
        for color in ("blue", "green")
    }
    # The predictive-scaling job reads the whole stack from a ConfigMap, replaced on any change of it.
    stack_maps = {("kubernetes:core/v1:ConfigMap", f"{r.name}-scaling-stack"): "replace" for r in cfg.regions}
    assert changed(d) == {(CACHE_POLICY, "cdn-segments"): "update", **gateways, **stack_maps}
    (policy,) = [c for c in d.changes if c.type == CACHE_POLICY]
    assert {(p.path, p.old, p.new, p.replace) for p in policy.properties} == {
        ("defaultTtl", 31536000, 604800, False),
        ("maxTtl", 31536000, 604800, False),
    }
    assert policy.component == "streamgate:aws:Cdn::cdn" and d.violations_added == []
    # The gateway's Cache-Control for viewers follows the stack's TTL: one env value per Deployment.
    for deployment in (c for c in d.changes if c.type == "kubernetes:apps/v1:Deployment"):
        (prop,) = deployment.properties
        assert (prop.old, prop.new) == ("31536000", "604800") and "env" in prop.path


def test_a_region_added_creates_its_resources_and_updates_what_spans_regions() -> None:
    cfg = load_stack("staging")
    third = RegionConfig(name="ap-southeast-1", vpc_cidr="10.22.0.0/16")
    d = diff("staging", document_of_config(cfg.model_copy(update={"regions": [*cfg.regions, third]})))
    created = [c for c in d.changes if c.action == "create"]
    assert d.count("delete") == 0 and d.count("replace") == 0
    # The new region's building blocks, in that region, with their inputs kept for the full diff.
    for token in ("aws:ec2/vpc:Vpc", "aws:eks/cluster:Cluster", REPLICATION_GROUP, "aws:kms/key:Key"):
        (found,) = [c for c in created if c.type == token]
        assert found.region == "ap-southeast-1" and found.inputs is not None
    vpc = next(c for c in created if c.type == "aws:ec2/vpc:Vpc")
    assert vpc.inputs is not None and vpc.inputs["cidrBlock"] == "10.22.0.0/16"
    # Global resources gain a health check; the CDN gains an origin; nothing in the old regions changes
    # except what names every region.
    assert any(c.type == "aws:route53/healthCheck:HealthCheck" and c.region is None for c in created)
    distribution = next(c for c in d.changes if c.type == "aws:cloudfront/distribution:Distribution")
    assert distribution.action == "update"
    assert any(p.path.startswith("origins[2]") and p.kind == "added" for p in distribution.properties)
    old_regions = {"us-east-1", "eu-west-1"}
    assert not [c for c in created if c.region in old_regions]


def test_a_region_removed_deletes_everything_it_held() -> None:
    cfg = load_stack("staging")
    base = shipped_document("staging")
    d = diff("staging", document_of_config(cfg.model_copy(update={"regions": cfg.regions[:1]})))
    deleted = {c.urn for c in d.changes if c.action == "delete"}
    held = {r["urn"] for r in base["resources"] if r["custom"] and r["region"] == "eu-west-1"}
    assert held and held <= deleted
    assert any(c.type.endswith("GlobalReplicationGroup") for c in d.changes if c.action == "delete")
    assert d.count("create") == 0


def test_a_rotated_secret_shows_as_a_changed_secret_and_never_its_value(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The stack file's `secure:` ciphertext changes (`pulumi config set --secret`): the Redis groups get
    an in-place token rotation, the Kubernetes Secrets holding the token (the exporter's and the gateway's)
    are replaced (pulumi-kubernetes replaces Secrets on a data change), the gateway Deployments roll (their
    template's secret-version digest changes), and neither the placeholder nor the ciphertext is shown."""
    old_blob, new_blob = "v1:Zmlyc3QtY2lwaGVydGV4dA==", "v1:c2Vjb25kLWNpcGhlcnRleHQ="
    edited_stack_file(tmp_path / "before", "prod", set_secret(old_blob))
    edited_stack_file(tmp_path / "after", "prod", set_secret(new_blob))
    monkeypatch.setenv("STREAMGATE_STACKS_DIR", str(tmp_path / "before"))
    before = document_of_config(load_stack("prod"))
    monkeypatch.setenv("STREAMGATE_STACKS_DIR", str(tmp_path / "after"))
    after = document_of_config(load_stack("prod"))

    d = diff("prod", after, before)
    actions = changed(d)
    groups = {k: v for k, v in actions.items() if k[0] == REPLICATION_GROUP}
    secrets = {k: v for k, v in actions.items() if k[0] == K8S_SECRET}
    rolled = {k: v for k, v in actions.items() if k[0] == "kubernetes:apps/v1:Deployment"}
    assert len(groups) == 3 and set(groups.values()) == {"update"}
    assert len(secrets) == 6 and set(secrets.values()) == {"replace"}
    assert len(rolled) == 6 and set(rolled.values()) == {"update"}
    assert len(actions) == 15
    for c in d.changes:
        (p,) = c.properties
        if c.type == "kubernetes:apps/v1:Deployment":
            assert p.path.endswith('annotations["streamgate/secret-version"]') or "secret-version" in p.path
            assert p.old != p.new and "[secret]" not in (p.old, p.new)  # a digest, never the value
            continue
        assert (p.kind, p.old, p.new) == ("rotated", "[secret]", "[secret]")
        assert p.path == ("authToken" if c.type == REPLICATION_GROUP else "stringData")
    shown = json.dumps(d.to_json()) + markdown.render(d)
    for hidden in (PLACEHOLDER_SECRET, old_blob, new_blob):
        assert hidden not in shown
    assert "rotated · **replace**" in markdown.render(d)

    # The same ciphertext planned again: no rotation.
    assert diff("prod", document_of_config(load_stack("prod")), after).empty


def test_an_immutable_property_marks_the_resource_replaced() -> None:
    cfg = load_stack("dev")
    region = cfg.regions[0].model_copy(update={"vpc_cidr": "10.99.0.0/16"})
    d = diff("dev", document_of_config(cfg.model_copy(update={"regions": [region]})))
    vpc = next(c for c in d.changes if c.type == "aws:ec2/vpc:Vpc")
    assert vpc.action == "replace"
    assert [(p.path, p.replace) for p in vpc.properties] == [("cidrBlock", True)]
    subnets = [c for c in d.changes if c.type == "aws:ec2/subnet:Subnet"]
    assert len(subnets) == 6 and {c.action for c in subnets} == {"replace"}
    # What only refers to the VPC by id does not change: mock ids follow names, not CIDRs.
    assert not [c for c in d.changes if c.type == "aws:ec2/routeTable:RouteTable"]


def test_a_policy_newly_violated_and_then_fixed() -> None:
    cfg = load_stack("prod")
    weaker = cfg.model_copy(update={"autoscaling": cfg.autoscaling.model_copy(update={"min_replicas": 1})})
    head = document_of_config(weaker)
    d = diff("prod", head)
    assert d.base_verdict.passed and not d.head_verdict.passed
    assert d.head_verdict.mandatory == 6 == len(d.violations_added)
    assert {(v.policy, v.level) for v in d.violations_added} == {("gateway-autoscaled", "mandatory")}
    assert all(
        v.resource.startswith("kubernetes:autoscaling/v2:HorizontalPodAutoscaler::")
        for v in d.violations_added
    )
    assert d.violations_fixed == []
    hpas = [c for c in d.changes if c.type == "kubernetes:autoscaling/v2:HorizontalPodAutoscaler"]
    assert len(hpas) == 6 and all(c.action == "update" for c in hpas)
    text = markdown.render(d)
    # + the alert rules naming minReplicas (predictive scaling's fallback) and the scaling job's stack.
    assert text.startswith(
        "**`prod`**: 9 to update · 3 to replace · policies: **failed** (6 mandatory), 6 new violation(s)"
    )
    assert "New violations:" in text and "gateway-autoscaled" in text

    back = diff_documents("prod", head, shipped_document("prod"), "weaker", "restored")
    assert len(back.violations_fixed) == 6 and back.violations_added == [] and back.head_verdict.passed
