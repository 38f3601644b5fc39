"""`streamgate plan STACK --diff REF` end to end, as a user or CI runs it: in a scratch git repository holding
this project, with a commit that changes prod (a TTL and a rotated secret) and one that changes only dev.
The base is planned from a temporary worktree of REF by its own code, in a second process."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from tests.infra.preview_support import commit, edited_stack_file, git, project_repo, set_secret, streamgate

pytestmark = pytest.mark.slow


def set_ttl(seconds: int) -> Callable[[dict[str, Any]], None]:
    def edit(config: dict[str, Any]) -> None:
        config["streamgate:cdn"]["segmentTtlSeconds"] = seconds

    return edit


@pytest.fixture
def repo(tmp_path: Path) -> dict[str, Any]:
    """This project's files in a fresh repository: c1 as shipped, c2 changes prod, c3 changes only dev."""
    root = tmp_path / "repo"
    c1 = project_repo(root)
    stacks = root / "stacks"
    edited_stack_file(stacks, "prod", set_ttl(604800), source=stacks / "Pulumi.prod.yaml")
    edited_stack_file(
        stacks, "prod", set_secret("v1:bmV3LWNpcGhlcnRleHQ="), source=stacks / "Pulumi.prod.yaml"
    )
    c2 = commit(root, "prod: week-long segment TTL, new Redis token")
    edited_stack_file(stacks, "dev", set_ttl(1800), source=stacks / "Pulumi.dev.yaml")
    c3 = commit(root, "dev: shorter segment TTL")
    return {"root": root, "c1": c1, "c2": c2, "c3": c3}


def actions(diff: dict[str, Any]) -> dict[tuple[str, str], str]:
    return {(c["type"], c["name"]): c["action"] for c in diff["changes"]}


def prod_change_expected() -> dict[tuple[str, str], str]:
    regions = ("us-east-1", "eu-west-1", "ap-southeast-1")
    return {
        ("aws:cloudfront/cachePolicy:CachePolicy", "cdn-segments"): "update",
        **{
            ("aws:elasticache/replicationGroup:ReplicationGroup", f"{r}-cache-redis"): "update"
            for r in regions
        },
        **{("kubernetes:core/v1:Secret", f"{r}-addons-redis-exporter-auth"): "replace" for r in regions},
        # The gateways hold the Redis token too, and serve segments with the stack's TTL.
        **{("kubernetes:core/v1:Secret", f"{r}-gateway-secrets"): "replace" for r in regions},
        **gateways(regions),
        # The predictive-scaling job reads the whole stack from a ConfigMap, replaced on any change of it.
        **{("kubernetes:core/v1:ConfigMap", f"{r}-scaling-stack"): "replace" for r in regions},
    }


def gateways(regions: tuple[str, ...]) -> dict[tuple[str, str], str]:
    return {
        ("kubernetes:apps/v1:Deployment", f"{r}-gateway-{color}"): "update"
        for r in regions
        for color in ("blue", "green")
    }


def test_diff_against_the_previous_commit_shows_exactly_that_commits_change(repo: dict[str, Any]) -> None:
    root = repo["root"]
    git(root, "checkout", "-q", repo["c2"])
    done = streamgate(root, "plan", "prod", "--diff", "HEAD~1", "--format", "markdown", "--out-dir", "out")
    assert done.returncode == 0, done.stderr[-2000:]
    text = done.stdout
    # 6 rotated secrets, and predictive scaling's stack ConfigMap per region (a copy of the stack file).
    assert text.splitlines()[0] == "**`prod`**: 10 to update · 9 to replace · policies: passed"
    assert f"base <code>HEAD~1 ({repo['c1'][:12]})</code>" in text
    assert "<code>defaultTtl</code> | <code>31536000</code> | <code>604800</code>" in text
    assert text.count("rotated") == 9 and text.count("rotated · **replace**") == 6
    assert (root / "out" / "prod.md").read_text() == text

    full = json.loads((root / "out" / "prod.json").read_text())
    assert actions(full) == prod_change_expected()
    assert full["policy"]["added"] == [] and full["policy"]["fixed"] == []
    # The temporary worktree of the base is gone.
    assert len(git(root, "worktree", "list").splitlines()) == 1


def test_a_commit_that_did_not_touch_the_stack_shows_nothing(repo: dict[str, Any]) -> None:
    done = streamgate(repo["root"], "plan", "prod", "--diff", "HEAD~1", "--format", "markdown")
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.splitlines()[0] == "**`prod`**: no changes · policies: passed"
    assert "<details>" not in done.stdout


def test_all_stacks_against_a_ref_in_one_run(repo: dict[str, Any]) -> None:
    done = streamgate(repo["root"], "plan", "--all", "--diff", repo["c1"], "--format", "json")
    assert done.returncode == 0, done.stderr[-2000:]
    diffs = {d["stack"]: d for d in json.loads(done.stdout)["stacks"]}
    assert set(diffs) == {"dev", "staging", "prod"}  # the local stack is never deployed by Pulumi
    assert actions(diffs["prod"]) == prod_change_expected()
    assert actions(diffs["staging"]) == {}
    assert actions(diffs["dev"]) == {
        ("aws:cloudfront/cachePolicy:CachePolicy", "cdn-segments"): "update",
        **gateways(("us-east-1",)),
    }
    (dev,) = [c for c in diffs["dev"]["changes"] if c["name"] == "cdn-segments"]
    assert (dev["name"], dev["action"]) == ("cdn-segments", "update")
    assert {(p["path"], p["old"], p["new"]) for p in dev["properties"]} == {
        ("defaultTtl", 3600, 1800),
        ("maxTtl", 3600, 1800),
    }


def test_an_unknown_ref_is_bad_input(repo: dict[str, Any]) -> None:
    done = streamgate(repo["root"], "plan", "prod", "--diff", "no-such-branch")
    assert done.returncode == 2
    assert "--diff no-such-branch: neither a saved plan file nor a commit of" in done.stderr
    assert "Traceback" not in done.stderr
