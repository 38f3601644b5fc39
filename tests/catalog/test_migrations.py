"""Migrations: online-safe by squawk's rules (the SQL alembic would run is what is linted), re-runnable
after an interrupted concurrent index build, and reversible."""

from __future__ import annotations

from infra.catalog import migrate
from tests.servers import postgres_server


def test_migrations_pass_the_linter_and_the_linter_catches_a_blocking_index() -> None:
    ok, report = migrate.lint()
    assert ok, report
    sql = migrate.offline_sql()
    assert "CREATE INDEX CONCURRENTLY IF NOT EXISTS titles_name_slug" in sql
    assert "SET lock_timeout = '2s'" in sql
    unsafe, report = migrate.lint("SET lock_timeout = '2s';\nCREATE INDEX titles_x ON titles (name);\n")
    assert not unsafe and "require-concurrent-index-creation" in report


def test_an_interrupted_index_build_is_rebuilt_and_migrations_reverse() -> None:
    with postgres_server() as pg:
        migrate.upgrade(pg.url, password=pg.credentials.app)
        # What a CREATE INDEX CONCURRENTLY killed by its timeout leaves: an INVALID index of that name.
        pg.sql("DROP INDEX titles_name_slug")
        pg.sql(
            "CREATE INDEX titles_name_slug ON titles (name, slug); "
            "UPDATE pg_index SET indisvalid = false WHERE indexrelid = 'titles_name_slug'::regclass",
            database="catalog",
        )
        pg.sql("DELETE FROM alembic_version; INSERT INTO alembic_version VALUES ('0001')")
        migrate.upgrade(pg.url, password=pg.credentials.app)
        assert (
            pg.sql("SELECT indisvalid FROM pg_index WHERE indexrelid = 'titles_name_slug'::regclass") == "t"
        )
        assert pg.sql("SELECT version_num FROM alembic_version") == "0002"
        migrate.upgrade(pg.url, password=pg.credentials.app, revision="base", downgrade=True)
        assert (
            pg.sql(
                "SELECT count(*) FROM pg_tables WHERE schemaname = 'public' AND tablename <> 'alembic_version'"
            )
            == "0"
        )
        migrate.upgrade(pg.url, password=pg.credentials.app)
        assert pg.sql("SELECT count(*) FROM pg_indexes WHERE indexname = 'title_words_title'") == "1"
