"""The local platform's catalog database: PostgreSQL 15 (Debian's), a primary in the first region and a
streaming replica in each other region, under supervisord like every other part.

`local up` initialises the primary's cluster (initdb) before supervisord starts it, then creates the roles
and database, runs the migrations, registers the sample title in the catalog and clones each replica from
the primary (pg_basebackup) before starting it. The gateways reach the writer through a multi-host URL
with `target_session_attrs=read-write` (libpq's way to follow a primary across a failover: the address
that accepts writes is the one used), and read from their own region's node.

PostgreSQL refuses to run as root: as root, its processes run as the `postgres` user, on directories
that user owns, outside the state directory when that one is private (pytest's, for instance).
"""

from __future__ import annotations

import hashlib
import json
import os
import secrets
import tempfile
import time
from dataclasses import asdict, dataclass
from pathlib import Path

from infra.catalog import postgres
from infra.gateway_env import CatalogTarget
from infra.local.errors import LocalPlatformError
from infra.local.gateway import AdminClient, request
from infra.local.layout import LOOPBACK, Layout, Paths

PROGRAM_PREFIX = "postgres-"


def program(region: str) -> str:
    return f"{PROGRAM_PREFIX}{region}"


def root(paths: Paths) -> Path:
    """Where the servers keep their data and sockets: under the state directory, unless the `postgres`
    user (when running as root) could not reach it there."""
    inside = paths.data / "postgres"
    if os.geteuid() != 0 or _reachable(paths.root):
        return inside
    digest = hashlib.sha256(str(paths.root).encode()).hexdigest()[:16]
    return Path(tempfile.gettempdir()) / f"streamgate-pg-{digest}"


def _reachable(path: Path) -> bool:
    """Whether every directory down to `path` lets others through (the postgres user is one of them)."""
    return all(part.stat().st_mode & 0o001 for part in [path, *path.parents] if part.exists())


def datadir(paths: Paths, region: str) -> Path:
    return root(paths) / region / "pgdata"


def socket_dir(paths: Paths, region: str) -> Path:
    return root(paths) / region / "run"


@dataclass(frozen=True)
class LocalCredentials:
    app: str
    replication: str

    @classmethod
    def load_or_create(cls, paths: Paths) -> LocalCredentials:
        path = paths.secrets / "catalog.json"
        if path.exists():
            return cls(**json.loads(path.read_text()))
        created = cls(app=secrets.token_hex(16), replication=secrets.token_hex(16))
        path.parent.mkdir(parents=True, exist_ok=True)
        os.chmod(path.parent, 0o700)
        path.write_text(json.dumps(asdict(created)) + "\n")
        os.chmod(path, 0o600)
        return created

    def as_postgres(self) -> postgres.Credentials:
        return postgres.Credentials(self.app, self.replication)


def command(layout: Layout, paths: Paths, region: str) -> tuple[str, ...]:
    port = layout.region(region).postgres
    return tuple(postgres.server_command(datadir(paths, region), port, socket_dir(paths, region)))


def primary_region(layout: Layout, paths: Paths) -> str:
    """The region whose node is not a standby (the first region until a failover moves it)."""
    for region in layout.region_names:
        if datadir(paths, region).joinpath("PG_VERSION").exists() and not standby(paths, region):
            return region
    return layout.primary.name


def standby(paths: Paths, region: str) -> bool:
    try:
        return datadir(paths, region).joinpath("standby.signal").exists()
    except PermissionError:  # pragma: no cover - only when not root and not the owner
        return False


def initialised(paths: Paths, region: str) -> bool:
    return datadir(paths, region).joinpath("PG_VERSION").exists()


def ensure_primary_cluster(layout: Layout, paths: Paths) -> bool:
    """initdb the first region's cluster if no node has one yet (before supervisord starts it)."""
    if any(initialised(paths, r) for r in layout.region_names):
        return False
    postgres.own(root(paths))
    postgres.own(root(paths) / layout.primary.name)
    postgres.own(socket_dir(paths, layout.primary.name))
    postgres.initdb(datadir(paths, layout.primary.name), LocalCredentials.load_or_create(paths).as_postgres())
    return True


def prepare_primary(layout: Layout, paths: Paths, timeout: float = 60.0) -> list[str]:
    """Roles, database and migrations on the running primary (idempotent); what it did."""
    from infra.catalog import migrate

    region = primary_region(layout, paths)
    port, sock = layout.region(region).postgres, socket_dir(paths, region)
    _wait_ready(port, timeout)
    done = []
    exists = postgres.psql(port, sock, f"SELECT 1 FROM pg_database WHERE datname = '{postgres.DATABASE}'")
    if not exists:
        postgres.psql(
            port, sock, postgres.bootstrap_sql(LocalCredentials.load_or_create(paths).as_postgres())
        )
        done.append(f"created the catalog database on {region}")
    creds = LocalCredentials.load_or_create(paths)
    migrate.upgrade(postgres.app_url(port), password=creds.app)
    return done


