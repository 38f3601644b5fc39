"""The stack model refuses, at load, what the program, the runtime, the automation or AWS would refuse (or
silently misread) later: booleans where numbers belong, keys given twice, overlapping VPCs, and every
cross-field constraint in infra/config_checks.py. Each is reported with file, key path and fix, exit 2."""

from __future__ import annotations

import copy
from collections.abc import Callable, Iterator
from enum import Enum
from pathlib import Path
from typing import Any

import pytest
import yaml
from pydantic import BaseModel
from pydantic.alias_generators import to_camel

from infra.config import StackConfig, load_stack, parse_stack, stack_file
from infra.errors import ConfigError

Change = Callable[[dict[str, Any]], None]


def _prod() -> dict[str, Any]:
    return yaml.safe_load(stack_file("prod").read_text())


def _local() -> dict[str, Any]:
    return yaml.safe_load(stack_file("local").read_text())


def _full() -> dict[str, Any]:
    """prod plus every optional section that has numbers in it (checks, webhooks, Route 53 router)."""
    doc = _prod()
    doc["config"]["streamgate:rollout"].update(
        analysisWindowSeconds=240,
        router="route53",
        route53={"recordName": "gateway.streamgate.example.com", "targets": {"blue": "b", "green": "g"}},
        checks=[{"name": "errors", "query": "sum(rate(x_total{ {{ selector }} }[{{ window }}]))", "max": 1}],
        webhooks=[{"name": "smoke", "type": "pre-rollout", "command": ["true"]}],
    )
    return doc


def _load(tmp_path: Path, doc: Any) -> StackConfig:
    path = tmp_path / "Pulumi.broken.yaml"
    path.write_text(doc if isinstance(doc, str) else yaml.safe_dump(doc))
    return load_stack("broken", path)


def _rejected(tmp_path: Path, doc: Any) -> str:
    with pytest.raises(ConfigError) as err:
        _load(tmp_path, doc)
    assert err.value.exit_code == 2
    message = str(err.value)
    assert message.startswith(str(tmp_path / "Pulumi.broken.yaml")), message
    return message


def _as_document(value: Any) -> Any:
    if isinstance(value, BaseModel):
        return {to_camel(name): _as_document(getattr(value, name)) for name in type(value).model_fields}
    if isinstance(value, list | tuple):
        return [_as_document(v) for v in value]
    if isinstance(value, dict):
        return {k: _as_document(v) for k, v in value.items()}
    return value.value if isinstance(value, Enum) else value


def _numbers(
    value: Any, path: tuple[str | int, ...] = (), integer: bool = False
) -> Iterator[tuple[tuple[str | int, ...], bool]]:
    """(path, whether the field is an int field) of every int and float field set in a loaded stack."""
    if isinstance(value, BaseModel):
        for name, field in type(value).model_fields.items():
            is_int = "int" in str(field.annotation) and "float" not in str(field.annotation)
            yield from _numbers(getattr(value, name), (*path, to_camel(name)), is_int)
    elif isinstance(value, list | tuple):
        for i, item in enumerate(value):
            yield from _numbers(item, (*path, i), integer)
    elif isinstance(value, int | float) and not isinstance(value, bool):
        yield path, integer


def test_the_full_stack_used_below_loads(tmp_path: Path) -> None:
    assert _load(tmp_path, _full()).rollout.router == "route53"


@pytest.mark.parametrize("value", [True, False, 2.0, "3"], ids=["yes", "no", "float", "string"])
def test_no_numeric_field_takes_a_boolean_float_or_string(tmp_path: Path, value: Any) -> None:
    """`minNodes: yes` once planned a node group of 1: every number of the model is strict, as a class."""
    cfg = _load(tmp_path, _full())
    document = {f"streamgate:{k}": v for k, v in _as_document(cfg).items() if k != "stack"}
    paths = list(_numbers(cfg))
    assert len(paths) > 60  # every section's numbers, not a hand-picked few
    accepted = []
    for path, integer in paths:
        if isinstance(value, float) and not integer:
            continue  # a float where a float belongs
        doc = copy.deepcopy(document)
        _put(doc, path, value)
        try:
            parse_stack("broken", {"config": doc}, tmp_path / "Pulumi.broken.yaml")
        except ConfigError as exc:
            assert f"(got {value!r})" in str(exc), str(exc)
            continue
        accepted.append(path)
    assert accepted == []


