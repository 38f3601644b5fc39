"""Backups against real parts: moto's server (S3 + KMS), the envelope encryption, real redis-servers."""

from __future__ import annotations

import hashlib
import os
import time
from pathlib import Path
from typing import Any

import boto3
import pytest
import redis

from infra.automation.adapters.backup_source import RedisSnapshot, RegionBackup
from infra.automation.backup.backups import Backups
from infra.automation.backup.model import BackupInfo, data_key, manifest_key, retention
from runtime.security.envelope import Envelope
from runtime.security.envelope.format import FRAME, require_header
from runtime.security.settings import EncryptionSettings
from runtime.storage import ObjectStore
from tests.servers import LOOPBACK, MotoServer, RedisServer, redis_server

STACK = "test"


def s3(moto: MotoServer) -> Any:
    return boto3.client("s3", endpoint_url=moto.url, region_name="us-east-1")


@pytest.fixture
def setup(moto: MotoServer, own_redis: RedisServer) -> tuple[Backups, dict[str, bytes], Any]:
    moto.reset()
    client = s3(moto)
    for bucket in ("content", "backup", "restored"):
        client.create_bucket(Bucket=bucket)
    objects = {
        "sample/manifest": b"#EXTM3U\n",
        "sample/segments/0": os.urandom(300_000),
        "sample/segments/1": os.urandom(1000),
        "other/empty": b"",
    }
    for key, body in objects.items():
        client.put_object(Bucket="content", Key=key, Body=body)
    r = redis.Redis(host=LOOPBACK, port=own_redis.port)
    r.set("session:1", "alice")
    r.set("ttl-key", "x", ex=3600)
    r.hset("h", mapping={"a": "1", "b": "2"})
    kms = boto3.client("kms", endpoint_url=moto.url, region_name="us-east-1")
    key_id = kms.create_key()["KeyMetadata"]["KeyId"]
    envelope = Envelope(
        EncryptionSettings(
            kms_key_id=key_id, kms_endpoint_url=moto.url, region="us-east-1", chunk_size_bytes=64 * 1024
        ),
        kms=kms,
    )
    target = RegionBackup(
        STACK,
        "local-a",
        backup=ObjectStore("backup", client=client),
        envelope=envelope,
        content=ObjectStore("content", client=client),
        redis=RedisSnapshot(LOOPBACK, own_redis.port),
    )
    return Backups(target), objects, client


async def test_create_writes_encrypted_objects_and_a_manifest(
    setup: tuple[Backups, dict[str, bytes], Any],
) -> None:
    backups, objects, client = setup
    manifest = await backups.create()
    keys = {e.key: e for e in manifest.entries}
    assert set(keys) == {"redis/dump.rdb", *(f"content/{k}" for k in objects)}
    for key, body in objects.items():
        entry = keys[f"content/{key}"]
        assert entry.sha256 == hashlib.sha256(body).hexdigest() and entry.size == len(body)
        assert entry.source == f"s3://content/{key}"
        stored = client.get_object(Bucket="backup", Key=data_key(manifest.backup_id, entry.key))[
            "Body"
        ].read()
        assert len(stored) == entry.stored_size > len(body)
        if len(body) > 16:
            assert body[:16] not in stored  # encrypted, not a copy
    assert keys["redis/dump.rdb"].source.startswith("redis://") and keys["redis/dump.rdb"].size > 0
    raw_manifest = client.get_object(Bucket="backup", Key=manifest_key(manifest.backup_id))["Body"].read()
    assert b"sha256" not in raw_manifest  # the manifest is encrypted too
    listed = await backups.list()
    assert [(b.backup_id, b.complete, b.objects) for b in listed] == [(manifest.backup_id, True, len(keys))]


