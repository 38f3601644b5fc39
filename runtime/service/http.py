"""Small ASGI helpers shared by the pure-ASGI middlewares, and the parsers of untrusted request text
(numbers, JSON) that every route uses, so hostile input is a 4xx at a bounded cost, never a 500."""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from typing import Any

from starlette.convertors import IntegerConvertor, register_url_convertor
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


MAX_DIGITS = 18  # every count, size or position we accept fits in 18 digits (and an int64)


def parse_count(text: str) -> int | None:
    """A non-negative decimal integer as HTTP writes one (ASCII digits only), or None if `text` is not
    one. Longer than MAX_DIGITS reads as 10**MAX_DIGITS: larger than anything we could serve or store,
    and no int() of thousands of digits (Python refuses those with a ValueError)."""
    if not text or not text.isascii() or not text.isdigit():
        return None
    return int(text) if len(text) <= MAX_DIGITS else 10**MAX_DIGITS


class BadJson(ValueError):
    """The body is not JSON we can read (malformed, not UTF-8, or nested too deeply to parse)."""


def load_json(body: bytes) -> Any:
    """`json.loads` for request bodies: any failure, including nesting deep enough to exhaust the
    parser's recursion, is a BadJson (callers answer 400 or 422)."""
    try:
        return json.loads(body)
    except (ValueError, UnicodeDecodeError, RecursionError) as exc:
        raise BadJson(str(exc)[:200]) from None


class BoundedIntConvertor(IntegerConvertor):
    """Starlette's `{name:int}` with at most MAX_DIGITS digits: a longer number does not match the route
    (404) instead of failing int() (a 500)."""

    regex = f"[0-9]{{1,{MAX_DIGITS}}}"


# Route patterns are compiled when routes are built: content_routes imports this module first.
register_url_convertor("int", BoundedIntConvertor())
