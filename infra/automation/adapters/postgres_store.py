"""Data store adapter over self-managed PostgreSQL streaming replication (the local platform's catalog).

Clients find the writer with libpq's multi-host URLs and `target_session_attrs=read-write`: whichever node
accepts writes is the endpoint, so there is no address to move. The steps:

    fence     ALTER SYSTEM default_transaction_read_only = on + reload, then end the application's
              sessions: every new transaction on the old primary is read-only (a write is refused, never
              acknowledged). Not time-bounded as Redis's CLIENT PAUSE is: a crashed run's fence is lifted
              by re-running the failover (unfence and repoint are idempotent).
    catch-up  the replica's replay position reaches the fenced primary's WAL position (RPO 0)
    promote   planned: stop the old primary cleanly first (its shutdown checkpoint reaches the replica, so
              it can follow the new timeline), pg_promote(), and rejoin the old primary as a standby at
              once; unplanned: fence the old primary if it still answers, then pg_promote()
    repoint   every other node that is not a replica of the new primary (a crashed primary back, a run
              stopped half-way) is stopped, rewound onto the new timeline (pg_rewind: only what diverged),
              given standby.signal and the new primary_conninfo, and started again as its standby; a node
              down after a crash is left alone, pending, for a re-run once it is back
    unfence   ALTER SYSTEM RESET default_transaction_read_only + reload on the node (idempotent)
"""

from __future__ import annotations

import asyncio
import contextlib
import subprocess
import time
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

import asyncpg

from infra.automation.adapters.failover_ports import CatchUp, NodeStatus, Replication, Repointed
from infra.automation.errors import AutomationError
from infra.catalog import postgres
from runtime.catalog.queries import lsn


class PostgresStoreError(AutomationError):
    """A PostgreSQL node refused or did not answer a failover command."""


@dataclass(frozen=True)
class PgNode:
    port: int
    socket_dir: Path  # the server's own socket: administration as its service user (trust)
    datadir: Path


class NodeControl(Protocol):
    """Stops and starts one region's server process (local: supervisord)."""

    async def stop(self, region: str) -> None: ...

    async def start(self, region: str) -> None: ...