async def test_verify_names_every_corrupted_missing_or_extra_object(
    setup: tuple[Backups, dict[str, bytes], Any],
) -> None:
    backups, _, client = setup
    manifest = await backups.create()
    clean = await backups.verify(manifest.backup_id)
    assert clean.ok and clean.checked == len(manifest.entries) and clean.redis_keys == 3
    bid = manifest.backup_id
    victim = data_key(bid, "content/sample/segments/0")
    blob = bytearray(client.get_object(Bucket="backup", Key=victim)["Body"].read())
    blob[len(blob) // 2] ^= 0x01  # one flipped bit in the ciphertext
    client.put_object(Bucket="backup", Key=victim, Body=bytes(blob))
    client.delete_object(Bucket="backup", Key=data_key(bid, "content/sample/manifest"))
    client.put_object(Bucket="backup", Key=data_key(bid, "content/smuggled"), Body=b"x")
    # An object from another backup put in place of this one's fails too: the context binds the id.
    other = await backups.create()
    moved = client.get_object(Bucket="backup", Key=data_key(other.backup_id, "content/other/empty"))[
        "Body"
    ].read()
    client.put_object(Bucket="backup", Key=data_key(bid, "content/other/empty"), Body=moved)
    result = await backups.verify(bid)
    found = {(p.key, p.kind) for p in result.problems}
    assert found == {
        ("content/sample/segments/0", "corrupted"),
        ("content/sample/manifest", "missing"),
        ("content/smuggled", "unexpected"),
        ("content/other/empty", "corrupted"),
    }
    assert not result.ok and result.checked == len(manifest.entries) - 3


async def test_restore_round_trip_is_byte_identical(
    setup: tuple[Backups, dict[str, bytes], Any], tmp_path: Path
) -> None:
    backups, objects, client = setup
    manifest = await backups.create()
    with redis_server(tmp_path / "target") as target:
        result = await backups.restore(
            manifest.backup_id, to=ObjectStore("restored", client=client), redis_url=target.url
        )
        assert result.ok and result.objects == len(objects) and result.redis_keys == 3
        for key, body in objects.items():
            assert client.get_object(Bucket="restored", Key=key)["Body"].read() == body
        r = redis.Redis(host=LOOPBACK, port=target.port, decode_responses=True)
        assert r.get("session:1") == "alice" and r.hgetall("h") == {"a": "1", "b": "2"}
        assert 3500 < r.ttl("ttl-key") <= 3600  # TTLs survive


def _listing(client: Any, bucket: str) -> set[str]:
    return {o["Key"] for o in client.list_objects_v2(Bucket=bucket).get("Contents", [])}


async def test_restore_refuses_a_corrupted_object_and_writes_nothing(
    setup: tuple[Backups, dict[str, bytes], Any],
) -> None:
    backups, _, client = setup
    manifest = await backups.create()
    victim = data_key(manifest.backup_id, "content/sample/segments/1")
    client.put_object(Bucket="backup", Key=victim, Body=b"garbage")
    result = await backups.restore(manifest.backup_id, to=ObjectStore("restored", client=client))
    assert [(p.key, p.kind) for p in result.problems] == [("content/sample/segments/1", "corrupted")]
    assert not result.ok and result.objects == 0
    assert _listing(client, "restored") == set()  # all or nothing: no partial restore


def _truncate_at_chunk(blob: bytes, keep_chunks: int) -> bytes:
    """The envelope cut after `keep_chunks` whole chunks: each authenticates, only the final one is missing."""
    _, at = require_header(blob)
    for _ in range(keep_chunks):
        _, _, length = FRAME.unpack_from(blob, at)
        at += FRAME.size + length
    return blob[:at]


@pytest.mark.parametrize("cut", ["at a chunk boundary", "inside a chunk"])
async def test_a_truncated_backup_restores_nothing_and_leaves_no_partial_file(
    setup: tuple[Backups, dict[str, bytes], Any], own_redis: RedisServer, tmp_path: Path, cut: str
) -> None:
    """A streamed decrypt releases the chunks that authenticated before it finds the final one missing:
    neither the target bucket, nor the target Redis, nor the scratch space may keep any of it."""
    backups, _, client = setup
    manifest = await backups.create()
    victim = data_key(manifest.backup_id, "content/sample/segments/0")  # 300 kB: several 64 KiB chunks
    blob = client.get_object(Bucket="backup", Key=victim)["Body"].read()
    short = _truncate_at_chunk(blob, 2) if cut == "at a chunk boundary" else blob[: len(blob) // 2]
    client.put_object(Bucket="backup", Key=victim, Body=short)
    scratch = tmp_path / "scratch"
    scratch.mkdir()
    with redis_server(tmp_path / "target") as target:
        result = await backups.restore(
            manifest.backup_id,
            to=ObjectStore("restored", client=client),
            redis_url=target.url,
            scratch=scratch,
        )
        assert [(p.key, p.kind) for p in result.problems] == [("content/sample/segments/0", "corrupted")]
        assert "TruncatedError" in result.problems[0].detail
        assert result.objects == 0 and result.redis_keys is None
        assert _listing(client, "restored") == set()
        assert redis.Redis(host=LOOPBACK, port=target.port).dbsize() == 0
    assert list(scratch.iterdir()) == []  # the staging directory and its partial files are gone
    # Verify names the same object and keeps no partial plaintext either.
    checked = await backups.verify(manifest.backup_id, scratch=scratch)
    assert [(p.key, p.kind) for p in checked.problems] == [("content/sample/segments/0", "corrupted")]
    assert list(scratch.iterdir()) == []


async def test_a_truncated_redis_snapshot_blocks_the_content_restore_too(
    setup: tuple[Backups, dict[str, bytes], Any], tmp_path: Path
) -> None:
    backups, _, client = setup
    manifest = await backups.create()
    victim = data_key(manifest.backup_id, "redis/dump.rdb")
    blob = client.get_object(Bucket="backup", Key=victim)["Body"].read()
    client.put_object(Bucket="backup", Key=victim, Body=blob[:-1])
    with redis_server(tmp_path / "target") as target:
        result = await backups.restore(
            manifest.backup_id, to=ObjectStore("restored", client=client), redis_url=target.url
        )
        assert [(p.key, p.kind) for p in result.problems] == [("redis/dump.rdb", "corrupted")]
        assert _listing(client, "restored") == set()
        assert redis.Redis(host=LOOPBACK, port=target.port).dbsize() == 0


async def test_dry_run_restore_writes_nothing(setup: tuple[Backups, dict[str, bytes], Any]) -> None:
    backups, objects, client = setup
    manifest = await backups.create()
    result = await backups.restore(
        manifest.backup_id, to=ObjectStore("restored", client=client), dry_run=True
    )
    assert result.dry_run and result.objects == len(objects)
    assert "Contents" not in client.list_objects_v2(Bucket="restored")


async def test_prune_deletes_by_retention_and_keeps_the_newest(
    setup: tuple[Backups, dict[str, bytes], Any],
) -> None:
    backups, _, client = setup
    backups.t.redis = None
    first = await backups.create()
    second = await backups.create()
    # A crashed create: objects without a manifest.
    client.put_object(Bucket="backup", Key="backups/20200101T000000Z-abcdef/data/content/x", Body=b"x")
    later = time.time() + 10 * 86400
    dry = await backups.prune(
        retention_days=7, keep_last=1, incomplete_grace_hours=6, dry_run=True, now=later
    )
    assert dry.delete == sorted([first.backup_id, "20200101T000000Z-abcdef"])
    assert len(await backups.list()) == 3  # dry run: nothing deleted
    await backups.prune(retention_days=7, keep_last=1, incomplete_grace_hours=6, now=later)
    assert [b.backup_id for b in await backups.list()] == [second.backup_id]
    assert (await backups.verify(second.backup_id)).ok


def test_retention_rule() -> None:
    now = 1_000_000_000.0
    day = 86400.0
    backups = [
        BackupInfo("b1", "r", True, now - 40 * day, now - 40 * day),
        BackupInfo("b2", "r", True, now - 20 * day, now - 20 * day),
        BackupInfo("b3", "r", True, now - 1 * day, now - 1 * day),
        BackupInfo("b4", "r", False, now - 3600),  # incomplete, recent: maybe still running
        BackupInfo("b5", "r", False, now - 8 * 3600),
    ]
    decision = retention(backups, now, retention_days=7, keep_last=2, incomplete_grace_hours=6)
    assert decision.delete == ["b1", "b5"]  # b2 is old but among the newest 2
    assert decision.keep == ["b2", "b3", "b4"]
    assert retention(backups[:1], now, retention_days=7, keep_last=1, incomplete_grace_hours=6).delete == []
