"""PostgreSQL servers of the local platform and the tests: initdb, a primary, a streaming replica made with
pg_basebackup, promotion. Debian's binaries (postgresql-15) live outside PATH, under
/usr/lib/postgresql/<major>/bin. PostgreSQL refuses to run as root: as root, every process here runs as
the `postgres` system user (the Debian package creates it) on directories it owns."""

from __future__ import annotations

import contextlib
import os
import pwd
import shutil
import subprocess
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from infra.catalog.errors import CatalogSetupError

LOOPBACK = "127.0.0.1"
SERVICE_USER = "postgres"
APP_USER = "streamgate"
REPLICATION_USER = "replicator"
DATABASE = "catalog"
# Settings of every server here: loopback only, replication ready, logical sizes for one machine.
BASE_SETTINGS: Mapping[str, str] = {
    "listen_addresses": LOOPBACK,
    "wal_level": "replica",
    "max_wal_senders": "8",
    "max_replication_slots": "8",
    "hot_standby": "on",
    "hot_standby_feedback": "on",
    "wal_keep_size": "256MB",
    "shared_buffers": "128MB",
    "fsync": "on",
    "synchronous_commit": "on",
    "log_min_messages": "warning",
    "logging_collector": "off",
    "max_connections": "100",
    # pg_rewind (a failed-over primary rejoining as a standby) needs hint bits in the WAL.
    "wal_log_hints": "on",
    # SSD-like storage, as Aurora's: random reads cost about what sequential ones do. With the default 4
    # the planner scans a 25,000-title table rather than use its full-text index.
    "random_page_cost": "1.1",
    "effective_cache_size": "1GB",
}


def bindir() -> Path:
    """The newest installed PostgreSQL's binaries (PATH first, for a non-Debian machine)."""
    found = shutil.which("initdb")
    if found:
        return Path(found).resolve().parent  # Debian links a few into /usr/local/bin
    versions = sorted(
        Path("/usr/lib/postgresql").glob("*/bin/postgres"), key=lambda p: int(p.parent.parent.name)
    )
    if not versions:
        raise CatalogSetupError(
            "PostgreSQL not found: install it with `apt-get install -y postgresql` (make system-packages)"
        )
    return versions[-1].parent


def binary(name: str) -> str:
    return str(bindir() / name)


def run_as() -> dict[str, Any]:
    """Popen arguments that drop root for the `postgres` user (empty when not root)."""
    if os.geteuid() != 0:
        return {}
    try:
        entry = pwd.getpwnam(SERVICE_USER)
    except KeyError as exc:
        raise CatalogSetupError(
            "running as root needs the `postgres` user (the postgresql package creates it)"
        ) from exc
    return {"user": entry.pw_uid, "group": entry.pw_gid, "extra_groups": []}


def own(path: Path) -> None:
    """Create `path` (0700) owned by whoever runs the servers."""
    path.mkdir(parents=True, exist_ok=True)
    path.chmod(0o700)
    if os.geteuid() == 0:
        entry = pwd.getpwnam(SERVICE_USER)
        os.chown(path, entry.pw_uid, entry.pw_gid)


def _run(args: list[str], what: str, env: Mapping[str, str] | None = None) -> None:
    proc = subprocess.run(
        args, capture_output=True, text=True, check=False, env={**os.environ, **(env or {})}, **run_as()
    )
    if proc.returncode != 0:
        raise CatalogSetupError(f"{what} failed: {(proc.stderr or proc.stdout).strip()[-400:]}")


@dataclass(frozen=True)
class Credentials:
    """The application's and the replication's passwords (loopback connections use scram-sha-256)."""

    app: str
    replication: str


