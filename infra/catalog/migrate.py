"""Run the catalog's migrations (alembic, on psycopg 3) and lint them (squawk, on the SQL alembic emits
offline: what would run is what is checked)."""

from __future__ import annotations

import io
import shutil
import subprocess
import sys
from pathlib import Path

from alembic import command
from alembic.config import Config

from infra.catalog.errors import CatalogSetupError

MIGRATIONS = Path(__file__).with_name("migrations")
# Rules we do not follow, each for a reason (the rest are errors):
SQUAWK_EXCLUDED = {
    # our ids are bigint and every varchar-ish column is text already; squawk flags `int` in CHECKs too
    "prefer-big-int",
    # the tables are created empty in the same migration that adds their constraints
    "constraint-missing-not-valid",
}


def alembic_config() -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    return cfg


def sqlalchemy_url(url: str) -> str:
    """A libpq URL (`postgresql://...`) as SQLAlchemy's psycopg 3 dialect names it."""
    if not url.startswith(("postgresql://", "postgres://")):
        raise CatalogSetupError(f"catalog URL must start with postgresql://, got {url.split('@')[-1]!r}")
    return "postgresql+psycopg://" + url.split("://", 1)[1]


def upgrade(url: str, *, password: str | None = None, revision: str = "head") -> None:
    """Bring the database at `url` to `revision`, first dropping indexes an interrupted concurrent build
    left invalid (so `CREATE INDEX CONCURRENTLY IF NOT EXISTS` builds them again)."""
    from sqlalchemy import create_engine

    args = {"password": password} if password else {}
    engine = create_engine(sqlalchemy_url(url), connect_args=args)
    try:
        with engine.connect() as connection:
            drop_invalid_indexes(connection)
            cfg = alembic_config()
            cfg.attributes["connection"] = connection
            command.upgrade(cfg, revision)
            connection.commit()
    finally:
        engine.dispose()


def drop_invalid_indexes(connection: object) -> list[str]:
    """Drop the catalog's INVALID indexes (what a failed `CREATE INDEX CONCURRENTLY` leaves behind)."""
    from sqlalchemy import Connection, text

    assert isinstance(connection, Connection)
    names = [
        row[0]
        for row in connection.execute(
            text(
                "SELECT c.relname FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid "
                "JOIN pg_namespace n ON n.oid = c.relnamespace "
                "WHERE NOT i.indisvalid AND n.nspname = current_schema()"
            )
        )
    ]
    connection.commit()
    for name in names:
        connection.execution_options(isolation_level="AUTOCOMMIT").exec_driver_sql(
            f'DROP INDEX CONCURRENTLY IF EXISTS "{name}"'
        )
    return names


def offline_sql(revision: str = "head") -> str:
    """The SQL the migrations run, as alembic emits it offline (`alembic upgrade --sql`)."""
    buffer = io.StringIO()
    cfg = alembic_config()
    cfg.output_buffer = buffer
    command.upgrade(cfg, revision, sql=True)
    return buffer.getvalue()


def squawk_binary() -> str:
    found = shutil.which("squawk") or str(Path(sys.executable).with_name("squawk"))
    if not Path(found).exists():
        raise CatalogSetupError("squawk not found: install the dev extra (`make setup`, squawk-cli)")
    return found


def lint(sql: str | None = None) -> tuple[bool, str]:
    """squawk's verdict on the migrations' SQL (default: all of them): (ok, its report)."""
    text = offline_sql() if sql is None else sql
    excluded = ",".join(sorted(SQUAWK_EXCLUDED))
    proc = subprocess.run(
        [squawk_binary(), f"--exclude={excluded}", "--reporter=gcc", "-"],
        input=text,
        capture_output=True,
        text=True,
        check=False,
    )
    return proc.returncode == 0, (proc.stdout + proc.stderr).strip()