def _put(doc: dict[str, Any], path: tuple[str | int, ...], value: Any) -> None:
    if len(path) == 1:
        doc[f"streamgate:{path[0]}"] = value
        return
    node: Any = doc[f"streamgate:{path[0]}"]
    for part in path[1:-1]:
        node = node[part]
    node[path[-1]] = value


def test_a_yaml_boolean_where_a_count_belongs_says_why(tmp_path: Path) -> None:
    text = stack_file("prod").read_text().replace("minNodes: 3", "minNodes: yes", 1)
    message = _rejected(tmp_path, text)
    assert "streamgate:regions[0].cluster.minNodes: Input should be a valid integer (got True)" in message
    assert "YAML reads unquoted yes/no/on/off/true/false as booleans" in message


def test_a_key_given_twice_is_an_error_with_both_lines(tmp_path: Path) -> None:
    text = stack_file("prod").read_text()
    lines = text.splitlines()
    at = next(i for i, line in enumerate(lines) if "minNodes: 3" in line)
    lines.insert(at + 1, lines[at].replace("3", "1"))
    message = _rejected(tmp_path, "\n".join(lines))
    assert (
        f":{at + 2}: streamgate:regions[0].cluster.minNodes: given twice (first on line {at + 1})" in message
    )
    top = text + "  streamgate:domain: other.example.com\n"
    assert "streamgate:domain: given twice" in _rejected(tmp_path, top)


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        (
            lambda c: c["streamgate:regions"][0]["cluster"].update(minNode=3),
            "streamgate:regions[0].cluster.minNode: unknown key: did you mean minNodes?",
        ),
        (
            lambda c: c.update({"streamgate:regoins": []}),
            "streamgate:regoins: unknown key: did you mean regions?",
        ),
        (
            lambda c: c.update({"streamgate:redisAuthTokn": {"secure": "x"}}),
            "did you mean redisAuthToken?",
        ),
        (
            lambda c: c["streamgate:rollout"].update(failureTreshold=2),
            "streamgate:rollout.failureTreshold: unknown key: did you mean failureThreshold?",
        ),
        (
            lambda c: c["streamgate:autoscaling"]["vpa"].update(maxalowed={}),
            "did you mean maxAllowed?",
        ),
        (
            lambda c: c.update({"streamgte:domain": "x.example.com"}),
            "streamgte:domain: unknown namespace 'streamgte': did you mean streamgate:domain?",
        ),
        (lambda c: c.update({"regions": []}), "regions: no namespace: did you mean streamgate:regions?"),
    ],
    ids=["nested", "top-level", "secret", "rollout", "case", "namespace", "no namespace"],
)
def test_misspelt_keys_get_a_did_you_mean(tmp_path: Path, change: Change, expected: str) -> None:
    doc = _prod()
    change(doc["config"])
    assert expected in _rejected(tmp_path, doc)


def _set(section: str, **values: Any) -> Change:
    def apply(config: dict[str, Any]) -> None:
        node = config
        *parents, last = section.split(".")
        for part in parents:
            node = node[int(part)] if part.isdigit() else node.setdefault(part, {})
        target = node.setdefault(last, {}) if not last.isdigit() else node[int(last)]
        target.update(values)

    return apply


def _regions(*cidrs: str) -> Change:
    def apply(config: dict[str, Any]) -> None:
        for region, cidr in zip(config["streamgate:regions"], cidrs, strict=False):
            region["vpcCidr"] = cidr

    return apply


