"""The catalog's connections: a bounded asyncpg pool on the primary and one on the replica, and which one
a read goes to.

Reads go to the replica while its replay lag is within `max_replica_lag_seconds` and it has replayed at
least the position the reader must see; otherwise to the primary. The position is read-your-writes: every
write returns the primary's WAL position after its commit, the process remembers the newest it wrote, and
a session that wrote elsewhere sends its own (`min_lsn`). The replica's state is polled in the background
(`lag_poll_seconds`), never per query.

Behind a transaction-mode pooler (PgBouncer `pool_mode=transaction`, RDS Proxy), a server connection
belongs to a client only for one transaction: named prepared statements made on one may be missing on the
next. `pooler="transaction"` turns asyncpg's statement cache off and runs each read in one explicit
transaction, so its Parse/Bind/Execute round trips stay on one server connection."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import ssl
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from typing import Any, Literal
from urllib.parse import parse_qs, urlencode, urlsplit, urlunsplit

import asyncpg

from runtime.catalog import metrics
from runtime.catalog.errors import UnavailableError
from runtime.catalog.queries import CURRENT_LSN, REPLICA_STATE, lsn
from runtime.catalog.settings import CatalogSettings
from runtime.tasks import stop

log = logging.getLogger(__name__)
Target = Literal["primary", "replica"]


def system_tls(url: str) -> tuple[str, ssl.SSLContext | None]:
    """`sslmode=verify-full` without a `sslrootcert`: verified against the system's CA bundle (RDS Proxy's
    certificates are public ones), which asyncpg would look for in ~/.postgresql/root.crt instead."""
    parts = urlsplit(url)
    query = parse_qs(parts.query)
    if query.get("sslmode") != ["verify-full"] or "sslrootcert" in query:
        return url, None
    rest = urlencode({k: v for k, v in query.items() if k != "sslmode"}, doseq=True)
    return urlunsplit(parts._replace(query=rest)), ssl.create_default_context()


def _password(settings: CatalogSettings) -> str | None:
    return settings.password.get_secret_value() if settings.password else None


def iam_token(url: str, region: str) -> Callable[[], Awaitable[str]]:
    """A password callable for asyncpg: a fresh IAM auth token (valid 15 minutes) per new connection,
    signed locally with the pod's credentials (no AWS call)."""
    import boto3

    parts = urlsplit(url)
    client = boto3.client("rds", region_name=region)

    async def token() -> str:
        return await asyncio.to_thread(
            client.generate_db_auth_token, parts.hostname, parts.port or 5432, parts.username, region
        )

    return token


async def _keep_session(conn: asyncpg.Connection) -> None:
    return None


@dataclass
class ReplicaState:
    usable: bool = False
    lag_seconds: float = float("inf")
    replayed: int = 0
    checked_at: float = 0.0