def initdb(datadir: Path, credentials: Credentials) -> None:
    """A new cluster in `datadir`: password authentication over TCP, trust over its own socket only (for
    the service user's administration), the app and replication roles and the catalog database."""
    own(datadir)
    pwfile = datadir.parent / f".{datadir.name}.pw"
    pwfile.write_text("unused-superuser-password\n")
    with contextlib.suppress(OSError):
        if os.geteuid() == 0:
            entry = pwd.getpwnam(SERVICE_USER)
            os.chown(pwfile, entry.pw_uid, entry.pw_gid)
    try:
        _run(
            [
                binary("initdb"),
                "-D",
                str(datadir),
                "-U",
                SERVICE_USER,
                "--auth-local=trust",
                "--auth-host=scram-sha-256",
                f"--pwfile={pwfile}",
                "--encoding=UTF8",
                "--locale=C",
            ],
            f"initdb {datadir}",
        )
    finally:
        pwfile.unlink(missing_ok=True)


def bootstrap_sql(credentials: Credentials) -> list[str]:
    """Roles and database of a new cluster (run once, over the socket, as the service user)."""

    def quote(value: str) -> str:
        return "'" + value.replace("'", "''") + "'"

    return [
        f"CREATE ROLE {APP_USER} LOGIN PASSWORD {quote(credentials.app)}",
        f"CREATE ROLE {REPLICATION_USER} LOGIN REPLICATION PASSWORD {quote(credentials.replication)}",
        f"CREATE DATABASE {DATABASE} OWNER {APP_USER}",
    ]


def psql(port: int, socket_dir: Path, sql: str | Sequence[str], database: str = "postgres") -> str:
    """Run `sql` (each statement on its own, outside a transaction block) as the service user over the
    server's socket; its output (unaligned, tuples only)."""
    statements = [sql] if isinstance(sql, str) else list(sql)
    proc = subprocess.run(
        [
            binary("psql"),
            "-h",
            str(socket_dir),
            "-p",
            str(port),
            "-U",
            SERVICE_USER,
            "-d",
            database,
            "-v",
            "ON_ERROR_STOP=1",
            "-qAt",
            *(arg for statement in statements for arg in ("-c", statement)),
        ],
        capture_output=True,
        text=True,
        check=False,
        **run_as(),
    )
    if proc.returncode != 0:
        raise CatalogSetupError(f"psql on port {port}: {proc.stderr.strip()[-400:]}")
    return proc.stdout.strip()


def server_command(
    datadir: Path, port: int, socket_dir: Path, settings: Mapping[str, str] | None = None
) -> list[str]:
    """The foreground `postgres` command of one server (what supervisord or a test runs)."""
    merged = {**BASE_SETTINGS, "port": str(port), "unix_socket_directories": str(socket_dir)}
    merged.update(settings or {})
    args = [binary("postgres"), "-D", str(datadir)]
    for key, value in merged.items():
        args += ["-c", f"{key}={value}"]
    return args


def basebackup(primary_port: int, datadir: Path, credentials: Credentials, slot: str | None = None) -> None:
    """A streaming replica's data directory, copied from the primary (`-R` writes standby.signal and
    primary_conninfo; with `slot`, a physical replication slot keeps the WAL it still needs)."""
    own(datadir)
    args = [
        binary("pg_basebackup"),
        "-h",
        LOOPBACK,
        "-p",
        str(primary_port),
        "-U",
        REPLICATION_USER,
        "-D",
        str(datadir),
        "-R",
        "-X",
        "stream",
        "--checkpoint=fast",
    ]
    if slot:
        args += ["-S", slot, "-C"]
    _run(args, f"pg_basebackup into {datadir}", env={"PGPASSWORD": credentials.replication})


def promote(datadir: Path) -> None:
    """Promote a replica to primary and wait until it accepts writes."""
    _run([binary("pg_ctl"), "promote", "-w", "-t", "30", "-D", str(datadir)], f"promote {datadir}")


def app_url(port: int, host: str = LOOPBACK) -> str:
    return f"postgresql://{APP_USER}@{host}:{port}/{DATABASE}"
