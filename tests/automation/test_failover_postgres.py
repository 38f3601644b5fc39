"""The PostgreSQL data store adapter against real servers (a primary and its streaming replica): a planned
switchover loses no acknowledged write and the old primary rejoins as a standby of the new one; an
unplanned failover promotes the replica at once and leaves the dead primary pending; the combined store
runs both kinds of store as one."""

from __future__ import annotations

import asyncio
import signal
import threading
import time
from collections.abc import Iterator

import psycopg
import pytest

from infra.automation.adapters.combined_store import CombinedDataStore
from infra.automation.adapters.failover_ports import CatchUp, NodeStatus, Replication, Repointed
from infra.automation.adapters.postgres_store import PgNode, PostgresDataStore
from infra.catalog import migrate
from tests.servers import PostgresServer, postgres_server, wait_until


class Processes:
    """NodeControl over the test's own servers: a fast shutdown (SIGINT), waited for; a start."""

    def __init__(self, servers: dict[str, PostgresServer]) -> None:
        self.servers = servers

    async def stop(self, region: str) -> None:
        server = self.servers[region]
        if server.proc is not None:
            server.proc.send_signal(signal.SIGINT)
            await asyncio.to_thread(server.proc.wait, 30)
            server.proc = None

    async def start(self, region: str) -> None:
        await asyncio.to_thread(self.servers[region].start)


@pytest.fixture
def nodes() -> Iterator[dict[str, PostgresServer]]:
    with postgres_server() as a:
        migrate.upgrade(a.url, password=a.credentials.app)
        with postgres_server(a) as b:
            yield {"a": a, "b": b}


def store_of(servers: dict[str, PostgresServer]) -> PostgresDataStore:
    nodes = {r: PgNode(s.port, s.root, s.datadir) for r, s in servers.items()}
    return PostgresDataStore(nodes, Processes(servers), servers["a"].credentials.replication)


class Writer:
    """Inserts titles in autocommit through a multi-host URL with target_session_attrs=read-write, as the
    gateway's pool does; `acked` are the writes whose COMMIT returned."""

    def __init__(self, servers: dict[str, PostgresServer]) -> None:
        hosts = ",".join(f"127.0.0.1:{s.port}" for s in servers.values())
        password = servers["a"].credentials.app
        self.url = f"postgresql://streamgate:{password}@{hosts}/catalog?target_session_attrs=read-write&connect_timeout=2"
        self.acked: list[int] = []
        self.errors = 0
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        i, conn = 0, None
        while not self.stop.is_set():
            try:
                if conn is None:
                    conn = psycopg.connect(self.url, autocommit=True)
                conn.execute(
                    "INSERT INTO titles (slug, name, kind) VALUES (%s, %s, 'movie')", (f"w{i}", f"W {i}")
                )
                self.acked.append(i)
                i += 1
            except psycopg.Error:
                self.errors += 1
                if conn is not None:
                    conn.close()
                conn = None
                i += 1  # a refused write is not retried under the same id: it was never acknowledged
                time.sleep(0.02)
        if conn is not None:
            conn.close()

    def __enter__(self) -> Writer:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop.set()
        self.thread.join(10)


def slugs(server: PostgresServer) -> set[str]:
    return set(server.sql("SELECT slug FROM titles").split())


async def test_the_replication_view_names_roles_links_and_positions(nodes: dict[str, PostgresServer]) -> None:
    view = await store_of(nodes).replication()
    assert view.primary == "a"
    b = view.nodes["b"]
    assert (b.role, b.upstream, b.link_up) == ("replica", "a", True)
    assert view.nodes["a"].offset is not None and b.offset is not None and b.offset <= view.nodes["a"].offset


async def test_a_planned_switchover_loses_no_acknowledged_write_and_the_old_primary_follows(
    nodes: dict[str, PostgresServer],
) -> None:
    store = store_of(nodes)
    with Writer(nodes) as writer:
        wait_until(lambda: len(writer.acked) > 20, 15, "writes before the switchover")
        started = time.monotonic()
        await store.fence("a", 10)
        caught = await store.catch_up("a", "b", 10)
        await store.promote("b", planned=True)
        done = await store.repoint("b")
        await store.unfence("a")
        switched = time.monotonic() - started
        before = len(writer.acked)
        wait_until(lambda: len(writer.acked) > before + 20, 20, "writes on the new primary")
    assert caught.lag_bytes_at_end == 0
    assert done.replicas == ["a"] and done.unreachable == []
    assert switched < 5, switched
    view = await store.replication()
    assert view.primary == "b" and view.nodes["a"].role == "replica" and view.nodes["a"].upstream == "b"
    acked = {f"w{i}" for i in writer.acked}
    assert acked <= slugs(nodes["b"]), sorted(acked - slugs(nodes["b"]))[
        :5
    ]  # RPO 0: nothing acknowledged lost
    wait_until(lambda: acked <= slugs(nodes["a"]), 20, "the old primary to replay the new one's writes")
    # Fenced, the old primary refused writes rather than acknowledging them where they would be lost.
    assert nodes["a"].sql("SHOW default_transaction_read_only") == "off"  # unfenced as a standby


