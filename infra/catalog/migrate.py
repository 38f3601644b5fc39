"""Run the catalog's migrations (alembic, on psycopg 3) and lint them (squawk, on the SQL alembic emits
offline: what would run is what is checked)."""

from __future__ import annotations

import io
import re
import shutil
import subprocess
import sys
from pathlib import Path

from alembic import command
from alembic.config import Config

from infra.catalog.errors import CatalogSetupError

MIGRATIONS = Path(__file__).with_name("migrations")
# alembic's own bookkeeping table (its DDL is alembic's, not ours to lint)
_ALEMBIC_TABLE = re.compile(r"CREATE TABLE alembic_version \(.*?\);\n", re.S)


def alembic_config() -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    return cfg


def sqlalchemy_url(url: str) -> str:
    """A libpq URL (`postgresql://...`) as SQLAlchemy's psycopg 3 dialect names it."""
    if not url.startswith(("postgresql://", "postgres://")):
        raise CatalogSetupError(f"catalog URL must start with postgresql://, got {url.split('@')[-1]!r}")
    return "postgresql+psycopg://" + url.split("://", 1)[1]


def upgrade(
    url: str, *, password: str | None = None, revision: str = "head", downgrade: bool = False
) -> None:
    """Bring the database at `url` to `revision` (back to it with `downgrade`), first dropping indexes an
    interrupted concurrent build left invalid (so `CREATE INDEX CONCURRENTLY IF NOT EXISTS` builds them
    again)."""
    from sqlalchemy import create_engine

    args = {"password": password} if password else {}
    engine = create_engine(sqlalchemy_url(url), connect_args=args)
    try:
        drop_invalid_indexes(engine)
        with engine.connect() as connection:
            cfg = alembic_config()
            cfg.attributes["connection"] = connection
            (command.downgrade if downgrade else command.upgrade)(cfg, revision)
            connection.commit()
    finally:
        engine.dispose()


def drop_invalid_indexes(engine: object) -> list[str]:
    """Drop the catalog's INVALID indexes (what a failed `CREATE INDEX CONCURRENTLY` leaves behind)."""
    from sqlalchemy import Engine, text

    assert isinstance(engine, Engine)
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
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
        for name in names:
            connection.exec_driver_sql(f'DROP INDEX CONCURRENTLY IF EXISTS "{name}"')
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
    text = _ALEMBIC_TABLE.sub("", offline_sql()) if sql is None else sql
    proc = subprocess.run(
        [squawk_binary(), "--reporter=gcc", "--stdin-filepath=migrations.sql"],
        input=text,
        capture_output=True,
        text=True,
        check=False,
    )
    return proc.returncode == 0, (proc.stdout + proc.stderr).strip()
