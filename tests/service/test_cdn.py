"""The HTTP CDN purger against a real HTTP listener on loopback: an upload purges every invalidated path."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest

from runtime.service.cdn import CdnPurgeError, HttpCdnPurger
from tests.service.conftest import AppFactory


class Edge:
    """A tiny HTTP/1.1 server recording request lines; answers `status`."""

    def __init__(self) -> None:
        self.requests: list[tuple[str, str, dict[str, str]]] = []
        self.status = 200
        self.port = 0
        self._server: asyncio.Server | None = None

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        line = (await reader.readline()).decode().strip()
        headers: dict[str, str] = {}
        while (raw := await reader.readline()) not in (b"\r\n", b""):
            name, _, value = raw.decode().partition(":")
            headers[name.strip().lower()] = value.strip()
        method, target, _ = line.split(" ", 2)
        self.requests.append((method, target, headers))
        writer.write(f"HTTP/1.1 {self.status} X\r\nContent-Length: 0\r\nConnection: close\r\n\r\n".encode())
        await writer.drain()
        writer.close()

    async def start(self) -> None:
        self._server = await asyncio.start_server(self._handle, "127.0.0.1", 0)
        self.port = self._server.sockets[0].getsockname()[1]

    async def stop(self) -> None:
        assert self._server is not None
        self._server.close()
        await self._server.wait_closed()


@pytest.fixture
async def edge() -> AsyncIterator[Edge]:
    server = Edge()
    await server.start()
    yield server
    await server.stop()


async def test_upload_purges_invalidated_paths(make_gateway: AppFactory, edge: Edge) -> None:
    gw = await make_gateway(cdn={"purge_url": f"http://127.0.0.1:{edge.port}/edge"})
    admin = await gw.step_up()
    await gw.client.put("/v1/content/c1/segments/1", content=b"one", headers=admin)
    await gw.client.put("/v1/content/c1/segments/2", content=b"two", headers=admin)
    edge.requests.clear()
    await gw.client.put("/v1/content/c1/manifest", content=b"#EXTM3U\n", headers=admin)
    purged = sorted(target for method, target, _ in edge.requests if method == "PURGE")
    assert purged == [
        "/edge/v1/content/c1/manifest",
        "/edge/v1/content/c1/segments/1",
        "/edge/v1/content/c1/segments/2",
    ]
    assert all(h["host"] == f"127.0.0.1:{edge.port}" for _, _, h in edge.requests)


async def test_purger_reports_edge_failures(edge: Edge) -> None:
    purger = HttpCdnPurger(f"http://127.0.0.1:{edge.port}")
    await purger.purge(["v1/content/a/manifest"])
    edge.status = 404  # nothing cached there: fine
    await purger.purge(["v1/content/b/manifest"])
    edge.status = 500
    with pytest.raises(CdnPurgeError):
        await purger.purge(["v1/content/c/manifest"])
    dead = HttpCdnPurger("http://127.0.0.1:1", timeout=0.5)
    with pytest.raises(CdnPurgeError):
        await dead.purge(["v1/content/d/manifest"])


async def test_upload_with_failing_edge_answers_503_but_stores(make_gateway: AppFactory, edge: Edge) -> None:
    edge.status = 500
    gw = await make_gateway(cdn={"purge_url": f"http://127.0.0.1:{edge.port}"})
    admin = await gw.step_up()
    response = await gw.client.put("/v1/content/c2/manifest", content=b"#EXTM3U\n", headers=admin)
    assert response.status_code == 503
    assert "invalidation" in response.json()["error"]
    assert (await gw.client.get("/v1/content/c2/manifest")).content == b"#EXTM3U\n"