CONSTRAINTS: list[tuple[str, Change, str]] = [
    (
        "overlapping vpcs",
        _regions("10.0.0.0/16", "10.0.128.0/17"),
        "streamgate:regions[1].vpcCidr: 10.0.128.0/17 overlaps regions[0].vpcCidr 10.0.0.0/16 (us-east-1)",
    ),
    (
        "overlap with a later region",
        _regions("10.0.0.0/16", "10.1.0.0/16", "10.1.0.0/20"),
        "regions[2].vpcCidr",
    ),
    ("vpc larger than aws allows", _regions("10.0.0.0/12"), "is not an IPv4 block of /16 to /20"),
    ("ipv6 vpc", _regions("2001::/16"), "is not an IPv4 block"),
    (
        "eks version as a float",
        lambda c: c["streamgate:regions"][0]["cluster"].update(kubernetesVersion="1.3"),
        "regions[0].cluster.kubernetesVersion: '1.3' is not a Kubernetes minor version",
    ),
    (
        "instance type",
        lambda c: c["streamgate:regions"][0]["cluster"].update(nodeInstanceTypes=["m6i large"]),
        "'m6i large' is not an EC2 instance type",
    ),
    (
        "node group above the eks quota",
        lambda c: c["streamgate:regions"][0]["cluster"].update(maxNodes=500),
        "regions[0].cluster.maxNodes: 500 is above EKS's 450",
    ),
    (
        "prod single node",
        lambda c: c["streamgate:regions"][2]["cluster"].update(minNodes=1, desiredNodes=1),
        "regions[2].cluster.minNodes: 1: a prod node group needs at least 2 nodes",
    ),
    (
        "public cidr with host bits",
        lambda c: c["streamgate:regions"][0]["cluster"].update(publicAccessCidrs=["203.0.113.7/24"]),
        "203.0.113.7/24 has host bits set",
    ),
    (
        "public cidr v6",
        lambda c: c["streamgate:regions"][0]["cluster"].update(publicAccessCidrs=["2001:db8::/32"]),
        "IPv4 blocks only",
    ),
    (
        "prod endpoint open to the internet",
        lambda c: c["streamgate:regions"][0]["cluster"].update(publicAccessCidrs=["0.0.0.0/0"]),
        "0.0.0.0/0 opens the prod API endpoint",
    ),
    (
        "too many public cidrs",
        lambda c: c["streamgate:regions"][0]["cluster"].update(
            publicAccessCidrs=[f"203.0.{i}.0/24" for i in range(41)]
        ),
        "41 blocks; EKS takes at most 40",
    ),
    (
        "pods do not fit the node floor",
        _set("streamgate:autoscaling", minReplicas=5),
        "regions[0].cluster.minNodes: 3 node(s) x failover.podsPerNode 3 cannot hold both colors'",
    ),
    (
        "max replicas do not fit",
        _set("streamgate:autoscaling", maxReplicas=61),
        "regions[2].cluster.maxNodes: 20 node(s) x failover.podsPerNode 3 cannot hold autoscaling.maxReplicas (61)",
    ),
    (
        "prod one replica",
        _set("streamgate:autoscaling", minReplicas=1),
        "prod gateways need at least 2 replicas",
    ),
    (
        "vpa bounds exclude the request",
        _set("streamgate:autoscaling.vpa", minAllowed={"memory": "1Gi"}),
        "autoscaling.vpa.minAllowed.memory: 1Gi is above workload.memoryRequest (512Mi)",
    ),
    (
        "image with a tag",
        _set("streamgate:workload", image="ghcr.io/x/Gateway:1"),
        "is not an image repository",
    ),
    (
        "engine version",
        _set("streamgate:redis", engineVersion="7"),
        "redis.engineVersion: '7' is not major.minor",
    ),
    ("cache node type", _set("streamgate:redis", nodeType="r7g.large"), "is not an ElastiCache node type"),
    (
        "burstable node in a global datastore",
        _set("streamgate:redis", nodeType="cache.t4g.small"),
        "Global Datastore, which does not support burstable",
    ),
    (
        "four regions in a global datastore",
        lambda c: c["streamgate:regions"].append(
            {"name": "sa-east-1", "vpcCidr": "10.3.0.0/16", "cluster": {"minNodes": 3, "maxNodes": 30}}
        ),
        "4 regions: an ElastiCache Global Datastore spans at most 3",
    ),
    (
        "prod without a redis replica",
        _set("streamgate:redis", replicas=0),
        "redis.replicas: 0: prod Redis needs",
    ),
    (
        "backup schedule",
        _set("streamgate:backup", intervalHours=5),
        "backup.intervalHours: 5: the backup schedule",
    ),
    (
        "object lock longer than s3 allows",
        _set("streamgate:backup", retentionDays=40000),
        "S3 Object Lock retains at most 36500 days",
    ),
    (
        "latency objective off the histogram",
        _set("streamgate:slo", latencyObjectiveSeconds=0.2),
        "slo.latencyObjectiveSeconds: 0.2 is not a bucket",
    ),
    (
        "window shorter than two scrapes",
        _set("streamgate:rollout", analysisWindowSeconds=20),
        "rollout.analysisWindowSeconds: 20s holds fewer than 2 scrapes (15s apart)",
    ),
    (
        "ticks faster than scrapes",
        _set("streamgate:rollout", intervalSeconds=5),
        "rollout.intervalSeconds: 5s is shorter than the scrape interval (15s)",
    ),
    ("nginx router on aws", _set("streamgate:rollout", router="nginx"), "nginx does not route target aws"),
    (
        "unused route53 section",
        _set(
            "streamgate:rollout",
            route53={"recordName": "a.streamgate.example.com", "targets": {"blue": "b", "green": "g"}},
        ),
        "rollout.route53: is set but rollout.router is not route53",
    ),
    (
        "route53 record outside the zone",
        _set(
            "streamgate:rollout",
            router="route53",
            route53={"recordName": "gateway.example.org", "targets": {"blue": "b", "green": "g"}},
        ),
        "gateway.example.org is outside the stack's zone streamgate.example.com",
    ),
    (
        # Cluster access comes from the stack's outputs now: the old hand-set key is refused as unknown.
        "kube contexts by hand",
        _set("streamgate:rollout", kubeContexts={"us-east-1": "ctx"}),
        "rollout.kubeContexts: unknown key",
    ),
    (
        "webhook names",
        _set(
            "streamgate:rollout",
            webhooks=[
                {"name": "smoke", "type": "pre-rollout", "command": ["true"]},
                {"name": "smoke", "type": "rollout", "command": ["true"]},
            ],
        ),
        "rollout.webhooks: names must be distinct",
    ),
    (
        "check with an unknown variable",
        _set("streamgate:rollout", checks=[{"name": "e", "query": "x{ {{ colour }} }", "max": 1}]),
        "rollout.checks[0].query: template variable {{ colour }} is unknown",
    ),
    (
        "check reading no series",
        _set("streamgate:rollout", checks=[{"name": "e", "query": "vector(1)", "max": 1}]),
        "rollout.checks[0].query: reads no series selector",
    ),
    (
        "check named like the freshness check",
        _set(
            "streamgate:rollout",
            checks=[{"name": "canary-targets", "query": "x{ {{ selector }} }", "max": 1}],
        ),
        "are built-in check names",
    ),
    (
        "fence shorter than catch-up",
        _set("streamgate:failover", catchUpTimeoutSeconds=10, fenceTimeoutSeconds=10),
        "failover.catchUpTimeoutSeconds: 10s must be shorter than fenceTimeoutSeconds (10s)",
    ),
    (
        "failover adapters are the target's, not a setting",
        _set("streamgate:failover", datastore="redis"),
        "failover.datastore",
    ),
    (
        "stack tag overridden",
        lambda c: c.update({"streamgate:tags": {"streamgate/environment": "dev"}}),
        "tags.streamgate/environment: is set by the stack itself",
    ),
    (
        "aws tag prefix",
        lambda c: c.update({"streamgate:tags": {"aws:owner": "x"}}),
        "the aws: prefix is reserved",
    ),
]


