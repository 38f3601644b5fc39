"""Hot bodies are sent with sendfile(2) from sealed files (runtime.service.zerocopy): through a real uvicorn
server with the gateway's protocol on loopback, every byte must arrive as stored (whole, ranged, HEAD,
pipelined, and to a client too slow for the socket to take a body at once), and the bytes must really
leave through sendfile (`streamgate_http_zero_copy_bytes_total`)."""

from __future__ import annotations

import asyncio
import fcntl
import os
import socket
import time
from collections.abc import AsyncIterator, Awaitable, Callable

import pytest
import uvicorn

from runtime.service import frames, zerocopy
from runtime.service.server import ZERO_COPY_BYTES, GuardedHttpToolsProtocol
from tests.servers import LOOPBACK, free_port, port_open, wait_until
from tests.service.conftest import AppFactory

pytestmark = pytest.mark.skipif(not zerocopy.AVAILABLE, reason="needs memfd and sendfile (Linux)")

PACKETS = 24 * 1024  # 4.5 MiB of MPEG-TS: more than a slow reader's socket takes at once
BODY = b"".join(b"\x47" + os.urandom(187) for _ in range(PACKETS))
PATH = "/v1/content/zc/720p/0.ts"
SENT = ZERO_COPY_BYTES.labels()


# -- the sealed files ------------------------------------------------------------------------------------


def test_a_body_is_sealed_on_its_second_use_and_cannot_be_changed() -> None:
    frame = frames.encode(BODY, "video/mp2t")
    decoded = frames.DecodedFrames(64 * 1024 * 1024)
    first = decoded.decode("k", frame)
    assert first.file is None  # served once: not worth a copy yet
    second = decoded.decode("k", frame)
    assert second.file is not None and second.body is first.body
    assert decoded.decode("k", frame).file is second.file
    fd = second.file.fd
    assert os.pread(fd, len(BODY) + 1, 0) == BODY
    with pytest.raises(PermissionError):
        os.pwrite(fd, b"x", 0)
    with pytest.raises(PermissionError):
        os.ftruncate(fd, 0)
    seals = fcntl.fcntl(fd, fcntl.F_GET_SEALS)
    assert seals & fcntl.F_SEAL_WRITE and seals & fcntl.F_SEAL_SEAL


def test_sealed_files_are_bounded_and_closed_when_dropped() -> None:
    frame = frames.encode(BODY, "video/mp2t")
    small = frames.encode(b"\x47" + bytes(187), "video/mp2t")
    decoded = frames.DecodedFrames(64 * 1024 * 1024, max_files=2)
    fds = []
    for key in ("a", "b", "c"):
        decoded.decode(key, frame)
        obj = decoded.decode(key, frame)
        if obj.file is not None:
            fds.append(obj.file.fd)
        del obj
    assert len(fds) == 2  # the third body is served from bytes
    decoded.decode("s", small)
    assert decoded.decode("s", small).file is None  # too small to gain from a file
    decoded.forget(["a", "b"])
    for fd in fds:
        with pytest.raises(OSError):
            os.fstat(fd)  # closed with its last reference
    # Memory counts the file: a frame whose body twice over does not fit is never sealed.
    tight = frames.DecodedFrames(len(frame) + len(BODY) + 10)
    tight.decode("k", frame)
    assert tight.decode("k", frame).file is None


# -- through the server ----------------------------------------------------------------------------------


@pytest.fixture
async def served(make_gateway: AppFactory) -> AsyncIterator[int]:
    """The gateway app behind a real uvicorn server with the gateway's protocol; the segment uploaded."""
    gw = await make_gateway(
        cache={"l1_max_item_bytes": 8 * 1024 * 1024}, content={"max_upload_bytes": 8 * 1024 * 1024}
    )
    admin = await gw.step_up()
    stored = await gw.client.put(PATH, content=BODY, headers={**admin, "Content-Type": "video/mp2t"})
    assert stored.status_code == 200, stored.text
    port = free_port()
    config = uvicorn.Config(
        gw.app, host=LOOPBACK, port=port, http=GuardedHttpToolsProtocol, lifespan="off", log_level="warning"
    )
    server = uvicorn.Server(config)
    task = asyncio.create_task(server.serve())
    await asyncio.to_thread(wait_until, lambda: port_open(port), 10, "uvicorn")
    try:
        yield port
    finally:
        server.should_exit = True
        await task


def _exchange(
    port: int, request: bytes, replies: int, pause: float = 0.0, trickle: float = 0.0
) -> list[tuple[bytes, bytes]]:
    """Send `request` (one or more pipelined requests), read `replies` responses: (head, body) each. With
    `pause`, the client reads nothing for that long first, so the socket cannot take a whole body; with
    `trickle`, it sleeps that long between reads."""
    with socket.socket() as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 64 * 1024)  # before connecting: the window
        sock.settimeout(10)
        sock.connect((LOOPBACK, port))
        sock.sendall(request)
        time.sleep(pause)
        data = b""
        out: list[tuple[bytes, bytes]] = []
        while len(out) < replies:
            while b"\r\n\r\n" not in data:
                time.sleep(trickle)
                chunk = sock.recv(1 << 20)
                assert chunk, "connection closed"
                data += chunk
            head, data = data.split(b"\r\n\r\n", 1)
            lines = head.split(b"\r\n")
            fields = dict(line.lower().split(b": ", 1) for line in lines[1:])
            length = 0 if request.startswith(b"HEAD") else int(fields[b"content-length"])
            while len(data) < length:
                time.sleep(trickle)
                chunk = sock.recv(1 << 16)
                assert chunk, "connection closed"
                data += chunk
            out.append((lines[0], data[:length]))
            data = data[length:]
        return out


