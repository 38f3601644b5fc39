"""Real servers for tests: each started on a free loopback port, stopped on teardown."""

from __future__ import annotations

import contextlib
import logging
import os
import shutil
import socket
import subprocess
import time
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from typing import Any

import pytest

LOOPBACK = "127.0.0.1"


def free_port() -> int:
    """A TCP port on loopback that nothing listens on right now."""
    with socket.socket() as s:
        s.bind((LOOPBACK, 0))
        return int(s.getsockname()[1])


def wait_until(ready: Callable[[], bool], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with contextlib.suppress(Exception):
            if ready():
                return
        time.sleep(0.05)
    raise TimeoutError(f"{what} not ready within {timeout:.0f}s")


def port_open(port: int) -> bool:
    with socket.socket() as s:
        s.settimeout(0.2)
        return s.connect_ex((LOOPBACK, port)) == 0


def require_binary(name: str, package: str) -> str:
    """The path of a tool the tests need. A missing tool fails the test (never a skip): `make setup`
    installs every one, so its absence is a broken machine, not an optional feature."""
    path = shutil.which(name)
    if path is None:
        pytest.fail(f"{name} not found: install it with `apt-get install -y {package}` (`make setup` does)")
    return path


@dataclass
class RedisServer:
    port: int
    workdir: Path
    proc: subprocess.Popen[bytes] | None = None
    # TLS and AUTH, as ElastiCache with in-transit encryption and an auth token: (cert, key, ca), password.
    tls: tuple[Path, Path, Path] | None = None
    password: str | None = None

    @property
    def url(self) -> str:
        return f"{'rediss' if self.tls else 'redis'}://{LOOPBACK}:{self.port}/0"

    def start(self) -> None:
        """Start (or restart on the same port, keeping the data dir)."""
        binary = require_binary("redis-server", "redis-server")
        self.workdir.mkdir(parents=True, exist_ok=True)
        listen = ["--port", str(self.port)]
        if self.tls is not None:
            cert, key, ca = self.tls
            listen = ["--port", "0", "--tls-port", str(self.port), "--tls-cert-file", str(cert)]
            listen += ["--tls-key-file", str(key), "--tls-ca-cert-file", str(ca), "--tls-auth-clients", "no"]
        if self.password is not None:
            listen += ["--requirepass", self.password]
        self.proc = subprocess.Popen(
            [
                binary,
                *listen,
                "--bind",
                LOOPBACK,
                "--dir",
                str(self.workdir),
                "--save",
                "",
                "--appendonly",
                "no",
                "--protected-mode",
                "no",
                "--daemonize",
                "no",
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        wait_until(lambda: port_open(self.port), 10, f"redis-server on {self.port}")

    def kill(self) -> None:
        """SIGKILL, as a crash would."""
        if self.proc is not None:
            self.proc.kill()
            self.proc.wait()
            self.proc = None
        wait_until(lambda: not port_open(self.port), 5, f"redis-server on {self.port} to stop")


@contextlib.contextmanager
def redis_server(
    workdir: Path, *, tls: tuple[Path, Path, Path] | None = None, password: str | None = None
) -> Iterator[RedisServer]:
    server = RedisServer(port=free_port(), workdir=workdir, tls=tls, password=password)
    server.start()
    try:
        yield server
    finally:
        server.kill()


@dataclass
class MotoServer:
    port: int

    @property
    def url(self) -> str:
        return f"http://{LOOPBACK}:{self.port}"

    def reset(self) -> None:
        req = urllib.request.Request(f"{self.url}/moto-api/reset", method="POST")
        urllib.request.urlopen(req, timeout=5).close()


@contextlib.contextmanager
def moto_server() -> Iterator[MotoServer]:
    from moto.server import ThreadedMotoServer

    logging.getLogger("werkzeug").setLevel(logging.ERROR)  # one access-log line per request otherwise
    port = free_port()
    server = ThreadedMotoServer(ip_address=LOOPBACK, port=port, verbose=False)
    server.start()
    try:
        wait_until(lambda: port_open(port), 10, f"moto server on {port}")
        yield MotoServer(port=port)
    finally:
        server.stop()


@dataclass
class EnforcingMoto:
    """moto's server with IAM enforcement on: every call after the first `INITIAL_NO_AUTH_ACTION_COUNT` is
    authorized against the caller's policies. The first calls create an administrator whose keys set up
    everything else."""

    url: str
    admin: dict[str, str]  # AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY of the administrator


@contextlib.contextmanager
def enforcing_moto_server() -> Iterator[EnforcingMoto]:
    import sys

    import boto3

    port = free_port()
    binary = str(Path(sys.executable).with_name("moto_server"))
    env = {**os.environ, "INITIAL_NO_AUTH_ACTION_COUNT": "3"}
    proc = subprocess.Popen(
        [binary, "-H", LOOPBACK, "-p", str(port)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"http://{LOOPBACK}:{port}"
    try:
        wait_until(lambda: port_open(port), 20, f"moto server on {port}")
        iam = boto3.client("iam", endpoint_url=url, region_name="us-east-1")
        iam.create_user(UserName="admin")  # the three unauthenticated calls
        iam.put_user_policy(
            UserName="admin",
            PolicyName="admin",
            PolicyDocument='{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"*","Resource":"*"}]}',
        )
        key = iam.create_access_key(UserName="admin")["AccessKey"]
        yield EnforcingMoto(
            url, {"AWS_ACCESS_KEY_ID": key["AccessKeyId"], "AWS_SECRET_ACCESS_KEY": key["SecretAccessKey"]}
        )
    finally:
        proc.kill()
        proc.wait()


def stop(proc: subprocess.Popen[bytes], timeout: float = 10) -> None:
    """SIGTERM, then SIGKILL if it does not exit within `timeout`."""
    proc.terminate()
    try:
        proc.wait(timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


@dataclass
class HttpReceiver:
    """A local HTTP endpoint that records every POST (webhooks, notification services) and answers
    `status`."""

    url: str
    received: list[tuple[str, Any]]  # (path, JSON body)
    status: int = 200


@contextlib.contextmanager
def http_receiver(status: int = 200) -> Iterator[HttpReceiver]:
    import json

    receiver = HttpReceiver("", [], status)

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers["Content-Length"]))
            receiver.received.append((self.path, json.loads(body)))
            self.send_response(receiver.status)
            self.send_header("Content-Length", "4")
            self.end_headers()
            self.wfile.write(b"done")

        def log_message(self, *args: object) -> None:
            pass

    with serving(Handler) as url:
        receiver.url = url
        yield receiver


@contextlib.contextmanager
def serving(handler: type[BaseHTTPRequestHandler]) -> Iterator[str]:
    """An HTTP server with `handler` on a free loopback port, in a thread; its base URL."""
    import threading
    from http.server import ThreadingHTTPServer

    server = ThreadingHTTPServer((LOOPBACK, 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://{LOOPBACK}:{server.server_address[1]}"
    finally:
        server.shutdown()
        thread.join(5)
        server.server_close()


@contextlib.contextmanager
def alertmanager_server(config_file: Path, storage: Path) -> Iterator[str]:
    """A real Alertmanager with `config_file`, on a free loopback port, clustering off; its URL."""
    binary = require_binary("prometheus-alertmanager", "prometheus-alertmanager")
    port = free_port()
    proc = subprocess.Popen(
        [
            binary,
            f"--config.file={config_file}",
            f"--storage.path={storage}",
            f"--web.listen-address={LOOPBACK}:{port}",
            "--cluster.listen-address=",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        wait_until(lambda: port_open(port), 20, f"alertmanager on {port}")
        yield f"http://{LOOPBACK}:{port}"
    finally:
        stop(proc)


@dataclass
class PostgresServer:
    """A PostgreSQL server (primary, or a streaming replica of one) in its own directory: loopback TCP with
    password authentication for the catalog's roles, a private socket for administration."""

    port: int
    root: Path  # holds data/ and the socket; removed by `postgres_server`
    credentials: Any  # infra.catalog.postgres.Credentials
    proc: subprocess.Popen[bytes] | None = None

    @property
    def datadir(self) -> Path:
        return self.root / "data"

    @property
    def url(self) -> str:
        from infra.catalog.postgres import app_url

        return app_url(self.port)

    @property
    def conninfo(self) -> str:
        """The app role's libpq URL, password included (for psycopg; asyncpg takes `password=`)."""
        return self.url.replace("streamgate@", f"streamgate:{self.credentials.app}@")

    def start(self) -> None:
        from infra.catalog import postgres

        log = open(self.root / "server.log", "ab")  # noqa: SIM115 - the child keeps it
        self.proc = subprocess.Popen(
            postgres.server_command(self.datadir, self.port, self.root),
            stdout=log,
            stderr=subprocess.STDOUT,
            **postgres.run_as(),
        )
        log.close()
        wait_until(lambda: self.ready(), 30, f"postgres on {self.port}")

    def ready(self) -> bool:
        from infra.catalog import postgres

        return (
            subprocess.run(
                [postgres.binary("pg_isready"), "-h", LOOPBACK, "-p", str(self.port), "-q"], check=False
            ).returncode
            == 0
        )

    def sql(self, statement: str | list[str], database: str = "catalog") -> str:
        from infra.catalog import postgres

        return postgres.psql(self.port, self.root, statement, database)

    def stop(self) -> None:
        if self.proc is not None:
            stop(self.proc, timeout=30)  # SIGTERM: PostgreSQL's smart shutdown
            self.proc = None

    def kill(self) -> None:
        """SIGKILL, as a crash would."""
        if self.proc is not None:
            self.proc.kill()
            self.proc.wait()
            self.proc = None


def _postgres_root() -> Path:
    """A directory the server's user can reach (pytest's tmp is private to root)."""
    import tempfile

    root = Path(tempfile.mkdtemp(prefix="sg-pg-"))
    from infra.catalog.postgres import own

    own(root)
    return root


@contextlib.contextmanager
def postgres_server(primary: PostgresServer | None = None) -> Iterator[PostgresServer]:
    """A new primary with the catalog database and roles, or (given `primary`) a streaming replica of it."""
    from infra.catalog import postgres

    root = _postgres_root()
    credentials = primary.credentials if primary else postgres.Credentials("app-test-pw", "repl-test-pw")
    server = PostgresServer(port=free_port(), root=root, credentials=credentials)
    try:
        if primary is None:
            postgres.initdb(server.datadir, credentials)
            server.start()
            server.sql(postgres.bootstrap_sql(credentials), database="postgres")
        else:
            postgres.basebackup(primary.port, server.datadir, credentials)
            server.start()
        yield server
    finally:
        server.kill()
        shutil.rmtree(root, ignore_errors=True)


@contextlib.contextmanager
def pgbouncer(server: PostgresServer, pool_mode: str = "transaction", pool_size: int = 2) -> Iterator[str]:
    """PgBouncer in front of `server` (the catalog database, the app role), on a free loopback port; the
    URL clients use. `pool_size` server connections are shared by every client."""
    from infra.catalog import postgres

    binary = require_binary("pgbouncer", "pgbouncer")
    root = _postgres_root()
    port = free_port()
    app = postgres.APP_USER
    (root / "userlist.txt").write_text(f'"{app}" "{server.credentials.app}"\n')
    (root / "pgbouncer.ini").write_text(
        "[databases]\n"
        f"{postgres.DATABASE} = host={LOOPBACK} port={server.port} dbname={postgres.DATABASE}\n"
        "[pgbouncer]\n"
        f"listen_addr = {LOOPBACK}\nlisten_port = {port}\nunix_socket_dir =\n"
        f"auth_type = scram-sha-256\nauth_file = {root / 'userlist.txt'}\n"
        f"pool_mode = {pool_mode}\ndefault_pool_size = {pool_size}\nmax_client_conn = 200\n"
        f"logfile = {root / 'pgbouncer.log'}\npidfile = {root / 'pgbouncer.pid'}\n"
    )
    for name in ("userlist.txt", "pgbouncer.ini"):
        if postgres.run_as():
            os.chown(root / name, postgres.run_as()["user"], postgres.run_as()["group"])
    proc = subprocess.Popen(
        [binary, str(root / "pgbouncer.ini")],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        **postgres.run_as(),
    )
    try:
        wait_until(lambda: port_open(port), 10, f"pgbouncer on {port}")
        yield postgres.app_url(port)
    finally:
        stop(proc)
        shutil.rmtree(root, ignore_errors=True)
