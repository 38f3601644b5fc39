"""Small ASGI helpers shared by the pure-ASGI middlewares."""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping

from starlette.types import Send

RawHeaders = list[tuple[bytes, bytes]]  # ASGI header pairs, lower-case names
INTERNAL_ERROR = {"error": "internal error"}  # the body of every 500 we did not mean to send


async def send_json(
    send: Send,
    status: int,
    body: object,
    headers: Mapping[str, str] | None = None,
    raw_headers: Iterable[tuple[bytes, bytes]] = (),
) -> None:
    payload = json.dumps(body, separators=(",", ":")).encode()
    raw = [(b"content-type", b"application/json"), (b"content-length", str(len(payload)).encode())]
    if headers:
        raw.extend((k.lower().encode("latin-1"), v.encode("latin-1")) for k, v in headers.items())
    raw.extend(raw_headers)
    await send({"type": "http.response.start", "status": status, "headers": raw})
    await send({"type": "http.response.body", "body": payload})


def header(scope_headers: list[tuple[bytes, bytes]], name: bytes) -> str | None:
    """The first value of header `name` (lower-case bytes)."""
    for key, value in scope_headers:
        if key == name:
            return value.decode("latin-1")
    return None
