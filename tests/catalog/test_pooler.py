"""Behind PgBouncer in transaction mode (RDS Proxy pools the same way): server connections change hands
between transactions, so a session's named prepared statements are not there on the next one. With the
statement cache on, asyncpg fails there; `pooler: transaction` (no statement cache, each read in one
transaction) runs the same load without an error."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

import asyncpg
import pytest

from runtime.catalog import plans, queries
from runtime.catalog.database import Database
from runtime.catalog.errors import UnavailableError
from runtime.catalog.settings import CatalogSettings
from tests.catalog.conftest import Pair
from tests.servers import pgbouncer


@pytest.fixture
def bouncer(catalog_pair: Pair) -> Iterator[str]:
    with pgbouncer(catalog_pair.primary, pool_mode="transaction", pool_size=2) as url:
        yield url


async def _load(db: Database, rounds: int = 30) -> list[BaseException]:
    """Concurrent hot reads from 6 client connections over 2 server connections; the errors."""
    names = ["list_titles", "title_detail", "segment", "episodes"]
    args = {
        "list_titles": ("local-a", "", "", 11),
        "title_detail": ("m0000021", "local-a"),
        "segment": ("m0000021", "360p", 1, "local-a"),
        "episodes": ("s0000001", -1, -1, 11),
    }

    async def one(i: int) -> None:
        name = names[i % len(names)]
        await db.fetch(queries.HOT[name], *args[name])

    results = await asyncio.gather(*(one(i) for i in range(rounds * 6)), return_exceptions=True)
    return [r for r in results if isinstance(r, BaseException)]


async def _database(pair: Pair, url: str, pooler: str) -> Database:
    settings = pair.settings(
        primary_url=url, replica_url=None, pooler=pooler, pool_min_size=6, pool_max_size=6
    )
    db = Database(CatalogSettings.model_validate(settings))
    await db.start()
    return db


async def test_a_statement_cache_breaks_behind_transaction_pooling(catalog_pair: Pair, bouncer: str) -> None:
    db = await _database(catalog_pair, bouncer, "direct")
    try:
        errors = await _load(db)
    finally:
        await db.close()
    assert errors, "named prepared statements survived transaction pooling: the hazard is not reproduced"
    causes = {type(e.__cause__ or e).__name__ for e in errors}
    assert causes & {"InvalidSQLStatementNameError", "DuplicatePreparedStatementError"}, causes
    assert all(isinstance(e, (UnavailableError, asyncpg.PostgresError)) for e in errors)


async def test_transaction_mode_settings_run_the_same_load_cleanly(catalog_pair: Pair, bouncer: str) -> None:
    db = await _database(catalog_pair, bouncer, "transaction")
    try:
        assert await _load(db) == []
        rows = await db.fetch(queries.TITLE_DETAIL, "m0000021", "local-a")
        assert rows[0]["slug"] == "m0000021"
        async with db.transaction() as conn:  # writes too, and the commit position is read on the writer
            await conn.execute("UPDATE titles SET description = 'via pgbouncer' WHERE slug = 'm0000021'")
        assert db.last_commit_lsn > 0
        plan = await _explain_through(bouncer, catalog_pair)
        assert plan.problems() == []
    finally:
        await db.close()


async def _explain_through(url: str, pair: Pair) -> plans.Plan:
    conn = await asyncpg.connect(url, password=pair.primary.credentials.app, statement_cache_size=0)
    try:
        return await plans.explain(conn, "segment", queries.SEGMENT, "m0000021", "360p", 1, "local-a")
    finally:
        await conn.close()
