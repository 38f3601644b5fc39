"""`streamgate plan STACK --against EXPORT`: the code's plan against what `pulumi stack export` says is
deployed, without the Pulumi CLI.

No stack is deployed here, so the export is built as `pulumi up` would have recorded the plan's resources
(deployment version 3, Pulumi's property-value encoding): ids and ARNs the cloud assigned, integers,
encrypted secrets, `__defaults`, provider references with ids, the Stack resource. Then what was deployed
is changed the ways real stacks drift from their code."""

from __future__ import annotations

import copy
import json
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from infra import cli
from infra.preview.export import SECRET_SIG, SIG
from tests.infra.preview_support import shipped_document, use_cached_plans

STACK_URN = "urn:pulumi:prod::streamgate::pulumi:pulumi:Stack::streamgate-prod"
PLAINTEXT = "s3cr3t-token-never-shown"


@pytest.fixture(autouse=True)
def cached_plans(monkeypatch: pytest.MonkeyPatch) -> None:
    use_cached_plans(monkeypatch)


def deployed(document: dict[str, Any], show_secrets: bool = False) -> dict[str, Any]:
    """`document`'s resources as `pulumi stack export` shows them after `pulumi up`."""
    real: dict[str, str] = {}
    for n, r in enumerate(document["resources"]):
        if r.get("id"):
            real[r["id"]] = f"real-{n:04d}"
        if r.get("arn"):
            # Another account's resource of the same service and type (policies read the ARN's kind).
            kind = re.match(r"(arn:aws:[^:]*:[^:]*:)\d*(:(?:[a-z-]+[/:])?)", r["arn"])
            head = f"{kind.group(1)}210987654321{kind.group(2)}" if kind else "arn:aws:svc::210987654321:"
            real[r["arn"]] = f"{head}real-{n:04d}"
    pattern = re.compile("|".join(re.escape(k) for k in sorted(real, key=len, reverse=True)))

    def encode(value: Any) -> Any:
        if value == "[secret]":
            return {
                SIG: SECRET_SIG,
                **({"plaintext": json.dumps(PLAINTEXT)} if show_secrets else {"ciphertext": "djE6AAAA"}),
            }
        if isinstance(value, str):
            return pattern.sub(lambda m: real[m.group()], value)
        if isinstance(value, float) and value.is_integer():
            return int(value)  # the state keeps integers; the mocks hand back floats
        if isinstance(value, dict):
            return {k: encode(v) for k, v in value.items()}
        if isinstance(value, list):
            return [encode(v) for v in value]
        return value

    resources: list[dict[str, Any]] = [{"urn": STACK_URN, "custom": False, "type": "pulumi:pulumi:Stack"}]
    for r in document["resources"]:
        entry: dict[str, Any] = {
            "urn": r["urn"],
            "custom": r["custom"],
            "type": r["type"],
            "inputs": {**encode(r["inputs"]), "__defaults": []},
            "outputs": encode(r["inputs"]),
            "parent": r["parent"] or STACK_URN,
        }
        if r.get("id"):
            entry["id"] = real[r["id"]]
        if r.get("arn"):
            entry["outputs"]["arn"] = real[r["arn"]]
        if r.get("provider"):
            entry["provider"] = f"{r['provider']}::0b7a3f1e-5c2d-4e8f-9a6b-1c2d3e4f5a6b"
        resources.append(entry)
    return {
        "version": 3,
        "deployment": {
            "manifest": {"time": "2026-11-30T10:00:00Z", "magic": "0" * 64, "version": "v3.272.0"},
            "secrets_providers": {"type": "passphrase", "state": {"salt": "v1:AAAA"}},
            "resources": resources,
        },
    }


def against(tmp_path: Path, export: dict[str, Any], *args: str) -> Any:
    path = tmp_path / "prod.export.json"
    path.write_text(json.dumps(export))
    return CliRunner().invoke(cli.app, ["plan", "prod", "--against", str(path), "--format", "json", *args])


def find(export: dict[str, Any], type_token: str, name: str) -> dict[str, Any]:
    return next(
        r
        for r in export["deployment"]["resources"]
        if r["type"] == type_token and r["urn"].endswith(f"::{name}")
    )


def test_what_was_deployed_from_this_code_differs_in_nothing(tmp_path: Path) -> None:
    """Real ids and ARNs on the deployed side, mock ones in the plan: mapped by URN, never a change."""
    result = against(tmp_path, deployed(shipped_document("prod")))
    assert result.exit_code == 0, result.output[-2000:]
    diff = json.loads(result.stdout)
    assert diff["changes"] == [] and diff["base"] == "deployed (prod.export.json)"
    assert diff["policy"]["base"]["passed"] and diff["policy"]["added"] == []


