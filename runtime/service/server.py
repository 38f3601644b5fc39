"""The gateway's HTTP/1.1 protocol: uvicorn's httptools protocol with the request head bounded in size and
in time, and request bodies in idle time. httptools (llhttp) bounds none of these (uvicorn's h11 protocol
bounds the head's size only, with `h11_max_incomplete_event_size`), so one connection could hold 64 MiB of
headers, or trickle a byte a second forever.

- Size: a request line plus headers longer than `server.max_header_bytes` gets 431 and the connection
  is closed; the parser is never fed more than that of one head, so memory per connection stays bounded.
- Time: a head must arrive complete within `server.header_timeout_seconds` of the connection opening
  (first request) or of its first byte (later requests); otherwise 408 and the connection is closed
  (a connection that sent nothing is just closed). Idle keep-alive connections are uvicorn's
  `timeout_keep_alive` (`server.keep_alive_seconds`).
- Body: while the app waits for more of a request body, the client may pause at most
  `server.body_idle_timeout_seconds` between two reads (nginx's client_body_timeout); then the connection
  is closed and the app sees the client gone (a 499: app.py). A pause the app causes (it reads slowly,
  so reading is paused) does not count.

- Zero-copy: a body message carrying `zerocopy.FILE_KEY` is sent with sendfile(2) from its sealed file
  when the connection is plain TCP and nothing is waiting in the transport's buffer (so bytes stay in
  order); what the socket does not take at once goes through the transport from `body` as usual. When
  the start message carries the key too, its head is held back and given to the socket with `MSG_MORE`
  just before the sendfile, so the two leave together; whenever the body cannot follow that way, the
  head goes through the transport first.

uvicorn builds one protocol per connection from the class (`uvicorn.run(http=...)`), also in worker
processes, so the limits are read from the gateway's settings once per process.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import http
import logging
import os
import resource
import socket
from collections.abc import Callable, Coroutine
from typing import Any

from uvicorn._types import ASGISendEvent
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol, RequestResponseCycle

from runtime.observability.metrics import int_counters
from runtime.service import zerocopy
from runtime.service.settings import GatewaySettings, ServerSettings

log = logging.getLogger("runtime.service")

ZERO_COPY_BYTES = int_counters(
    "streamgate_http_zero_copy_bytes_total",
    "Response body bytes sent with sendfile from a sealed file (never copied out of the process)",
)
_ZERO_COPIED = ZERO_COPY_BYTES.labels()
_MSG_MORE = getattr(socket, "MSG_MORE", 0)


def raise_open_files_limit() -> None:
    """Lift this process's soft limit on open descriptors to its hard limit, as nginx's
    `worker_rlimit_nofile` does. A connection that sends hot bodies holds two descriptors (its socket,
    and the duplicate for `MSG_MORE`), and each sealed body one more; a soft limit of 1,024, still the
    default in some container runtimes, would refuse connections long before the process runs out of
    anything else."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    target = hard if hard != resource.RLIM_INFINITY else 1 << 20  # Linux's default nr_open
    if soft != resource.RLIM_INFINITY and soft < target:
        with contextlib.suppress(ValueError, OSError):  # a cap the kernel enforces: keep what there is
            resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))


@functools.cache
def _limits() -> ServerSettings:
    return GatewaySettings().server


