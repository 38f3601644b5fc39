"""A fault-injecting TCP proxy for tests: sits on a loopback port in front of a real server (redis-server,
moto, a gateway) and, on command, delays, drops, refuses or blackholes the traffic.

    with fault_proxy(redis.port) as proxy:
        client = redis_client(proxy.url("redis"))
        proxy.blackhole()   # every connection goes silent: bytes vanish, nothing is closed (no FIN)
        proxy.heal()        # new connections pass again; blackholed ones stay dead, as after a partition

Modes (each applies to the open connections at once and to new ones):
- `delay(s)`: every chunk is forwarded `s` seconds after it arrived, order kept.
- `drop()`: every open connection is reset (RST); new ones pass.
- `refuse()`: the port stops listening (connection refused), as if the server died; open ones are reset.
- `blackhole()`: bytes are read and discarded both ways and nothing is ever closed: a half-open peer.
- `heal()`: back to passing for new connections (and listening again after `refuse`).

It runs its own event loop in a daemon thread, so sync tests, async tests and child processes can all
use it. Only loopback addresses are ever used.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import struct
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from enum import StrEnum

from tests.servers import LOOPBACK, free_port


class Mode(StrEnum):
    PASS = "pass"
    DELAY = "delay"
    BLACKHOLE = "blackhole"


@dataclass(eq=False)
class _Link:
    """One proxied connection: both sockets' writers, and whether it has been blackholed for good."""

    client: asyncio.StreamWriter
    upstream: asyncio.StreamWriter
    black: bool = False
    tasks: list[asyncio.Task[None]] = field(default_factory=list)

    def reset(self) -> None:
        for writer in (self.client, self.upstream):
            sock = writer.get_extra_info("socket")
            if sock is not None:
                with contextlib.suppress(OSError):  # RST instead of FIN on close
                    sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            writer.transport.abort()
        for task in self.tasks:
            task.cancel()


class FaultProxy:
    def __init__(self, upstream_port: int, port: int | None = None) -> None:
        self.upstream_port = upstream_port
        self.port = port or free_port()
        self.mode = Mode.PASS
        self.delay_seconds = 0.0
        self.connections = 0  # accepted so far, for tests
        self._links: set[_Link] = set()
        self._loop = asyncio.new_event_loop()
        self._server: asyncio.Server | None = None
        self._thread = threading.Thread(target=self._loop.run_forever, name="fault-proxy", daemon=True)

    def url(self, scheme: str = "http", path: str = "") -> str:
        return f"{scheme}://{LOOPBACK}:{self.port}{path}"

    # -- control (from any thread) ------------------------------------------------------------------------

    def start(self) -> None:
        self._thread.start()
        self._call(self._listen())

    def stop(self) -> None:
        self._call(self._shutdown())
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(5)
        self._loop.close()

    def delay(self, seconds: float) -> None:
        self.delay_seconds = seconds
        self.mode = Mode.DELAY

    def blackhole(self) -> None:
        self.mode = Mode.BLACKHOLE
        for link in list(self._links):
            link.black = True

    def drop(self) -> None:
        self._call(self._reset_all())

    def refuse(self) -> None:
        self._call(self._close_listener())
        self._call(self._reset_all())

    def heal(self) -> None:
        self.mode = Mode.PASS
        self.delay_seconds = 0.0
        if self._server is None:
            self._call(self._listen())

    def _call(self, coro: object) -> None:
        asyncio.run_coroutine_threadsafe(coro, self._loop).result(10)  # type: ignore[arg-type]

    # -- the proxy (on its own loop) ----------------------------------------------------------------------

    async def _listen(self) -> None:
        self._server = await asyncio.start_server(self._accept, LOOPBACK, self.port, reuse_address=True)

    async def _close_listener(self) -> None:
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()
            self._server = None

    async def _reset_all(self) -> None:
        for link in list(self._links):
            link.reset()
        self._links.clear()

    async def _shutdown(self) -> None:
        await self._close_listener()
        await self._reset_all()

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        try:
            up_reader, up_writer = await asyncio.open_connection(LOOPBACK, self.upstream_port)
        except OSError:
            writer.transport.abort()  # upstream down: the client sees a reset, as from a dead server
            return
        link = _Link(writer, up_writer, black=self.mode is Mode.BLACKHOLE)
        self._links.add(link)
        link.tasks = [
            asyncio.create_task(self._pump(link, reader, up_writer)),
            asyncio.create_task(self._pump(link, up_reader, writer)),
        ]
        await asyncio.gather(*link.tasks, return_exceptions=True)
        self._links.discard(link)

    async def _pump(self, link: _Link, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        """Copy one direction. A blackholed link swallows everything and never closes, even at EOF."""
        queue: asyncio.Queue[tuple[float, bytes]] = asyncio.Queue()
        sender = asyncio.create_task(self._send_later(link, queue, writer))
        try:
            while data := await reader.read(65536):
                if link.black:
                    continue
                queue.put_nowait((self._loop.time() + self._delay(), data))
            if link.black:
                await asyncio.Event().wait()  # the peer closed; a blackhole never tells the other side
            await queue.join()
            with contextlib.suppress(OSError):
                writer.write_eof()
        except (OSError, asyncio.IncompleteReadError):
            link.reset()
        finally:
            sender.cancel()

    def _delay(self) -> float:
        return self.delay_seconds if self.mode is Mode.DELAY else 0.0

    async def _send_later(
        self, link: _Link, queue: asyncio.Queue[tuple[float, bytes]], writer: asyncio.StreamWriter
    ) -> None:
        while True:
            due, data = await queue.get()
            wait = due - self._loop.time()
            if wait > 0:
                await asyncio.sleep(wait)
            if not link.black:
                try:
                    writer.write(data)
                    await writer.drain()
                except OSError:
                    link.reset()
            queue.task_done()


@contextlib.contextmanager
def fault_proxy(upstream_port: int) -> Iterator[FaultProxy]:
    proxy = FaultProxy(upstream_port)
    proxy.start()
    try:
        yield proxy
    finally:
        proxy.stop()