def test_pending_changes_and_interrupted_operations(tmp_path: Path) -> None:
    export = deployed(shipped_document("prod"))
    resources = export["deployment"]["resources"]
    # Deployed before the segment TTL went to a year.
    policy = find(export, "aws:cloudfront/cachePolicy:CachePolicy", "cdn-segments")
    policy["inputs"].update(defaultTtl=86400, maxTtl=86400)
    # Deployed before the WAF existed; and a bucket since removed from the code.
    resources.remove(find(export, "aws:wafv2/webAcl:WebAcl", "waf-acl"))
    gone = copy.deepcopy(find(export, "aws:s3/bucket:Bucket", "cdn-logs"))
    gone["urn"] = gone["urn"].replace("::cdn-logs", "::old-logs")
    resources.append(gone)
    # An endpoint AWS computed: the plan only knows a mock one, so it is not compared.
    release = next(
        r for r in resources if r["type"] == "kubernetes:helm.sh/v3:Release" and "redis-exporter" in r["urn"]
    )
    values = json.dumps(release["inputs"])
    assert "cache.amazonaws.com" in values
    release["inputs"] = json.loads(
        re.sub(
            r"master\.[\w.-]+\.cache\.amazonaws\.com",
            "master.sg-prod-use1.abcd12.use1.cache.amazonaws.com",
            values,
        )
    )
    # An interrupted update, and an old copy awaiting deletion.
    export["deployment"]["pending_operations"] = [{"resource": copy.deepcopy(policy), "type": "updating"}]
    leftover = copy.deepcopy(find(export, "aws:ec2/vpc:Vpc", "us-east-1-network-vpc"))
    leftover["delete"] = True
    resources.append(leftover)

    result = against(tmp_path, export)
    assert result.exit_code == 0, result.output[-2000:]
    diff = json.loads(result.stdout)
    changes = {(c["type"], c["name"]): c for c in diff["changes"]}
    assert set(changes) == {
        ("aws:cloudfront/cachePolicy:CachePolicy", "cdn-segments"),
        ("aws:wafv2/webAcl:WebAcl", "waf-acl"),
        ("aws:s3/bucket:Bucket", "old-logs"),
    }
    ttl = changes[("aws:cloudfront/cachePolicy:CachePolicy", "cdn-segments")]
    assert ttl["action"] == "update"
    assert {(p["path"], p["old"], p["new"]) for p in ttl["properties"]} == {
        ("defaultTtl", 86400, 31536000),
        ("maxTtl", 86400, 31536000),
    }
    assert changes[("aws:wafv2/webAcl:WebAcl", "waf-acl")]["action"] == "create"
    assert changes[("aws:s3/bucket:Bucket", "old-logs")]["action"] == "delete"
    notes = " ".join(diff["notes"])
    assert "operation `updating` was interrupted" in notes and "pulumi refresh" in notes
    assert "an old copy awaits deletion" in notes
    assert re.search(r"\d+ value\(s\) computed by the cloud are unknown offline", notes)


def test_the_deployed_side_is_judged_by_the_policy_pack_too(tmp_path: Path) -> None:
    export = deployed(shipped_document("prod"))
    for r in export["deployment"]["resources"]:
        if r["type"] == "kubernetes:autoscaling/v2:HorizontalPodAutoscaler":
            r["inputs"]["spec"]["minReplicas"] = 1
    diff = json.loads(against(tmp_path, export).stdout)
    assert diff["policy"]["base"] == {"passed": False, "mandatory": 6, "advisory": 0}
    assert len(diff["policy"]["fixed"]) == 6 and diff["policy"]["head"]["passed"]


def test_secrets_are_never_read_even_from_an_export_with_plaintext(tmp_path: Path) -> None:
    result = against(tmp_path, deployed(shipped_document("prod"), show_secrets=True))
    assert result.exit_code == 0 and json.loads(result.stdout)["changes"] == []
    assert PLAINTEXT not in result.output


@pytest.mark.parametrize(
    ("mutate", "message"),
    [
        (lambda e: e.update(version=2), "deployment version 2; this streamgate reads version 3"),
        (lambda e: e.pop("deployment"), "not the JSON of `pulumi stack export`"),
        (
            lambda e: [
                r.update(urn=r["urn"].replace("urn:pulumi:prod::", "urn:pulumi:dev::"))
                for r in e["deployment"]["resources"]
            ],
            "an export of dev/streamgate, not of prod/streamgate: export stack prod",
        ),
    ],
)
def test_an_unusable_export_is_bad_input(
    tmp_path: Path, mutate: Callable[[dict[str, Any]], Any], message: str
) -> None:
    export = deployed(shipped_document("prod"))
    mutate(export)
    result = against(tmp_path, export)
    assert result.exit_code == 2, result.output[-2000:]
    assert message in result.output.replace("\n", " ")
