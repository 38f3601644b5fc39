"""Which changes replace a resource: the table of immutable properties, matched on property paths."""

from __future__ import annotations

import pytest

from infra.preview.paths import flatten, property_path
from infra.preview.replace import forces_replacement


@pytest.mark.parametrize(
    ("type_token", "path", "replaces"),
    [
        ("aws:ec2/vpc:Vpc", "cidrBlock", True),
        ("aws:ec2/vpc:Vpc", "enableDnsHostnames", False),
        ("aws:eks/nodeGroup:NodeGroup", "instanceTypes[1]", True),  # inside a listed property
        ("aws:eks/nodeGroup:NodeGroup", "scalingConfig.minSize", False),  # UpdateNodegroupConfig
        ("aws:eks/nodeGroup:NodeGroup", "instanceTypesExtra", False),  # a prefix of a name is no match
        ("aws:eks/cluster:Cluster", "kubernetesNetworkConfig.serviceIpv4Cidr", True),
        ("aws:eks/cluster:Cluster", "version", False),
        ("aws:backup/selection:Selection", "resources[0]", True),  # no update call at all
        ("aws:cloudfront/distribution:Distribution", "origins[0].domainName", False),
        ("aws:s3/bucketVersioning:BucketVersioning", "bucket", True),
        ("kubernetes:apps/v1:Deployment", 'spec.selector.matchLabels["app.kubernetes.io/name"]', True),
        ("kubernetes:apps/v1:Deployment", "spec.replicas", False),
        ("kubernetes:core/v1:Service", "metadata.name", True),  # any kind: name and namespace
        ("kubernetes:core/v1:Secret", "stringData", True),
        ("kubernetes:helm.sh/v3:Release", "name", False),  # releases are diffed by the release logic
        ("pulumi:providers:aws", "region", False),  # unknown types are never guessed
    ],
)
def test_replacement_rules(type_token: str, path: str, replaces: bool) -> None:
    assert forces_replacement(type_token, path) is replaces


def test_paths_quote_keys_that_are_not_identifiers_and_flatten_to_leaves() -> None:
    assert property_path("", "spec") == "spec"
    assert (
        property_path("metadata.labels", "app.kubernetes.io/name")
        == 'metadata.labels["app.kubernetes.io/name"]'
    )
    assert property_path("origins", 2) == "origins[2]"
    assert flatten({"a": {"b": [1, {"c": None}], "e": {}}, "d": []}) == {
        "a.b[0]": 1,
        "a.b[1].c": None,
        "a.e": {},
        "d": [],
    }