def _get(extra: str = "", method: str = "GET") -> bytes:
    return f"{method} {PATH} HTTP/1.1\r\nhost: gw\r\n{extra}\r\n".encode()


async def _warm(port: int) -> None:
    """Two whole GETs: the second seals the body."""
    for _ in range(2):
        [(status, body)] = await asyncio.to_thread(_exchange, port, _get(), 1)
        assert status == b"HTTP/1.1 200 OK" and body == BODY


async def test_whole_and_ranged_bodies_leave_through_sendfile(served: int) -> None:
    await _warm(served)
    before = SENT.value
    [(status, body)] = await asyncio.to_thread(_exchange, served, _get(), 1)
    assert status == b"HTTP/1.1 200 OK" and body == BODY
    start, end = 100_001, 700_000
    [(status, part)] = await asyncio.to_thread(_exchange, served, _get(f"range: bytes={start}-{end}\r\n"), 1)
    assert status == b"HTTP/1.1 206 Partial Content" and part == BODY[start : end + 1]
    assert SENT.value - before > 0  # some of it went through sendfile (the rest as bytes)
    [(status, empty)] = await asyncio.to_thread(_exchange, served, _get(method="HEAD"), 1)
    assert status == b"HTTP/1.1 200 OK" and empty == b""


async def test_a_slow_reader_and_pipelined_requests_get_every_byte_in_order(served: int) -> None:
    await _warm(served)
    before = SENT.value
    # The client reads nothing for a while: sendfile sends what fits, the transport the rest.
    replies = await asyncio.to_thread(_exchange, served, _get(), 1, 0.5)
    assert replies == [(b"HTTP/1.1 200 OK", BODY)]
    sent = SENT.value - before
    assert 0 < sent < len(BODY)
    # Three pipelined requests on one connection: a body must never overtake the one before it.
    ranged = _get("range: bytes=0-99\r\n")
    replies = await asyncio.to_thread(_exchange, served, _get() + ranged + _get(), 3, 0.5)
    assert replies == [
        (b"HTTP/1.1 200 OK", BODY),
        (b"HTTP/1.1 206 Partial Content", BODY[:100]),
        (b"HTTP/1.1 200 OK", BODY),
    ]


async def test_pipelined_responses_to_a_trickling_reader_arrive_whole_and_in_order(served: int) -> None:
    """Eight pipelined responses, whole and ranged, read 64 KiB at a time: the socket keeps filling and
    draining while the transport holds the rest of one body and the next one starts."""
    await _warm(served)
    small = _get("range: bytes=5-1004\r\n")
    replies = await asyncio.to_thread(_exchange, served, (_get() + small) * 4, 8, 0.0, 0.0005)
    assert replies == [(b"HTTP/1.1 200 OK", BODY), (b"HTTP/1.1 206 Partial Content", BODY[5:1005])] * 4


async def test_a_held_head_is_sent_whatever_body_follows() -> None:
    """A start message that announces a file holds its head back for the body; when the body comes
    without the file (or cannot be sent from it), the head still goes first, through the transport."""
    sealed = zerocopy.seal(BODY)
    assert sealed is not None

    async def app(
        scope: dict[str, object], receive: object, send: Callable[[dict[str, object]], Awaitable[None]]
    ) -> None:
        headers = [(b"content-length", b"%d" % len(BODY))]
        await send(
            {"type": "http.response.start", "status": 200, "headers": headers, zerocopy.FILE_KEY: (sealed, 0)}
        )
        body: dict[str, object] = {"type": "http.response.body", "body": BODY}
        if scope["path"] == "/file":
            body[zerocopy.FILE_KEY] = (sealed, 0)
        await send(body)

    port = free_port()
    config = uvicorn.Config(
        app, host=LOOPBACK, port=port, http=GuardedHttpToolsProtocol, lifespan="off", log_level="warning"
    )
    server = uvicorn.Server(config)
    task = asyncio.create_task(server.serve())
    await asyncio.to_thread(wait_until, lambda: port_open(port), 10, "uvicorn")
    try:
        for path in ("/bytes", "/file"):
            before = SENT.value
            request = f"GET {path} HTTP/1.1\r\nhost: t\r\n\r\n".encode() * 2
            replies = await asyncio.to_thread(_exchange, port, request, 2)
            assert replies == [(b"HTTP/1.1 200 OK", BODY)] * 2, path
            assert (SENT.value > before) == (path == "/file")
        [(status, empty)] = await asyncio.to_thread(
            _exchange, port, b"HEAD /file HTTP/1.1\r\nhost: t\r\n\r\n", 1
        )
        assert status == b"HTTP/1.1 200 OK" and empty == b""
    finally:
        server.should_exit = True
        await task
