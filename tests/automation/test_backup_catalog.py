"""The catalog in backups, against real parts: a seeded PostgreSQL, moto's S3 and KMS. `create` stores a
dump and its figures taken on one snapshot (writes going on meanwhile); `verify` restores the dump into a
scratch PostgreSQL and compares row counts and checksums: a dump that restores to something else, or does
not restore, is named."""

from __future__ import annotations

import asyncio
import json
import threading
from collections.abc import Iterator
from pathlib import Path

import boto3
import psycopg
import pytest

from infra.automation.adapters.backup_source import RegionBackup
from infra.automation.adapters.catalog_dump import DUMP_KEY, SUMMARY_KEY, CatalogDump, verify_dump
from infra.automation.backup.backups import Backups
from infra.automation.backup.model import context, data_key
from infra.catalog import migrate
from infra.catalog.seed import SeedSize, seed
from runtime.security.envelope import Envelope
from runtime.security.settings import EncryptionSettings
from runtime.storage import ObjectStore
from tests.servers import MotoServer, PostgresServer, postgres_server


@pytest.fixture(scope="module")
def catalog() -> Iterator[PostgresServer]:
    with postgres_server() as pg:
        migrate.upgrade(pg.url, password=pg.credentials.app)
        seed(pg.conninfo, ["local-a", "local-b"], SeedSize(titles=500, renditions=2, segments=10))
        yield pg


@pytest.fixture
def backups(moto: MotoServer, catalog: PostgresServer) -> Backups:
    moto.reset()
    s3 = boto3.client("s3", endpoint_url=moto.url, region_name="us-east-1")
    s3.create_bucket(Bucket="backup")
    kms = boto3.client("kms", endpoint_url=moto.url, region_name="us-east-1")
    key = kms.create_key()["KeyMetadata"]["KeyId"]
    envelope = Envelope(
        EncryptionSettings(kms_key_id=key, kms_endpoint_url=moto.url, region="us-east-1"), kms=kms
    )
    target = RegionBackup(
        "test",
        "local-a",
        backup=ObjectStore("backup", client=s3),
        envelope=envelope,
        catalog=CatalogDump(catalog.port, catalog.root),
    )
    return Backups(target)


async def test_create_dumps_one_snapshot_and_verify_restores_it(
    backups: Backups, catalog: PostgresServer
) -> None:
    stop = threading.Event()

    def write() -> None:  # a writer during the dump: the figures must still describe the dump
        with psycopg.connect(catalog.conninfo, autocommit=True) as conn:
            i = 0
            while not stop.is_set():
                conn.execute(
                    "INSERT INTO titles (slug, name, kind) VALUES (%s, 'During', 'movie')", (f"d{i}",)
                )
                i += 1

    writer = threading.Thread(target=write)
    writer.start()
    try:
        manifest = await backups.create()
    finally:
        stop.set()
        writer.join(10)
    keys = {e.key for e in manifest.entries}
    assert {DUMP_KEY, SUMMARY_KEY} <= keys and manifest.sources["catalog"].endswith("/catalog")
    result = await backups.verify(manifest.backup_id)
    assert result.ok, result.problems
    assert result.checked == 2


async def test_verify_names_a_dump_that_restores_to_other_figures(backups: Backups, tmp_path: Path) -> None:
    manifest = await backups.create()
    dump, summary = await backups.t.catalog.take()  # type: ignore[union-attr]
    (tmp_path / "catalog.dump").write_bytes(dump)
    figures = json.loads(summary)
    assert figures["tables"]["segments"]["rows"] == 500 * 2 * 10
    (tmp_path / "summary.json").write_bytes(summary)
    assert await verify_dump(tmp_path / "catalog.dump", tmp_path / "summary.json") == []
    figures["tables"]["segments"]["checksum"] = "1"
    (tmp_path / "summary.json").write_text(json.dumps(figures))
    (difference,) = await verify_dump(tmp_path / "catalog.dump", tmp_path / "summary.json")
    assert difference.startswith("segments: restored")
    # A summary in the backup that the dump does not match: verify reports the dump (re-encrypted under
    # its own context, so only the content is wrong, not the encryption).
    t = backups.t
    blob = b"".join(
        [
            p
            async for p in t.envelope.aencrypt_stream(
                [json.dumps(figures).encode()], context(t.stack, manifest.backup_id, SUMMARY_KEY)
            )
        ]
    )
    await t.backup.put(data_key(manifest.backup_id, SUMMARY_KEY), blob)
    result = await backups.verify(manifest.backup_id)
    problems = {(p.key, p.kind) for p in result.problems}
    assert (SUMMARY_KEY, "corrupted") in problems  # its checksum no longer matches the manifest


async def test_a_truncated_dump_does_not_restore(tmp_path: Path, catalog: PostgresServer) -> None:
    dump, summary = await CatalogDump(catalog.port, catalog.root).take()
    (tmp_path / "catalog.dump").write_bytes(dump[: len(dump) // 2])
    (tmp_path / "summary.json").write_bytes(summary)
    (problem,) = await asyncio.wait_for(
        verify_dump(tmp_path / "catalog.dump", tmp_path / "summary.json"), 120
    )
    assert problem.startswith("pg_restore failed")
