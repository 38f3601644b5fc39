"""The Redis data store adapter against real redis-server processes: a primary and its replica."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import ReadOnlyError, ResponseError
from redis.exceptions import TimeoutError as RedisTimeoutError

from infra.automation.adapters.redis_store import DataStoreError, RedisDataStore, RedisNode
from tests.servers import LOOPBACK, RedisServer, redis_server, wait_until


class Endpoint:
    """A write endpoint as service discovery would keep it: the writer asks it where to write."""

    def __init__(self, regions: dict[str, RedisServer], current: str) -> None:
        self.regions, self.region = regions, current

    async def current(self) -> str | None:
        return self.region

    async def point_to(self, region: str) -> None:
        self.region = region

    @property
    def port(self) -> int:
        return self.regions[self.region].port


def client(port: int) -> redis.Redis:
    return redis.Redis(host=LOOPBACK, port=port, socket_timeout=2, decode_responses=True)


def replicate(replica: RedisServer, primary: RedisServer) -> None:
    for node in (primary, replica):  # full syncs start at once (the default waits 5 s for more replicas)
        client(node.port).config_set("repl-diskless-sync-delay", 0)
    client(replica.port).execute_command("REPLICAOF", LOOPBACK, primary.port)
    wait_until(
        lambda: client(replica.port).info("replication")["master_link_status"] == "up", 10, "replica link"
    )


@pytest.fixture
def pair(tmp_path: Path) -> Iterator[tuple[RedisServer, RedisServer]]:
    with redis_server(tmp_path / "a") as a, redis_server(tmp_path / "b") as b:
        replicate(b, a)
        yield a, b


def store_of(a: RedisServer, b: RedisServer, endpoint: Endpoint | None = None) -> RedisDataStore:
    return RedisDataStore(
        {"a": RedisNode(LOOPBACK, a.port), "b": RedisNode(LOOPBACK, b.port)}, endpoint, timeout=0.5
    )


class Writer:
    """SET k<i> then WAIT 1: `acked` got OK, `replicated` also got WAIT ≥ 1. Retries a failed write on the
    endpoint's current node, as a client library with reconnects would."""

    def __init__(self, endpoint: Endpoint) -> None:
        self.endpoint = endpoint
        self.acked: list[int] = []
        self.replicated: list[int] = []
        self.errors = 0
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        i, conn, port = 0, None, None
        while not self.stop.is_set():
            try:
                if conn is None or port != self.endpoint.port:
                    port = self.endpoint.port
                    conn = client(port)
                if conn.set(f"k{i}", i):
                    self.acked.append(i)
                    if int(conn.execute_command("WAIT", 1, 200)) >= 1:
                        self.replicated.append(i)
                    i += 1
            except (RedisConnectionError, ReadOnlyError, RedisTimeoutError, ResponseError):
                self.errors += 1
                conn = None
                time.sleep(0.005)

    def __enter__(self) -> Writer:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop.set()
        self.thread.join(10)


async def test_replication_reports_roles_offsets_and_link(pair: tuple[RedisServer, RedisServer]) -> None:
    a, b = pair
    client(a.port).set("x", "1")
    client(a.port).execute_command("WAIT", 1, 1000)
    status = await store_of(a, b).replication()
    assert status.primary == "a"
    assert status.nodes["b"].role == "replica" and status.nodes["b"].upstream == "a"
    assert status.nodes["b"].link_up and status.nodes["b"].lag_seconds is not None
    assert status.lag_bytes("b", "a") == 0
    assert status.nodes["a"].offset and status.nodes["a"].offset > 0


async def test_unreachable_node_is_reported_not_raised(pair: tuple[RedisServer, RedisServer]) -> None:
    a, b = pair
    a.kill()
    status = await store_of(a, b).replication()
    assert not status.nodes["a"].reachable and status.primary is None
    assert status.nodes["b"].role == "replica" and not status.nodes["b"].link_up


async def test_fence_holds_writes_until_unfenced(pair: tuple[RedisServer, RedisServer]) -> None:
    a, b = pair
    store = store_of(a, b)
    await store.fence("a", 5)
    started = time.monotonic()
    held = threading.Thread(target=lambda: client(a.port).set("held", "1"))
    held.start()
    await asyncio.sleep(0.3)
    assert client(a.port).get("held") is None  # reads pass, the write waits
    await store.unfence("a")
    held.join(5)
    assert client(a.port).get("held") == "1" and time.monotonic() - started >= 0.3


async def test_planned_switchover_loses_no_acknowledged_write(pair: tuple[RedisServer, RedisServer]) -> None:
    a, b = pair
    endpoint = Endpoint({"a": a, "b": b}, "a")
    store = store_of(a, b, endpoint)
    with Writer(endpoint) as writer:
        wait_until(lambda: len(writer.acked) > 200, 10, "writes before the switchover")
        await store.fence("a", 5)
        caught = await store.catch_up("a", "b", 5)
        await store.promote("b", planned=True)
        done = await store.repoint("b")
        await store.unfence("a")
        count = len(writer.acked)
        wait_until(lambda: len(writer.acked) > count + 200, 10, "writes after the switchover")
    assert caught.lag_bytes_at_end == 0
    assert done.replicas == ["a"] and done.endpoint_moved and not done.unreachable
    survivors = client(b.port)
    keys = survivors.mget([f"k{i}" for i in writer.acked])
    lost = [i for i, v in zip(writer.acked, keys, strict=True) if v is None]
    assert lost == []
    status = await store.replication()
    assert status.primary == "b" and status.nodes["a"].upstream == "b" and status.endpoint == "b"
    wait_until(lambda: client(a.port).info("replication")["master_link_status"] == "up", 10, "a follows b")
    # The old primary serves the same data as a replica: it resynchronised from the new one.
    last = f"k{writer.acked[-1]}"
    wait_until(lambda: client(a.port).get(last) is not None, 10, "a replicated the last write")


async def test_unplanned_promotion_then_returning_primary_is_demoted(
    pair: tuple[RedisServer, RedisServer],
) -> None:
    a, b = pair
    endpoint = Endpoint({"a": a, "b": b}, "a")
    store = store_of(a, b, endpoint)
    client(a.port).set("before", "1")
    client(a.port).execute_command("WAIT", 1, 1000)
    a.kill()
    await store.promote("b", planned=False)
    done = await store.repoint("b")
    assert done.unreachable == ["a"] and done.endpoint_moved
    client(b.port).set("after", "2")
    a.start()  # comes back believing it is a primary, with its stale data
    status = await store.replication()
    assert sorted(status.primaries) == ["a", "b"]
    again = await store.repoint("b")
    assert again.replicas == ["a"] and not again.endpoint_moved
    wait_until(lambda: client(a.port).get("after") == "2", 10, "a resynchronised from b")
    assert client(b.port).get("before") == "1"
    with pytest.raises(ReadOnlyError):
        client(a.port).set("split", "brain")


async def test_catch_up_times_out_when_the_replica_cannot_follow(
    pair: tuple[RedisServer, RedisServer],
) -> None:
    a, b = pair
    store = store_of(a, b)
    client(b.port).execute_command("REPLICAOF", "NO", "ONE")
    with pytest.raises(DataStoreError, match="not a replica"):
        await store.catch_up("a", "b", 0.3)


async def test_promote_is_idempotent(pair: tuple[RedisServer, RedisServer]) -> None:
    a, b = pair
    store = store_of(a, b)
    await store.promote("b", planned=False)
    await store.promote("b", planned=False)
    assert (await store.replication()).nodes["b"].role == "primary"
