"""Catalog fixtures: real PostgreSQL 15 servers (initdb into a temp dir, a free loopback port).

- `catalog_db`: one primary per session, migrated and seeded with 1,000,000 segment rows (built once: the
  plan tests and every other reader share it, read-only).
- `pg_pair`: a small primary and its streaming replica, per session; `catalog_pair` empties them per test.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest

from infra.catalog import migrate
from infra.catalog.seed import SeedSize, seed
from tests.servers import PostgresServer, postgres_server, wait_until
from tests.service.conftest import AppFactory, Running
from tests.service.conftest import make_gateway as make_gateway  # the gateway fixture, shared

REGIONS = ["local-a", "local-b"]


@pytest.fixture(scope="session")
def catalog_db() -> Iterator[PostgresServer]:
    with postgres_server() as pg:
        migrate.upgrade(pg.url, password=pg.credentials.app)
        seeded = seed(pg.conninfo, REGIONS, SeedSize())
        assert seeded.segments >= 1_000_000
        yield pg


@dataclass
class Pair:
    primary: PostgresServer
    replica: PostgresServer

    def settings(self, **overrides: Any) -> dict[str, Any]:
        """Gateway `catalog` settings for this pair."""
        return {
            "enabled": True,
            "primary_url": self.primary.url,
            "replica_url": self.replica.url,
            "password": self.primary.credentials.app,
            "lag_poll_seconds": 0.05,
            **overrides,
        }

    def replayed(self) -> bool:
        """Whether the replica has replayed everything the primary wrote so far."""
        target = self.primary.sql("SELECT pg_current_wal_lsn()")
        return self.replica.sql(f"SELECT pg_last_wal_replay_lsn() >= '{target}'::pg_lsn") == "t"


@pytest.fixture(scope="session")
def pg_pair() -> Iterator[Pair]:
    with postgres_server() as primary:
        migrate.upgrade(primary.url, password=primary.credentials.app)
        with postgres_server(primary) as replica:
            yield Pair(primary, replica)


@pytest.fixture
def catalog_pair(pg_pair: Pair) -> Pair:
    """The pair, emptied, replaying, and caught up."""
    pg_pair.replica.sql("SELECT pg_wal_replay_resume()", database="postgres")
    pg_pair.primary.sql("TRUNCATE titles RESTART IDENTITY CASCADE")
    small = SeedSize(titles=120, renditions=2, segments=5, series_every=40)
    seed(pg_pair.primary.conninfo, REGIONS, small)
    wait_until(pg_pair.replayed, 10, "replica to replay the seed")
    return pg_pair


@pytest.fixture
async def catalog_gw(make_gateway: AppFactory, catalog_pair: Pair) -> Running:
    """A gateway in local-a on the pair (replica reads while it keeps up)."""
    return await make_gateway(region="local-a", catalog=catalog_pair.settings())
