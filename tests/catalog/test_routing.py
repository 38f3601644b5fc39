"""Where reads go (a real primary and streaming replica): the replica while it keeps up, the primary when
its replay lag passes the bound or it has not replayed what the reader must see; a bounded pool whose
waits are measured and whose saturation is a 503, not a queue without end."""

from __future__ import annotations

import asyncio
import time

from runtime.catalog import metrics
from runtime.catalog.database import Database
from runtime.catalog.errors import UnavailableError
from runtime.catalog.settings import CatalogSettings
from tests.catalog.conftest import Pair
from tests.servers import wait_until

WHERE = "SELECT pg_is_in_recovery() AS replica"


async def _database(pair: Pair, **overrides: object) -> Database:
    db = Database(CatalogSettings.model_validate(pair.settings(**overrides)))
    await db.start()
    return db


async def test_reads_use_the_replica_while_it_keeps_up_and_the_primary_when_it_lags(
    catalog_pair: Pair,
) -> None:
    db = await _database(catalog_pair, max_replica_lag_seconds=0.3)
    try:
        assert (await db.fetch(WHERE))[0]["replica"] is True
        catalog_pair.replica.sql("SELECT pg_wal_replay_pause()", database="postgres")
        catalog_pair.primary.sql("UPDATE titles SET description = 'changed' WHERE slug = 'm0000021'")
        for _ in range(200):  # the poller notices the lag
            if db.route() == "primary":
                break
            await asyncio.sleep(0.05)
        assert db.route() == "primary" and db.replica_state.lag_seconds > 0.3
        assert (await db.fetch(WHERE))[0]["replica"] is False
        catalog_pair.replica.sql("SELECT pg_wal_replay_resume()", database="postgres")
        wait_until(catalog_pair.replayed, 10, "replica to catch up")
        await db.poll_replica()
        assert db.route() == "replica"
    finally:
        catalog_pair.replica.sql("SELECT pg_wal_replay_resume()", database="postgres")
        await db.close()


async def test_read_your_writes_goes_to_the_primary_until_the_replica_has_the_write(
    catalog_pair: Pair,
) -> None:
    db = await _database(catalog_pair, max_replica_lag_seconds=60, lag_poll_seconds=30)
    try:
        catalog_pair.replica.sql("SELECT pg_wal_replay_pause()", database="postgres")
        await db.poll_replica()  # lag within the generous bound: the replica is usable
        assert db.route() == "replica"
        async with db.transaction() as conn:
            await conn.execute("UPDATE titles SET description = 'mine' WHERE slug = 'm0000021'")
        assert db.route() == "primary"  # the replica has not replayed this process's write
        read = "SELECT description, pg_is_in_recovery() AS replica FROM titles WHERE slug = 'm0000021'"
        row = (await db.fetch(read))[0]
        assert (row["description"], row["replica"]) == ("mine", False)
        # Another session's position (sent back by its client) is honoured the same way.
        other = await _database(catalog_pair, max_replica_lag_seconds=60, lag_poll_seconds=30)
        try:
            assert other.route() == "replica" and other.route(db.last_commit_lsn) == "primary"
            assert (await other.fetch(read, min_lsn=db.last_commit_lsn))[0]["description"] == "mine"
        finally:
            await other.close()
        catalog_pair.replica.sql("SELECT pg_wal_replay_resume()", database="postgres")
        wait_until(catalog_pair.replayed, 10, "replica to catch up")
        await db.poll_replica()
        assert db.route() == "replica" and (await db.fetch(read))[0]["description"] == "mine"
    finally:
        catalog_pair.replica.sql("SELECT pg_wal_replay_resume()", database="postgres")
        await db.close()


async def test_a_dead_replica_sends_reads_to_the_primary(catalog_pair: Pair) -> None:
    db = await _database(
        catalog_pair, replica_url=catalog_pair.primary.url.replace(str(catalog_pair.primary.port), "1")
    )
    try:
        assert db.route() == "primary"
        assert (await db.fetch(WHERE))[0]["replica"] is False
    finally:
        await db.close()


async def test_the_pool_is_bounded_waits_are_measured_and_saturation_fails_fast(catalog_pair: Pair) -> None:
    db = await _database(catalog_pair, replica_url=None, pool_max_size=2, acquire_timeout_seconds=0.3)
    waits_before = metrics.POOL_WAIT_SECONDS.labels("primary")._sum.get()
    timeouts_before = metrics.POOL_TIMEOUTS._value.get()
    try:
        slow = [asyncio.create_task(db.fetch("SELECT pg_sleep(1)")) for _ in range(2)]
        await asyncio.sleep(0.2)
        started = time.monotonic()
        try:
            await db.fetch("SELECT 1")
        except UnavailableError as exc:
            assert "saturated" in str(exc)
        else:
            raise AssertionError("a third query got a connection from a pool of two busy ones")
        assert 0.25 < time.monotonic() - started < 0.9
        await asyncio.gather(*slow)
        queued = [asyncio.create_task(db.fetch("SELECT pg_sleep(0.1)")) for _ in range(4)]
        await asyncio.gather(*queued)  # 4 on 2 connections: two of them waited ~0.1 s
        assert metrics.POOL_WAIT_SECONDS.labels("primary")._sum.get() - waits_before > 0.15
        assert metrics.POOL_TIMEOUTS._value.get() == timeouts_before + 1
        assert db.primary is not None and db.primary.get_size() <= 2
    finally:
        await db.close()


async def test_a_query_past_its_timeout_is_cancelled(catalog_pair: Pair) -> None:
    db = await _database(catalog_pair, replica_url=None, command_timeout_seconds=0.3)
    try:
        started = time.monotonic()
        try:
            await db.fetch("SELECT pg_sleep(5)")
        except UnavailableError as exc:
            assert "failed" in str(exc)
        else:
            raise AssertionError("a 5 s query outlived a 0.3 s timeout")
        assert time.monotonic() - started < 2
        assert (await db.fetch("SELECT 1 AS one"))[0]["one"] == 1  # the pool recovered its connection
    finally:
        await db.close()
