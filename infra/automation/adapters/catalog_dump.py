"""The catalog database as a backup source: a consistent dump, and its verification by restoring it into
a scratch PostgreSQL server and comparing what it holds with what was dumped.

`take` opens a REPEATABLE READ transaction on the region's node, counts and checksums every catalog
table in it, exports its snapshot and runs `pg_dump --snapshot` on that same snapshot: the dump and the
figures describe the same instant, whatever writes go on meanwhile (a hot standby works as well as the
primary). A table's checksum is the sum of its rows' MD5 prefixes (order-independent, so the restored
copy compares equal whatever its physical order).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import asyncpg

from infra.automation.errors import AutomationError
from infra.catalog import postgres

READY_SECONDS = 30.0
DUMP_KEY = "catalog/catalog.dump"
SUMMARY_KEY = "catalog/summary.json"
TABLES = ("titles", "title_words", "renditions", "segments", "availability", "alembic_version")
# Per table: rows, and the sum of the first 15 hex digits of each row's MD5 (no overflow in numeric).
_FIGURES = "SELECT count(*)::bigint AS rows, COALESCE(sum(('x' || substr(md5(t::text), 1, 15))::bit(60)::bigint), 0)::text AS checksum FROM {table} t"


class CatalogBackupError(AutomationError):
    """The catalog could not be dumped or its dump does not restore to what was dumped."""


@dataclass(frozen=True)
class CatalogDump:
    """One region's catalog node, administered over its socket as the server's service user."""

    port: int
    socket_dir: Path

    @property
    def source(self) -> str:
        return f"postgresql://127.0.0.1:{self.port}/{postgres.DATABASE}"

    async def figures(self, conn: asyncpg.Connection) -> dict[str, dict[str, object]]:
        out: dict[str, dict[str, object]] = {}
        for table in TABLES:
            row = await conn.fetchrow(_FIGURES.format(table=table))
            assert row is not None
            out[table] = {"rows": int(row["rows"]), "checksum": row["checksum"]}
        return out

    async def take(self) -> tuple[bytes, bytes]:
        """(the dump in pg_dump's custom format, the summary: figures per table, as JSON)."""
        try:
            conn = await asyncpg.connect(
                host=str(self.socket_dir),
                port=self.port,
                user=postgres.SERVICE_USER,
                database=postgres.DATABASE,
            )
        except (OSError, asyncpg.PostgresError) as exc:
            raise CatalogBackupError(f"{self.source}: {exc}") from exc
        try:
            async with conn.transaction(isolation="repeatable_read", readonly=True):
                snapshot = await conn.fetchval("SELECT pg_export_snapshot()")
                figures = await self.figures(conn)
                dump = await asyncio.to_thread(self._dump, snapshot)
        finally:
            await conn.close()
        return dump, json.dumps({"tables": figures}, sort_keys=True).encode()

    def _dump(self, snapshot: str) -> bytes:
        proc = subprocess.run(
            [
                *(postgres.binary("pg_dump"), "-h", str(self.socket_dir), "-p", str(self.port)),
                *(
                    "-U",
                    postgres.SERVICE_USER,
                    "-Fc",
                    "--no-owner",
                    f"--snapshot={snapshot}",
                    postgres.DATABASE,
                ),
            ],
            capture_output=True,
            check=False,
            **postgres.run_as(),
        )
        if proc.returncode != 0:
            raise CatalogBackupError(f"pg_dump of {self.source}: {proc.stderr.decode()[-300:]}")
        return proc.stdout


@contextlib.contextmanager
def _scratch_root() -> Iterator[Path]:
    root = Path(tempfile.mkdtemp(prefix="sg-catalog-verify-"))
    postgres.own(root)
    try:
        yield root
    finally:
        shutil.rmtree(root, ignore_errors=True)


async def verify_dump(dump: Path, summary: Path) -> list[str]:
    """Restore `dump` into a scratch server; each table whose rows or checksum differ from `summary`
    (empty: the dump restores to exactly what was dumped)."""
    expected = json.loads(await asyncio.to_thread(summary.read_bytes))["tables"]
    with _scratch_root() as root:
        data, sock = root / "data", root
        await asyncio.to_thread(postgres.initdb, data, postgres.Credentials("scratch", "scratch"))
        copy = root / "catalog.dump"
        shutil.copyfile(dump, copy)
        if postgres.run_as():
            import os

            os.chown(copy, postgres.run_as()["user"], postgres.run_as()["group"])
        port = _free_port()
        proc = await asyncio.create_subprocess_exec(
            *postgres.server_command(
                data, port, sock, {"fsync": "off", "max_wal_senders": "0", "wal_level": "minimal"}
            ),
            stdout=asyncio.subprocess.DEVNULL,
            stderr=asyncio.subprocess.DEVNULL,
            **postgres.run_as(),
        )
        try:
            await _ready(port, sock)
            postgres.psql(port, sock, f"CREATE DATABASE {postgres.DATABASE}")
            restore = await asyncio.to_thread(
                _run,
                [
                    *(
                        postgres.binary("pg_restore"),
                        "-h",
                        str(sock),
                        "-p",
                        str(port),
                        "-U",
                        postgres.SERVICE_USER,
                    ),
                    *("--no-owner", "--exit-on-error", "-d", postgres.DATABASE, str(copy)),
                ],
            )
            if restore.returncode != 0:
                return [f"pg_restore failed: {restore.stderr[-300:]}"]
            conn = await asyncpg.connect(
                host=str(sock), port=port, user=postgres.SERVICE_USER, database=postgres.DATABASE
            )
            try:
                found = await CatalogDump(port, sock).figures(conn)
            finally:
                await conn.close()
        finally:
            with contextlib.suppress(ProcessLookupError):
                proc.terminate()
            await proc.wait()
    return [
        f"{table}: restored {found.get(table)} != dumped {figures}"
        for table, figures in sorted(expected.items())
        if found.get(table) != figures
    ]


def _run(args: list[str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(args, capture_output=True, text=True, check=False, **postgres.run_as())


def _free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind((postgres.LOOPBACK, 0))
        return int(s.getsockname()[1])


async def _ready(port: int, sock: Path) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + READY_SECONDS
    while loop.time() < deadline:
        with contextlib.suppress(OSError, asyncpg.PostgresError):
            conn = await asyncpg.connect(
                host=str(sock), port=port, user=postgres.SERVICE_USER, database="postgres"
            )
            await conn.close()
            return
        await asyncio.sleep(0.1)
    raise CatalogBackupError(f"scratch PostgreSQL on {port} did not start within {READY_SECONDS:.0f}s")
