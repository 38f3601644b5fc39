"""`streamgate catalog`: the content catalog's database: migrate it, lint the migrations, seed it."""

from __future__ import annotations

import os
import time
from typing import Annotated

import typer

from infra.catalog.errors import CatalogSetupError
from infra.clikit import JsonOpt, console, emit_json, reported
from infra.errors import ConfigError

app = typer.Typer(
    name="catalog",
    help="The content catalog's PostgreSQL: migrations (alembic), their linter (squawk), seed data.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    context_settings={"help_option_names": ["-h", "--help"]},
)
UrlOpt = Annotated[
    str,
    typer.Option(
        "--url",
        help="postgresql://user@host:port/db (the password from PGPASSWORD, never on the command line)",
    ),
]


def _url(url: str) -> str:
    if not url.startswith(("postgresql://", "postgres://")):
        raise ConfigError(f"--url {url!r}: expected postgresql://user@host:port/db")
    return url


def _refused(what: str, exc: Exception) -> CatalogSetupError:
    """The database's own refusal (or the driver's), as one line."""
    first = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
    return CatalogSetupError(f"{what} failed: {first}")


@app.command()
def migrate(url: UrlOpt, as_json: JsonOpt = False) -> None:
    """Bring the database to the newest migration (online-safe: indexes built CONCURRENTLY, a 2 s lock
    timeout; indexes an interrupted build left invalid are rebuilt).

    Example: streamgate catalog migrate --url postgresql://streamgate@127.0.0.1:18026/catalog"""
    from infra.catalog import migrate as migrations

    started = time.perf_counter()
    with reported():
        target = _url(url)
        try:
            migrations.upgrade(target, password=os.environ.get("PGPASSWORD"))
        except CatalogSetupError:
            raise
        except Exception as exc:
            raise _refused("migration", exc) from exc
    seconds = time.perf_counter() - started
    if as_json:
        emit_json({"ok": True, "seconds": round(seconds, 2)})
    else:
        console.print(f"migrated to head in {seconds:.1f}s")


@app.command()
def lint(as_json: JsonOpt = False) -> None:
    """squawk on the SQL the migrations run (as `alembic upgrade --sql` emits it); exit 1 on a finding.

    Example: streamgate catalog lint --json"""
    from infra.catalog import migrate as migrations

    with reported():
        ok, report = migrations.lint()
    if as_json:
        emit_json({"ok": ok, "report": report})
    else:
        console.print(report or "squawk: no findings", highlight=False)
    if not ok:
        raise typer.Exit(1)


@app.command()
def seed(
    url: UrlOpt,
    titles: Annotated[int, typer.Option(min=1, help="titles (2 renditions x 20 segments each)")] = 25_000,
    regions: Annotated[str, typer.Option(help="comma-separated regions the titles are available in")] = (
        "local-a,local-b"
    ),
    as_json: JsonOpt = False,
) -> None:
    """Fill an empty, migrated catalog with synthetic titles, renditions and segments (COPY): 25,000
    titles make 1,000,000 segment rows.

    Example: streamgate catalog seed --url postgresql://streamgate@127.0.0.1:18026/catalog --titles 1000"""
    from infra.catalog.seed import SeedSize
    from infra.catalog.seed import seed as fill

    started = time.perf_counter()
    with reported():
        target = _url(url)
        password = os.environ.get("PGPASSWORD")
        conninfo = target if not password else target.replace("@", f":{password}@", 1)
        try:
            done = fill(conninfo, [r for r in regions.split(",") if r], SeedSize(titles=titles))
        except Exception as exc:
            raise _refused("seed", exc) from exc
    seconds = time.perf_counter() - started
    if as_json:
        emit_json({**done.__dict__, "seconds": round(seconds, 2)})
    else:
        console.print(
            f"seeded {done.titles} titles, {done.renditions} renditions, {done.segments} segments in {seconds:.1f}s"
        )
