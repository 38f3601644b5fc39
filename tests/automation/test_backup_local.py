"""`streamgate backup` on the local platform: both regions' Redis nodes and content buckets (moto), the
platform's KMS key and Pushgateway."""

from __future__ import annotations

import json
import urllib.request
from collections.abc import Iterator
from typing import Any

import pytest
import redis
from typer.testing import CliRunner

from infra.automation.backup.cli import app
from infra.automation.backup.model import data_key
from infra.automation.targets import for_stack
from infra.config import load_stack
from infra.local.aws import s3_client
from infra.local.layout import LOOPBACK
from tests.automation.backup_contract import check_backup_target
from tests.local_platform import RunningPlatform
from tests.servers import RedisServer

cli = CliRunner()


@pytest.fixture
def platform(running_platform: RunningPlatform, monkeypatch: pytest.MonkeyPatch) -> Iterator[RunningPlatform]:
    monkeypatch.setenv("STREAMGATE_LOCAL_STATE_DIR", str(running_platform.platform.paths.root))
    yield running_platform


def invoke(*args: str) -> Any:
    return cli.invoke(app, list(args), catch_exceptions=False)


def objects(s3: Any, bucket: str) -> dict[str, bytes]:
    keys = [o["Key"] for o in s3.list_objects_v2(Bucket=bucket).get("Contents", [])]
    return {k: s3.get_object(Bucket=bucket, Key=k)["Body"].read() for k in keys}


def test_backup_verify_corrupt_and_restore_round_trip(
    platform: RunningPlatform, own_redis: RedisServer
) -> None:
    layout, resources = platform.layout, platform.platform.resources
    s3 = s3_client(layout.moto_url)
    primary = redis.Redis(host=LOOPBACK, port=layout.region("local-a").redis)
    primary.set("backup-probe", "before-the-backup")
    primary.execute_command("WAIT", 1, 2000)

    created = invoke("create", "--stack", "local", "--json")
    assert created.exit_code == 0, created.output
    rows = {r["region"]: r for r in json.loads(created.stdout)}
    assert set(rows) == {"local-a", "local-b"} and all(r["pushed"] for r in rows.values())
    backup_id = rows["local-a"]["backup_id"]
    content_bucket = resources.content_buckets["local-a"]
    source = objects(s3, content_bucket)
    # + the Redis snapshot, + the catalog's dump and its per-table figures
    assert source and rows["local-a"]["objects"] == len(source) + 1 + 2

    # The backup age reaches the Pushgateway (job streamgate-backup), per region, for the alert rules.
    metrics = urllib.request.urlopen(f"{layout.pushgateway_url}/metrics", timeout=5).read().decode()
    pushed = [
        line
        for line in metrics.splitlines()
        if line.startswith("streamgate_backup_last_success_timestamp_seconds{")
        and 'job="streamgate-backup"' in line
        and 'stack="local"' in line
    ]
    assert {r for r in ("local-a", "local-b") if any(f'region="{r}"' in line for line in pushed)} == {
        "local-a",
        "local-b",
    }

    listed = json.loads(invoke("list", "--stack", "local", "--region", "local-a", "--json").stdout)
    assert backup_id in [b["backup_id"] for b in listed if b["complete"]]
    clean = invoke("verify", "--stack", "local", backup_id, "--region", "local-a", "--json")
    assert clean.exit_code == 0, clean.output
    assert json.loads(clean.stdout)[0]["redis_keys"] >= 1

    # Restore round trip (before corrupting anything): byte-identical objects, the Redis data back.
    s3.create_bucket(Bucket="restored-a")
    restored = invoke(
        "restore", "--stack", "local", backup_id, "--region", "local-a",
        "--target-bucket", "restored-a", "--redis-url", own_redis.url, "--yes", "--json",
    )  # fmt: skip
    assert restored.exit_code == 0, restored.output
    assert objects(s3, "restored-a") == source
    assert redis.Redis(host=LOOPBACK, port=own_redis.port).get("backup-probe") == b"before-the-backup"

    # Corrupt one stored object: verify names it and fails.
    victim_key = sorted(source)[0]
    stored = data_key(backup_id, f"content/{victim_key}")
    backup_bucket = resources.backup_buckets["local-a"]
    blob = bytearray(s3.get_object(Bucket=backup_bucket, Key=stored)["Body"].read())
    blob[-5] ^= 0xFF
    s3.put_object(Bucket=backup_bucket, Key=stored, Body=bytes(blob))
    broken = invoke("verify", "--stack", "local", backup_id, "--region", "local-a", "--json")
    assert broken.exit_code == 1
    problems = json.loads(broken.stdout)[0]["problems"]
    assert [(p["key"], p["kind"]) for p in problems] == [(f"content/{victim_key}", "corrupted")]
    text = invoke("verify", "--stack", "local", backup_id, "--region", "local-a")
    assert f"content/{victim_key}" in text.stdout

    dry = invoke("prune", "--stack", "local", "--dry-run", "--json")
    assert dry.exit_code == 0 and all(not r["delete"] for r in json.loads(dry.stdout))


async def test_the_local_target_passes_the_backup_contract(platform: RunningPlatform) -> None:
    await check_backup_target(for_stack(load_stack("local")), "local-b")


def test_restore_checks_the_backup_exists_before_asking(platform: RunningPlatform) -> None:
    unknown = "20200101T000000Z-000000"
    result = cli.invoke(app, ["restore", "--stack", "local", unknown, "--region", "local-a"], input="y\n")
    assert result.exit_code == 2, result.output
    assert (
        f"no complete backup {unknown}" in result.output and "restore " not in result.output.split("error")[0]
    )
    malformed = cli.invoke(app, ["restore", "--stack", "local", "latest", "--region", "local-a", "--yes"])
    assert malformed.exit_code == 2 and "is not a backup id" in malformed.output


def test_prune_deletes_only_once_the_stack_name_is_typed_and_is_audited(platform: RunningPlatform) -> None:
    from infra.automation.audit.journal import Journal
    from infra.automation.backup.model import manifest_key

    s3 = s3_client(platform.layout.moto_url)
    bucket = platform.platform.resources.backup_buckets["local-b"]
    stale = "20200101T000000Z-abcdef"  # an incomplete backup (no manifest), years past the grace period
    s3.put_object(Bucket=bucket, Key=data_key(stale, "content/x"), Body=b"partial")
    assert not s3.list_objects_v2(Bucket=bucket, Prefix=manifest_key(stale)).get("Contents")

    def present() -> bool:
        return bool(s3.list_objects_v2(Bucket=bucket, Prefix=f"backups/{stale}/").get("Contents"))

    declined = cli.invoke(app, ["prune", "--stack", "local", "--region", "local-b"], input="yes\n")
    assert declined.exit_code == 3 and f"  {stale}:" in declined.output and present()
    pruned = cli.invoke(
        app, ["prune", "--stack", "local", "--region", "local-b", "--actor", "frank"], input="local\n"
    )
    assert pruned.exit_code == 0, pruned.output
    assert "deleted 1" in pruned.output and not present()
    [entry] = Journal(for_stack(load_stack("local")).state_store()).entries(1, "backup prune")
    assert (entry.actor, entry.outcome, entry.extra["deleted"]) == ("frank", "ok", [stale])
