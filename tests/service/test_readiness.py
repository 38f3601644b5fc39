"""Probe semantics (runtime/service/ops_routes.py) against a killed and a hung Redis and object store:
liveness and readiness stay 200 and answer at once, the degradation shows in /healthz and in
`streamgate_backend_up`, cached content keeps serving, and everything clears when the backend returns.
Readiness is 503 only for the pod's own reasons: before its start and while it stops.

Redis is a private redis-server (killed with SIGKILL, hung with SIGSTOP); the object store is moto behind
a fault-injecting proxy (refusing connections as a dead server does, or blackholing them without FIN)."""

from __future__ import annotations

import asyncio
import os
import signal
import time
from collections.abc import Callable, Iterator

import httpx
import pytest

from runtime.service import create_app
from tests.cache.test_faults import eventually
from tests.faultproxy import FaultProxy, fault_proxy
from tests.servers import MotoServer, RedisServer
from tests.service.conftest import AppFactory, Running, gateway_settings

SEGMENT = os.urandom(64 * 1024)
PROBES = {"interval_seconds": 0.2, "timeout_seconds": 0.3}


@pytest.fixture
def store_proxy(moto: MotoServer) -> Iterator[FaultProxy]:
    with fault_proxy(moto.port) as proxy:
        yield proxy


def _faults(
    redis: RedisServer, store: FaultProxy
) -> dict[str, tuple[str, Callable[[], None], Callable[[], None]]]:
    """name -> (backend, break it, mend it)."""
    assert redis.proc is not None
    pid = redis.proc.pid
    return {
        "redis killed": ("redis", redis.kill, redis.start),
        "redis hung": ("redis", lambda: os.kill(pid, signal.SIGSTOP), lambda: os.kill(pid, signal.SIGCONT)),
        "object store killed": ("object_store", store.refuse, store.heal),
        "object store hung": ("object_store", store.blackhole, store.heal),
    }


async def _timed_get(gw: Running, path: str) -> tuple[httpx.Response, float]:
    started = time.perf_counter()
    response = await gw.client.get(path)
    return response, time.perf_counter() - started


def _backend_up(text: str, backend: str) -> float:
    for line in text.splitlines():
        if line.startswith("streamgate_backend_up{") and f'backend="{backend}"' in line:
            return float(line.rsplit(" ", 1)[1])
    raise AssertionError(f"no streamgate_backend_up for {backend}")


@pytest.mark.parametrize("fault", ["redis killed", "redis hung", "object store killed", "object store hung"])
async def test_a_backend_outage_degrades_but_never_unreadies(
    make_gateway: AppFactory, own_redis: RedisServer, store_proxy: FaultProxy, fault: str
) -> None:
    gw = await make_gateway(
        redis={"url": own_redis.url},
        storage={"endpoint_url": store_proxy.url()},
        health=PROBES,
    )
    admin = await gw.step_up()
    assert (
        await gw.client.put("/v1/content/hot/segments/0", content=SEGMENT, headers=admin)
    ).status_code == 200
    assert (await gw.client.get("/v1/content/hot/segments/0")).content == SEGMENT  # now in L1
    await eventually(lambda: not gw.gateway.monitor.degraded, within=3.0)

    backend, breaks, mends = _faults(own_redis, store_proxy)[fault]
    breaks()
    try:
        await eventually(lambda: backend in gw.gateway.monitor.degraded, within=3.0)
        for _ in range(5):
            ready, ready_took = await _timed_get(gw, "/readyz")
            health, health_took = await _timed_get(gw, "/healthz")
            assert ready.status_code == 200 and ready.json()["ready"] is True
            assert backend in ready.json()["degraded"]
            assert health.status_code == 200 and health.json()["status"] == "degraded"
            assert health.json()["backends"][backend]["up"] is False
            assert max(ready_took, health_took) < 0.5  # no probe endpoint waits for a backend
            await asyncio.sleep(0.1)
        served = await asyncio.wait_for(gw.client.get("/v1/content/hot/segments/0"), 10)
        assert served.status_code == 200 and served.content == SEGMENT
        assert _backend_up((await gw.client.get("/metrics")).text, backend) == 0
    finally:
        mends()
    await eventually(lambda: not gw.gateway.monitor.degraded, within=10.0)
    assert _backend_up((await gw.client.get("/metrics")).text, backend) == 1
    assert (await gw.client.get("/healthz")).json()["status"] == "ok"


async def test_readiness_is_the_pods_own_start_and_stop(redis: RedisServer, moto: MotoServer) -> None:
    app = create_app(gateway_settings(redis.url, moto.url, health=PROBES))
    client = httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://gateway")
    starting = await client.get("/readyz")
    assert starting.status_code == 503 and starting.json()["phase"] == "starting"
    assert (await client.get("/healthz")).status_code == 200  # alive, just not ready
    lifespan = app.router.lifespan_context(app)
    await lifespan.__aenter__()
    serving = await client.get("/readyz")
    assert serving.status_code == 200 and serving.json()["phase"] == "serving"
    await lifespan.__aexit__(None, None, None)
    stopping = await client.get("/readyz")
    assert stopping.status_code == 503 and stopping.json()["phase"] == "stopping"
    await client.aclose()