async def test_an_unplanned_failover_promotes_at_once_and_leaves_the_dead_primary_pending(
    nodes: dict[str, PostgresServer],
) -> None:
    store = store_of(nodes)
    nodes["a"].sql("INSERT INTO titles (slug, name, kind) VALUES ('before', 'Before', 'movie')")
    wait_until(lambda: "before" in slugs(nodes["b"]), 10, "the replica to have the write")
    nodes["a"].kill()
    await store.promote("b", planned=False)
    done = await store.repoint("b")
    assert done.unreachable == ["a"] and done.replicas == []
    view = await store.replication()
    assert view.primary == "b" and not view.nodes["a"].reachable
    nodes["b"].sql("INSERT INTO titles (slug, name, kind) VALUES ('after', 'After', 'movie')")
    assert {"before", "after"} <= slugs(nodes["b"])
    # The old primary comes back: a re-run rewinds it onto the new timeline as a standby.
    nodes["a"].start()
    done = await store.repoint("b")
    assert done.replicas == ["a"]
    wait_until(lambda: "after" in slugs(nodes["a"]), 20, "the rewound node to replay the new primary")


class Fake:
    """A data store that only reports a fixed view and counts the steps run on it."""

    def __init__(self, name: str, view: Replication) -> None:
        self.name, self.view, self.steps = name, view, list[str]()

    async def replication(self) -> Replication:
        return self.view

    async def fence(self, primary: str, seconds: float) -> None:
        self.steps.append("fence")

    async def catch_up(self, primary: str, replica: str, within: float) -> CatchUp:
        self.steps.append("catch_up")
        return CatchUp(5, 0, 0.1)

    async def promote(self, region: str, *, planned: bool) -> None:
        self.steps.append("promote")

    async def repoint(self, primary: str) -> Repointed:
        self.steps.append("repoint")
        return Repointed(["a"], [], self.name == "redis")

    async def unfence(self, region: str) -> None:
        self.steps.append("unfence")


async def test_the_combined_store_is_as_ready_as_its_least_ready_member() -> None:
    redis = Fake(
        "redis",
        Replication(
            {
                "a": NodeStatus("a", True, "primary", offset=100),
                "b": NodeStatus("b", True, "replica", "a", True, 90, 0.0),
            },
            endpoint="a",
        ),
    )
    pg = Fake(
        "postgres",
        Replication(
            {
                "a": NodeStatus("a", True, "primary", offset=5000),
                "b": NodeStatus("b", True, "replica", "a", False, 4000),
            }
        ),
    )
    combined = CombinedDataStore([redis, pg])
    view = await combined.replication()
    assert view.endpoint == "a" and view.primary == "a"
    assert view.lag_bytes("b", "a") == 10 + 1000  # what each store still has to replay
    assert view.nodes["b"].link_up is False  # PostgreSQL's link is down: so is the combined one
    assert view.nodes["b"].lag_seconds is None  # not every member reports it
    caught = await combined.catch_up("a", "b", 1)
    assert (caught.lag_bytes_at_start, caught.lag_bytes_at_end) == (10, 0)
    await combined.fence("a", 1)
    await combined.promote("b", planned=True)
    done = await combined.repoint("b")
    await combined.unfence("a")
    assert done.replicas == ["a"] and done.endpoint_moved
    assert redis.steps == pg.steps == ["catch_up", "fence", "promote", "repoint", "unfence"]
    split = CombinedDataStore(
        [
            redis,
            Fake(
                "postgres",
                Replication(
                    {"a": NodeStatus("a", True, "replica", "b"), "b": NodeStatus("b", True, "primary")}
                ),
            ),
        ]
    )
    # The stores disagree (a run stopped between them): the first store's role leads the plan.
    assert (await split.replication()).nodes["a"].role == "primary"
