"""Keyset cursors: the last row's sort key, opaque to clients (base64url JSON), bound to the query it
pages (a cursor of one search used with another is refused, not silently mis-paged)."""

from __future__ import annotations

import base64
import binascii
import hashlib
import json

from runtime.catalog.errors import BadRequestError

MAX_CURSOR_CHARS = 1024
KEY_INT = range(-(1 << 31), 1 << 31)  # the integer keys we page by (season, episode) are int4 parameters


def _scope(query: str) -> str:
    return hashlib.blake2b(query.encode(), digest_size=6).hexdigest()


def encode(key: tuple[object, ...], query: str = "") -> str:
    payload = json.dumps([_scope(query), *key], separators=(",", ":"), ensure_ascii=False).encode()
    return base64.urlsafe_b64encode(payload).decode().rstrip("=")


def decode(cursor: str, query: str, types: tuple[type, ...]) -> tuple[object, ...]:
    """The sort key in `cursor`; BadRequestError (400) unless it is one this API issued for `query`."""
    if len(cursor) > MAX_CURSOR_CHARS:
        raise BadRequestError("invalid cursor: too long (use the `next` value of the previous page)")
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        value = json.loads(raw)
    except (binascii.Error, ValueError, UnicodeDecodeError) as exc:
        raise BadRequestError("invalid cursor: use the `next` value of the previous page") from exc
    if not isinstance(value, list) or len(value) != len(types) + 1:
        raise BadRequestError("invalid cursor: use the `next` value of the previous page")
    scope, *key = value
    if scope != _scope(query):
        raise BadRequestError("cursor belongs to another query: page with the same `q` it came from")
    if not all(type(k) is t and (t is not int or k in KEY_INT) for k, t in zip(key, types, strict=True)):
        raise BadRequestError("invalid cursor: use the `next` value of the previous page")
    return tuple(key)