class GuardedHttpToolsProtocol(HttpToolsProtocol):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        limits = _limits()
        self._max_head = limits.max_header_bytes
        self._head_timeout = limits.header_timeout_seconds
        self._in_head = True  # between requests or inside a request head
        self._head_bytes = 0  # bytes fed to the parser since this head began
        self._head_started: float | None = None  # loop time of the head's first byte (or of the connection)
        self._body_timeout = limits.body_idle_timeout_seconds
        self._last_read = 0.0  # loop time of the last bytes of a body
        # One timer per connection, re-armed from its own callback: a request costs no timer of its own.
        self._head_timer: asyncio.TimerHandle | None = None
        self._socket_fd = -1  # the connection's socket, for sendfile (-1: not plain TCP, never)
        self._socket: socket.socket | None = None  # a duplicate of it for send(MSG_MORE), made on first use

    # -- connection ---------------------------------------------------------------------------------------

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        sock = transport.get_extra_info("socket")
        if zerocopy.AVAILABLE and sock is not None and transport.get_extra_info("sslcontext") is None:
            self._socket_fd = sock.fileno()
        self._head_started = self.loop.time()  # a connection must send a complete head in time, or go
        self._head_timer = self.loop.call_later(self._head_timeout, self._check_head)

    def connection_lost(self, exc: Exception | None) -> None:
        if self._head_timer is not None:
            self._head_timer.cancel()
            self._head_timer = None
        if self._socket is not None:
            self._socket.close()  # the duplicate only: the transport closes its own
            self._socket = None
        super().connection_lost(exc)

    def data_received(self, data: bytes) -> None:
        if not self._in_head:
            self._last_read = self.loop.time()
            super().data_received(data)
            return
        if self._head_started is None:
            self._head_started = self.loop.time()  # the first byte of the next request's head
        room = self._max_head - self._head_bytes
        if len(data) <= room:
            self._head_bytes += len(data)
            super().data_received(data)
            return
        # Feed no more than the limit; if the head is still not complete, it is too large.
        self._head_bytes += room
        super().data_received(data[:room])
        if self.transport.is_closing():
            return
        if self._in_head:
            self._refuse(http.HTTPStatus.REQUEST_HEADER_FIELDS_TOO_LARGE)
            return
        self.data_received(data[room:])  # the body, or the next request, under the new state

    # -- parser callbacks ---------------------------------------------------------------------------------

    def on_headers_complete(self) -> None:
        self._in_head = False
        self._head_bytes = 0
        self._head_started = None
        self._last_read = now = self.loop.time()
        timer = self._head_timer
        if timer is not None and timer.when() - now > self._body_timeout:  # only if set shorter than heads
            timer.cancel()
            self._head_timer = self.loop.call_later(self._body_timeout, self._check_head)
        super().on_headers_complete()
        if self._socket_fd >= 0:
            # The app's task is created but not yet run: it will call this instead of the cycle's send.
            self.cycle.send = self._zero_copy(self.cycle)  # type: ignore[method-assign,assignment]

    def _zero_copy(self, cycle: RequestResponseCycle) -> Callable[[ASGISendEvent], Coroutine[Any, Any, None]]:
        send = cycle.send
        held: list[bytes] = []  # this response's head, while it waits for its body

        async def zero_copy_send(message: ASGISendEvent) -> None:
            if zerocopy.FILE_KEY in message:
                if message["type"] == "http.response.start":
                    # uvicorn's own send builds and checks the head; it writes it here instead.
                    transport, cycle.transport = cycle.transport, _HeldHead(held)  # type: ignore[assignment]
                    try:
                        await send(message)
                    finally:
                        cycle.transport = transport
                    return
                message = self._send_file(cycle, message, b"".join(held))  # type: ignore[arg-type]
                held.clear()
            elif held:
                self._write_head(cycle, b"".join(held))
                held.clear()
            await send(message)

        return zero_copy_send

    def _send_file(self, cycle: RequestResponseCycle, message: dict[str, Any], head: bytes) -> ASGISendEvent:
        """Sends `head` (if any) and what the socket takes now of the message's body from its file; returns
        the message for the rest (the cycle's own checks and completion then run as for any body)."""
        body = message["body"]
        if (
            cycle.response_started
            and not cycle.response_complete
            and not cycle.disconnected
            and cycle.chunked_encoding is False
            and cycle.scope["method"] != "HEAD"
            and len(body) <= cycle.expected_content_length
            and self.transport.get_write_buffer_size() == 0
        ):
            if self._send_more(head):  # else what the socket did not take of it waits in the transport
                file, offset = message[zerocopy.FILE_KEY]
                sent = zerocopy.send(self._socket_fd, file, offset, len(body))
                if sent:
                    _ZERO_COPIED.value += sent
                    cycle.expected_content_length -= sent
                    body = body[sent:]
        else:
            self._write_head(cycle, head)
        return {"type": "http.response.body", "body": body, "more_body": message.get("more_body", False)}

    def _send_more(self, head: bytes) -> bool:
        """Gives the socket `head` with MSG_MORE (the kernel holds it for what follows): True if it took all
        of it; otherwise what it did not take goes through the transport, and so must the body."""
        if not head:
            return True
        try:
            if self._socket is None:
                self._socket = socket.socket(fileno=os.dup(self._socket_fd))
                self._socket.setblocking(False)  # as the transport's: never wait inside the event loop
            taken = self._socket.send(head, _MSG_MORE)
        except OSError:  # full, broken or out of descriptors: the transport sends it, or reports the error
            taken = 0
        if taken == len(head):
            return True
        self.transport.write(head[taken:])
        return False

    def _write_head(self, cycle: RequestResponseCycle, head: bytes) -> None:
        if head and not cycle.disconnected:
            self.transport.write(head)

    def on_message_complete(self) -> None:
        super().on_message_complete()
        self._in_head = True  # what comes next is the next request's head

    # -- bounds -------------------------------------------------------------------------------------------

    def _check_head(self) -> None:
        """The connection's timer: a head begun longer than the timeout ago is refused, a body the app waits
        for that did not move for its timeout ends the connection; otherwise look again when the current
        head or body (or one begun right now) would time out."""
        self._head_timer = None
        if self.transport.is_closing():
            return
        started = self._head_started
        cycle = self.cycle
        if not self._in_head and cycle is not None and cycle.more_body and not self.flow.read_paused:
            idle = self.loop.time() - self._last_read
            if idle >= self._body_timeout:
                log.info("closing a connection: no request body for %.0f s", idle)
                self.transport.close()
                return
            wait = self._body_timeout - idle
        elif self._in_head and started is not None:
            late = self.loop.time() - started - self._head_timeout
            if late >= 0:
                if self._head_bytes == 0 and (self.cycle is None or self.cycle.response_complete):
                    self.transport.close()  # nothing asked (an idle new connection): nothing to answer
                else:
                    self._refuse(http.HTTPStatus.REQUEST_TIMEOUT)
                return
            wait = -late
        else:
            wait = self._head_timeout
        self._head_timer = self.loop.call_later(wait, self._check_head)

    def _refuse(self, status: http.HTTPStatus) -> None:
        """Answer `status` and close; if a response to an earlier (pipelined) request is still being sent,
        read nothing more and close once it is done."""
        log.info("closing a connection: %d %s", status.value, status.phrase)
        if self.cycle is not None and not self.cycle.response_complete:
            self.cycle.keep_alive = False
            self.transport.pause_reading()
            return
        body = status.phrase.encode()
        head = [f"HTTP/1.1 {status.value} {status.phrase}\r\n".encode()]
        head += [name + b": " + value + b"\r\n" for name, value in self.server_state.default_headers]
        head.append(
            b"content-type: text/plain; charset=utf-8\r\ncontent-length: %d\r\nconnection: close\r\n\r\n"
            % len(body)
        )
        self.transport.write(b"".join(head) + body)
        self.transport.close()


class _HeldHead:
    """Stands in for the transport while uvicorn writes a response's head that waits for its body."""

    __slots__ = ("parts",)

    def __init__(self, parts: list[bytes]) -> None:
        self.parts = parts

    def write(self, data: bytes) -> None:
        self.parts.append(data)