@pytest.mark.parametrize(("label", "change", "expected"), CONSTRAINTS, ids=[c[0] for c in CONSTRAINTS])
def test_cross_field_constraints_are_checked_at_load(
    tmp_path: Path, label: str, change: Change, expected: str
) -> None:
    doc = _prod()
    change(doc["config"])
    message = _rejected(tmp_path, doc)
    assert expected in message, message
    assert f"{tmp_path / 'Pulumi.broken.yaml'}: streamgate:" in message


LOCAL_CONSTRAINTS: list[tuple[str, Change, str]] = [
    (
        "sample larger than the edge cache",
        _set("streamgate:local", edgeCacheMaxMegabytes=1, sampleSegments=10),
        "local.edgeCacheMaxMegabytes: 1 MiB cannot hold the sample",
    ),
    (
        "ingress router on local",
        _set("streamgate:rollout", router="ingress-nginx"),
        "ingress-nginx does not route target local",
    ),
    (
        "window of one scrape",
        _set("streamgate:rollout", analysisWindowSeconds=3),
        "3s holds fewer than 2 scrapes (2s apart)",
    ),
    (
        "bad stack name",
        lambda c: c.update({"streamgate:stack": "My_Stack"}),
        "streamgate:stack: 'My_Stack': stack names",
    ),
]


@pytest.mark.parametrize(
    ("label", "change", "expected"), LOCAL_CONSTRAINTS, ids=[c[0] for c in LOCAL_CONSTRAINTS]
)
def test_local_platform_constraints(tmp_path: Path, label: str, change: Change, expected: str) -> None:
    doc = _local()
    change(doc["config"])
    assert expected in _rejected(tmp_path, doc)


def test_every_problem_is_reported_at_once(tmp_path: Path) -> None:
    doc = _prod()
    _regions("10.0.0.0/16", "10.0.0.0/17")(doc["config"])
    _set("streamgate:backup", intervalHours=5)(doc["config"])
    lines = _rejected(tmp_path, doc).splitlines()
    assert len(lines) == 2 and all(line.startswith(str(tmp_path)) for line in lines)
