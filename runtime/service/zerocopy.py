"""Zero-copy sending of hot bodies: each kept in a sealed in-memory file that the server hands to the
kernel with sendfile(2), as nginx does from its page cache.

Measured here (perf, one gateway process, 256 KiB cached segment): writing a body from a `bytes` spends
~28 µs per request copying it into the kernel, a fifth of the gateway's CPU per request. sendfile
from a memfd references the file's pages instead. The body stays in `bytes` too: everything else reads
it, and the server falls back to it for whatever sendfile could not send at once.

An app asks for it by adding `FILE_KEY: (SealedFile, offset)` to an `http.response.body` message whose
`body` is that file's bytes from `offset`, and to the `http.response.start` before it: the server may then
hold the head back and hand it to the kernel with the body (`MSG_MORE`), so that head and body leave in
one transmission, as nginx's `tcp_nopush` does. Written at once, the head is transmitted on its own, and
the client wakes and reads once more per response. Measured here on a minimal uvloop server (ten
interleaved pairs, wrk on loopback): the server's CPU per request is unchanged (65 µs), the whole
machine's falls 15 % (239 → 202 µs) and req/s rise 17 %, in every pair.

A server that does not know the key sends `body` as usual (runtime.service.server knows it). The file is
sealed (no write, grow or shrink), so what the kernel sends is what was sealed, whatever happens to the
file descriptor's other holders."""

from __future__ import annotations

import fcntl
import os

FILE_KEY = "streamgate.file"
# Smaller bodies gain less than the file costs (a descriptor, a second copy of the body in memory).
MIN_BYTES = 64 * 1024
AVAILABLE = hasattr(os, "memfd_create") and hasattr(os, "sendfile") and hasattr(fcntl, "F_ADD_SEALS")
_SEALS = (
    getattr(fcntl, "F_SEAL_SEAL", 0)
    | getattr(fcntl, "F_SEAL_SHRINK", 0)
    | getattr(fcntl, "F_SEAL_GROW", 0)
    | getattr(fcntl, "F_SEAL_WRITE", 0)
)


class SealedFile:
    """A sealed memfd holding one body; closed when the last reference goes (the kernel keeps the pages
    of data already handed to a socket, so a body in flight survives the close)."""

    __slots__ = ("fd", "size")

    def __init__(self, body: bytes) -> None:
        self.fd = -1
        fd = os.memfd_create("streamgate-body", os.MFD_CLOEXEC | os.MFD_ALLOW_SEALING)
        self.fd = fd
        view = memoryview(body)
        written = 0
        while written < len(body):
            written += os.write(fd, view[written:])
        fcntl.fcntl(fd, fcntl.F_ADD_SEALS, _SEALS)
        self.size = len(body)

    def __del__(self) -> None:
        if self.fd >= 0:
            os.close(self.fd)
            self.fd = -1


def seal(body: bytes) -> SealedFile | None:
    """`body` in a sealed file, or None where that is not possible (no memfd, out of descriptors)."""
    if not AVAILABLE:
        return None
    try:
        return SealedFile(body)
    except OSError:
        return None


def send(socket_fd: int, file: SealedFile, offset: int, count: int) -> int:
    """Bytes of `file[offset:offset + count]` sent now on the non-blocking socket (0 when it is full or
    refuses: the caller sends the rest, and the transport reports any error)."""
    try:
        return os.sendfile(socket_fd, file.fd, offset, count)
    except OSError:
        return 0