class Database:
    def __init__(self, settings: CatalogSettings) -> None:
        self.settings = settings
        self.primary: asyncpg.Pool | None = None
        self.replica: asyncpg.Pool | None = None
        self.replica_state = ReplicaState()
        self.written_lsn = 0  # the newest position this process wrote
        self.queries = 0  # statements sent (tests assert the count per request: no N+1)
        self._poller: asyncio.Task[None] | None = None
        # Labelled children resolved once (a `.labels()` lookup per query costs more than the rest).
        self._sent = {t: metrics.QUERIES.labels(t) for t in ("primary", "replica")}
        self._waits = {t: metrics.POOL_WAIT_SECONDS.labels(t) for t in ("primary", "replica")}

    def _pool_args(self, url: str) -> dict[str, Any]:
        s = self.settings
        transaction_mode = s.pooler == "transaction"
        dsn, tls = system_tls(url)
        return {
            "dsn": dsn,
            "ssl": tls,
            "password": iam_token(url, s.iam_auth_region) if s.iam_auth_region else _password(s),
            "min_size": s.pool_min_size,
            "max_size": s.pool_max_size,
            "command_timeout": s.command_timeout_seconds,
            "timeout": s.connect_timeout_seconds,
            "statement_cache_size": 0 if transaction_mode else s.statement_cache_size,
            # A connection idle this long is closed (a failed-over endpoint gets fresh ones).
            "max_inactive_connection_lifetime": 60.0,
            # asyncpg's default reset sends `SELECT pg_advisory_unlock_all(); CLOSE ALL; UNLISTEN *; RESET
            # ALL` on every release: one more round trip per query. The catalog leaves no session state
            # (no SET, LISTEN, advisory lock or open cursor; an unfinished transaction is still rolled
            # back by asyncpg itself), so there is nothing to reset.
            "reset": _keep_session,
        }

    async def start(self) -> None:
        """Create the pools and the lag poller. A database down at start does not stop the gateway (it
        serves content; catalog answers are 503 until the database is back): the pool then opens its
        connections on first use."""
        self.primary = await self._pool(self.settings.primary_url)
        if self.settings.replica_url:
            self.replica = await self._pool(self.settings.replica_url)
        if self.replica is not None:
            await self.poll_replica()
            self._poller = asyncio.create_task(self._poll_forever(), name="catalog-replica-lag")

    async def _pool(self, url: str) -> asyncpg.Pool:
        args = self._pool_args(url)
        try:
            return await asyncpg.create_pool(**args)
        except Exception as exc:  # unreachable, refused, no credentials yet for an IAM token: retried later
            log.warning("catalog database %s unreachable at start: %s", url.rsplit("@", 1)[-1], exc)
            return await asyncpg.create_pool(**{**args, "min_size": 0})

    async def close(self) -> None:
        if self._poller is not None:
            await stop([self._poller])  # one cancel can be lost inside a driver's timeout
            self._poller = None
        for pool in (self.replica, self.primary):
            if pool is not None:
                with contextlib.suppress(Exception):
                    async with asyncio.timeout(5):
                        await pool.close()
        self.primary = self.replica = None

    # -- routing -------------------------------------------------------------------------------------------

    async def poll_replica(self) -> ReplicaState:
        """Read the replica's replay position and lag (one query on the replica pool)."""
        state = ReplicaState(checked_at=time.monotonic())
        if self.replica is not None:
            try:
                async with asyncio.timeout(self.settings.acquire_timeout_seconds):
                    row = await self.replica.fetchrow(REPLICA_STATE)
                assert row is not None
                state.replayed = lsn(row["replayed"]) if row["recovery"] else 1 << 63
                state.lag_seconds = float(row["lag"]) if row["recovery"] else 0.0
                state.usable = state.lag_seconds <= self.settings.max_replica_lag_seconds
            except Exception as exc:  # unreachable or failing: reads go to the primary
                log.debug("catalog replica state unavailable: %s", exc)
        self.replica_state = state
        metrics.REPLICA_USABLE.set(1 if state.usable else 0)
        metrics.REPLICA_LAG_SECONDS.set(min(state.lag_seconds, 1e9))
        return state

    async def _poll_forever(self) -> None:
        while True:
            await asyncio.sleep(self.settings.lag_poll_seconds)
            await self.poll_replica()

    def route(self, min_lsn: int = 0) -> Target:
        """Where a read goes: the replica if it is within the lag bound and has replayed `min_lsn` and
        everything this process wrote; the primary otherwise."""
        state = self.replica_state
        if self.replica is None or not state.usable:
            return "primary"
        if state.replayed < max(min_lsn, self.written_lsn):
            return "primary"
        return "replica"

    # -- connections ---------------------------------------------------------------------------------------

    async def _connection(self, target: Target) -> tuple[asyncpg.Pool, asyncpg.Connection]:
        """A connection of `target`'s pool within `acquire_timeout_seconds` (the wait is measured)."""
        pool = self.replica if target == "replica" else self.primary
        if pool is None:
            raise UnavailableError("catalog database not started")
        started = time.perf_counter()
        try:
            # asyncio.timeout, not acquire(timeout=): asyncpg wraps that in a task per call.
            async with asyncio.timeout(self.settings.acquire_timeout_seconds):
                conn = await pool.acquire()
        except TimeoutError as exc:
            metrics.POOL_TIMEOUTS.inc()
            raise UnavailableError(
                f"catalog pool ({target}) saturated: no connection within "
                f"{self.settings.acquire_timeout_seconds:g}s"
            ) from exc
        except (OSError, asyncpg.PostgresError) as exc:
            raise UnavailableError(f"catalog database ({target}) unreachable: {exc}") from exc
        self._waits[target].observe(time.perf_counter() - started)
        return pool, conn

    @contextlib.asynccontextmanager
    async def _acquire(self, target: Target) -> AsyncIterator[asyncpg.Connection]:
        pool, conn = await self._connection(target)
        try:
            yield conn
        finally:
            await pool.release(conn)

    async def fetch(self, query: str, *args: object, min_lsn: int = 0) -> list[asyncpg.Record]:
        """Run one read, routed (see `route`); one statement, counted."""
        target = self.route(min_lsn)
        try:
            return await self._fetch(target, query, args)
        except UnavailableError:
            if target == "primary":
                raise
            return await self._fetch("primary", query, args)  # the replica failed: the primary answers

    async def _fetch(self, target: Target, query: str, args: tuple[object, ...]) -> list[asyncpg.Record]:
        self.queries += 1
        self._sent[target].inc()
        pool, conn = await self._connection(target)
        try:
            if self.settings.pooler == "transaction":
                async with conn.transaction(readonly=True):
                    rows: list[asyncpg.Record] = await conn.fetch(query, *args)
                    return rows
            return await conn.fetch(query, *args)
        except (asyncpg.PostgresConnectionError, OSError, TimeoutError) as exc:
            metrics.QUERY_ERRORS.inc()
            raise UnavailableError(f"catalog query on the {target} failed: {exc}") from exc
        finally:
            await pool.release(conn)

    async def ping(self) -> None:
        """One round trip to the primary (the readiness monitor's probe; not a request's query)."""
        async with self._acquire("primary") as conn:
            try:
                await conn.fetchval("SELECT 1")
            except (asyncpg.PostgresConnectionError, OSError) as exc:
                raise UnavailableError(f"catalog primary unreachable: {exc}") from exc

    @contextlib.asynccontextmanager
    async def transaction(self) -> AsyncIterator[asyncpg.Connection]:
        """A write transaction on the primary; on commit, the position it reached is remembered
        (`last_commit_lsn`) for read-your-writes."""
        async with self._acquire("primary") as conn:
            try:
                async with conn.transaction():
                    yield conn
                self.queries += 1
                self._sent["primary"].inc()
                position = await conn.fetchval(CURRENT_LSN)
            except (asyncpg.PostgresConnectionError, OSError, TimeoutError) as exc:
                metrics.QUERY_ERRORS.inc()
                raise UnavailableError(f"catalog write failed: {exc}") from exc
            self.last_commit_lsn = lsn(position)
            self.written_lsn = max(self.written_lsn, self.last_commit_lsn)

    last_commit_lsn: int = 0
