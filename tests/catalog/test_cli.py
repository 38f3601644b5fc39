"""`streamgate catalog` on a real PostgreSQL: migrate and seed (COPY) through the CLI, the linter, and its
exit codes: 2 for a malformed --url, 1 with one line for what the database refuses."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from infra.catalog.cli import app
from tests.servers import free_port, postgres_server

cli = CliRunner()


def test_migrate_seed_and_lint_through_the_cli(monkeypatch: pytest.MonkeyPatch) -> None:
    with postgres_server() as pg:
        monkeypatch.setenv("PGPASSWORD", pg.credentials.app)
        migrated = cli.invoke(app, ["migrate", "--url", pg.url, "--json"])
        assert migrated.exit_code == 0, migrated.output
        assert json.loads(migrated.stdout)["ok"] is True
        assert pg.sql("SELECT version_num FROM alembic_version") == "0002"
        seeded = cli.invoke(app, ["seed", "--url", pg.url, "--titles", "10", "--regions", "r1", "--json"])
        assert seeded.exit_code == 0, seeded.output
        figures = json.loads(seeded.stdout)
        assert figures["titles"] == 10 and figures["segments"] == 10 * 2 * 20
        assert pg.sql("SELECT count(*) FROM segments") == "400"
        assert pg.sql("SELECT DISTINCT region FROM availability") == "r1"
        again = cli.invoke(app, ["seed", "--url", pg.url, "--titles", "10"])
        assert again.exit_code == 1 and again.stderr.count("\n") == 1 and "seed failed:" in again.stderr
    linted = cli.invoke(app, ["lint"])
    assert linted.exit_code == 0 and "no findings" in linted.stdout


def test_bad_urls_exit_2_and_an_unreachable_server_exits_1() -> None:
    bad = cli.invoke(app, ["migrate", "--url", "mysql://x@127.0.0.1/catalog"])
    assert bad.exit_code == 2 and "--url" in bad.stderr and "postgresql://" in bad.stderr
    closed = cli.invoke(app, ["migrate", "--url", f"postgresql://streamgate@127.0.0.1:{free_port()}/catalog"])
    assert closed.exit_code == 1 and "migration failed:" in closed.stderr