def ensure_replicas(layout: Layout, paths: Paths) -> list[str]:
    """Clone each region without a cluster from the primary (pg_basebackup -R); the names cloned."""
    primary = primary_region(layout, paths)
    creds = LocalCredentials.load_or_create(paths).as_postgres()
    cloned = []
    for region in layout.region_names:
        if region == primary or initialised(paths, region):
            continue
        postgres.own(root(paths) / region)
        postgres.own(socket_dir(paths, region))
        postgres.basebackup(layout.region(primary).postgres, datadir(paths, region), creds)
        cloned.append(region)
    return cloned


def _wait_ready(port: int, timeout: float) -> None:
    import subprocess

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        ready = subprocess.run(
            [postgres.binary("pg_isready"), "-h", LOOPBACK, "-p", str(port), "-q"], check=False
        )
        if ready.returncode == 0:
            return
        time.sleep(0.1)
    raise TimeoutError(f"PostgreSQL on {port} not ready within {timeout:.0f}s")


def catalog_target(layout: Layout, paths: Paths, region: str) -> CatalogTarget:
    """The writer through every node (the read-write one is used), reads from the region's own node."""
    hosts = ",".join(f"{LOOPBACK}:{r.postgres}" for r in layout.regions)
    user, db = postgres.APP_USER, postgres.DATABASE
    return CatalogTarget(
        primary_url=f"postgresql://{user}@{hosts}/{db}?target_session_attrs=read-write",
        replica_url=postgres.app_url(layout.region(region).postgres),
        password=LocalCredentials.load_or_create(paths).app,
    )


def probe(port: int) -> tuple[bool, str]:
    """Whether the node answers, and its role (and replay lag)."""
    import subprocess

    ready = subprocess.run(
        [postgres.binary("pg_isready"), "-h", LOOPBACK, "-p", str(port)],
        capture_output=True,
        text=True,
        check=False,
    )
    return ready.returncode == 0, ready.stdout.strip() or f"PostgreSQL on {port} does not answer"


def register_sample(admin: AdminClient, content_id: str, files: dict[str, bytes], regions: list[str]) -> str:
    """The sample title in the catalog, through the edge and the gateway's admin API (MFA step-up), with
    its renditions as the rendition set declares them; what it did."""
    from runtime.catalog.renditions import from_rendition_set

    base = admin.layout.edge_url
    status, _ = request("GET", f"{base}/v1/catalog/titles/{content_id}")
    if status == 200:
        return ""
    headers = {"Authorization": f"Bearer {admin.step_up(base)}", "Content-Type": "application/json"}
    title = {"name": "StreamGate Sample", "kind": "movie", "release_year": 2026, "regions": regions}
    status, body = request(
        "PUT", f"{base}/v1/catalog/titles/{content_id}", json.dumps(title).encode(), headers
    )
    if status not in (200, 201):
        raise LocalPlatformError(f"catalog: PUT title {content_id}: HTTP {status}: {body[:200]!r}")
    renditions = from_rendition_set(files)
    for name, rendition in renditions.items():
        url = f"{base}/v1/catalog/titles/{content_id}/renditions/{name}"
        status, body = request("PUT", url, rendition.model_dump_json().encode(), headers)
        if status != 200:
            raise LocalPlatformError(f"catalog: PUT rendition {name}: HTTP {status}: {body[:200]!r}")
    return f"registered {content_id!r} in the catalog ({len(renditions)} renditions)"


@dataclass(frozen=True)
class CatalogSmoke:
    """The catalog as the smoke run sees it through the edge: the title found by search, its renditions,
    and the record of the segment fetched (its SHA-256 against the bytes served)."""

    ok: bool
    detail: str


def smoke(edge_url: str, content_id: str, renditions: list[str], segment: str, sha256: str) -> CatalogSmoke:
    rendition, _, name = segment.partition("/")
    n = int(name.split(".", 1)[0])
    status, body = request("GET", f"{edge_url}/v1/catalog/titles?q=sample")
    found = status == 200 and any(i["id"] == content_id for i in json.loads(body)["items"])
    status, body = request("GET", f"{edge_url}/v1/catalog/titles/{content_id}")
    listed = sorted(r["name"] for r in json.loads(body)["renditions"]) if status == 200 else []
    url = f"{edge_url}/v1/catalog/titles/{content_id}/renditions/{rendition}/segments/{n}"
    status, body = request("GET", url)
    record = json.loads(body) if status == 200 else {}
    ok = found and listed == sorted(renditions) and record.get("sha256") == sha256
    detail = (
        f"catalog: search {'found' if found else 'did NOT find'} {content_id!r}; renditions "
        f"{', '.join(listed) or 'none'}; segment {segment} record "
        + ("matches the bytes served" if record.get("sha256") == sha256 else f"DIFFERS ({status})")
    )
    return CatalogSmoke(ok, detail)