class PostgresDataStore:
    name = "postgres"

    def __init__(
        self,
        nodes: Mapping[str, PgNode],
        control: NodeControl,
        replication_password: str,
        *,
        connect_timeout: float = 1.0,
    ) -> None:
        self.nodes = dict(nodes)
        self.control = control
        self.replication_password = replication_password
        self.connect_timeout = connect_timeout
        self._by_port = {n.port: r for r, n in self.nodes.items()}

    @contextlib.asynccontextmanager
    async def _conn(self, region: str) -> AsyncIterator[asyncpg.Connection]:
        node = self.nodes[region]
        try:
            conn = await asyncpg.connect(
                host=str(node.socket_dir),
                port=node.port,
                user=postgres.SERVICE_USER,
                database="postgres",
                timeout=self.connect_timeout,
                statement_cache_size=0,
            )
        except (OSError, asyncpg.PostgresError, TimeoutError) as exc:
            raise PostgresStoreError(
                f"PostgreSQL {region} (port {node.port}) does not answer: {exc}"
            ) from exc
        try:
            yield conn
        finally:
            await conn.close()

    async def _status(self, region: str) -> NodeStatus:
        try:
            async with self._conn(region) as conn:
                if not await conn.fetchval("SELECT pg_is_in_recovery()"):
                    position = await conn.fetchval("SELECT pg_current_wal_lsn()::text")
                    return NodeStatus(
                        region, True, "primary", offset=lsn(position), detail="PostgreSQL primary"
                    )
                row = await conn.fetchrow(
                    "SELECT pg_last_wal_replay_lsn()::text AS replayed, "
                    # Caught up (all received WAL replayed): no lag, however old the last transaction.
                    "CASE WHEN pg_last_wal_receive_lsn() = pg_last_wal_replay_lsn() THEN 0 ELSE "
                    "COALESCE(EXTRACT(EPOCH FROM now() - pg_last_xact_replay_timestamp()), 0) END::float8 AS lag, "
                    "(SELECT status FROM pg_stat_wal_receiver) AS status, "
                    "(SELECT sender_port FROM pg_stat_wal_receiver) AS sender"
                )
        except PostgresStoreError as exc:
            return NodeStatus(region, False, detail=str(exc))
        assert row is not None
        streaming = row["status"] == "streaming"
        return NodeStatus(
            region,
            True,
            "replica",
            upstream=self._by_port.get(row["sender"]) if row["sender"] else None,
            link_up=streaming,
            offset=lsn(row["replayed"]) if row["replayed"] else None,
            lag_seconds=float(row["lag"]) if streaming else None,
            detail=f"PostgreSQL replica ({row['status'] or 'not streaming'})",
        )

    async def replication(self) -> Replication:
        statuses = await asyncio.gather(*(self._status(r) for r in self.nodes))
        return Replication({s.region: s for s in statuses}, endpoint=None)

    async def fence(self, primary: str, seconds: float) -> None:
        async with self._conn(primary) as conn:
            await conn.execute("ALTER SYSTEM SET default_transaction_read_only = on")
            await conn.execute("SELECT pg_reload_conf()")
            await conn.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                "WHERE usename = $1 AND pid <> pg_backend_pid()",
                postgres.APP_USER,
            )

    async def catch_up(self, primary: str, replica: str, within: float) -> CatchUp:
        started = time.monotonic()
        async with self._conn(primary) as conn:
            target = lsn(await conn.fetchval("SELECT pg_current_wal_lsn()::text"))
        first: int | None = None
        while True:
            status = await self._status(replica)
            if status.offset is not None:
                behind = max(0, target - status.offset)
                first = behind if first is None else first
                if behind == 0:
                    return CatchUp(first, 0, time.monotonic() - started)
            if time.monotonic() - started > within:
                raise PostgresStoreError(
                    f"PostgreSQL {replica} did not replay {primary}'s writes within {within:g}s "
                    f"({status.offset} < {target})"
                )
            await asyncio.sleep(0.01)

    async def promote(self, region: str, *, planned: bool) -> None:
        status = await self._status(region)
        if status.reachable and status.role == "primary":
            return
        if not planned and status.upstream is not None:
            # The old primary may still answer (only part of its region is down): fence it, so that
            # clients do not keep writing there while two nodes accept writes (repoint demotes it).
            with contextlib.suppress(PostgresStoreError):
                await self.fence(status.upstream, 0)
        old = status.upstream if planned else None
        if old is not None:
            # A clean shutdown's checkpoint is streamed before the walsender exits: the old primary's
            # WAL then ends where the new timeline starts, and it can follow it without a rewind.
            await self.control.stop(old)
        async with self._conn(region) as conn:
            if not await conn.fetchval("SELECT pg_promote(true, 30)"):
                raise PostgresStoreError(f"PostgreSQL {region} was not promoted within 30 s")
        if old is not None:
            # Rejoined at once, not at `repoint`: a run that stops in between leaves no stopped primary.
            await self._rejoin(old, region, running=False)

    async def repoint(self, primary: str) -> Repointed:
        done = Repointed(endpoint_moved=True)  # clients follow the read-write node themselves
        await self.promote(primary, planned=True)  # a no-op unless a stopped run left it a standby
        for region in self.nodes:
            if region == primary:
                continue
            status = await self._status(region)
            if status.reachable and status.role == "replica" and status.upstream == primary:
                done.replicas.append(region)
                continue
            if not status.reachable and await asyncio.to_thread(self._configured_standby, region, primary):
                done.replicas.append(region)  # rejoined by `promote`, still starting up
                continue
            if not status.reachable and not await asyncio.to_thread(self._shut_down_cleanly, region):
                # Down on its own (the outage): its data directory is not ours to touch until it is back.
                done.unreachable.append(region)
                continue
            try:
                await self._rejoin(region, primary, running=status.reachable)
            except PostgresStoreError:
                done.unreachable.append(region)
                continue
            done.replicas.append(region)
        return done

    async def _rejoin(self, region: str, primary: str, *, running: bool) -> None:
        """Make `region`'s node a standby of `primary`: stopped, rewound, standby.signal, started."""
        node, source = self.nodes[region], self.nodes[primary]
        if running:
            await self.control.stop(region)
        if not (node.datadir / "PG_VERSION").exists():
            raise PostgresStoreError(f"PostgreSQL {region}: no data directory at {node.datadir}")
        # A promoted server records its new timeline in its control file at its next checkpoint, which
        # pg_rewind reads: until then it sees one timeline and reports "no rewind required".
        async with self._conn(primary) as conn:
            await conn.execute("CHECKPOINT")
        conninfo = f"host={source.socket_dir} port={source.port} user={postgres.SERVICE_USER} dbname=postgres"
        await asyncio.to_thread(
            _run, [postgres.binary("pg_rewind"), "-D", str(node.datadir), f"--source-server={conninfo}"]
        )
        await asyncio.to_thread(self._standby_files, node, source)
        await self.control.start(region)

    def _configured_standby(self, region: str, primary: str) -> bool:
        """Whether the node's data directory already makes it a standby of `primary` (standby.signal and
        that primary in primary_conninfo): what `_rejoin` leaves, whether or not the server is up yet."""
        datadir = self.nodes[region].datadir
        try:
            auto = (datadir / "postgresql.auto.conf").read_text()
        except OSError:
            return False
        port = f"port={self.nodes[primary].port}'"
        return (datadir / "standby.signal").exists() and any(
            line.startswith("primary_conninfo") and line.endswith(port) for line in auto.splitlines()
        )

    def _shut_down_cleanly(self, region: str) -> bool:
        """Whether the node's cluster was stopped on purpose (a switchover), not lost in a crash: only then
        is its data directory ours to rewind while it is down."""
        datadir = self.nodes[region].datadir
        proc = subprocess.run(
            [postgres.binary("pg_controldata"), "-D", str(datadir)],
            capture_output=True,
            text=True,
            check=False,
            **postgres.run_as(),
        )
        states = [
            line.partition(":")[2].strip()
            for line in proc.stdout.splitlines()
            if line.startswith("Database cluster state:")
        ]
        return proc.returncode == 0 and states == ["shut down"]

    def _standby_files(self, node: PgNode, source: PgNode) -> None:
        auto = node.datadir / "postgresql.auto.conf"
        keep = [
            line
            for line in auto.read_text().splitlines()
            if not line.startswith(("primary_conninfo", "default_transaction_read_only"))
        ]
        conninfo = (
            f"user={postgres.REPLICATION_USER} password={self.replication_password} "
            f"host={postgres.LOOPBACK} port={source.port}"
        )
        keep.append(f"primary_conninfo = '{conninfo}'")
        auto.write_text("\n".join(keep) + "\n")
        (node.datadir / "standby.signal").write_text("")
        owner = postgres.run_as()
        if owner:
            import os

            for path in (auto, node.datadir / "standby.signal"):
                os.chown(path, owner["user"], owner["group"])

    async def unfence(self, region: str) -> None:
        with contextlib.suppress(PostgresStoreError):
            async with self._conn(region) as conn:
                await conn.execute("ALTER SYSTEM RESET default_transaction_read_only")
                await conn.execute("SELECT pg_reload_conf()")


def _run(args: list[str]) -> None:
    proc = subprocess.run(args, capture_output=True, text=True, check=False, **postgres.run_as())
    if proc.returncode != 0:
        raise PostgresStoreError(
            f"{Path(args[0]).name} failed: {(proc.stderr or proc.stdout).strip()[-300:]}"
        )
