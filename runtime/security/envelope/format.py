"""The envelope's byte layout (version 1), with no crypto or KMS in it.

    fixed header (74 B):  magic "SGEN" | version u8 | flags u8 | salt 32 B | chunk size u32 | commitment 32 B
    variable header:      key id (u16 len + UTF-8) | KMS context (u16 len + canonical) | wrapped key (u16 len)
    frames, until one is final:  sequence u32 | final u8 | length u32 | AES-GCM ciphertext + tag

The per-object AES key is derived from the data key and the salt (keyed BLAKE2b), so nonces can be the frame's
position: 7 zero bytes | sequence | final flag. Moving a frame or flipping "final" breaks its tag; the clear
sequence number only turns that into a precise error. Every frame authenticates the fixed header, whose
commitment (HMAC of the full context under a derived key) binds the context. The variable header is not
authenticated by the frames on purpose: rotation rewrites it (new key id, re-wrapped data key) without
touching the content; KMS itself authenticates the wrapped key against the KMS context.
"""

from __future__ import annotations

import struct
from collections.abc import Mapping
from typing import NamedTuple

from runtime.security.errors import (
    InvalidContextError,
    MalformedBlobError,
    TruncatedError,
    UnsupportedVersionError,
)

MAGIC = b"SGEN"
VERSION = 1
SALT_BYTES = 32
TAG_BYTES = 16
PREFIX = struct.Struct("!4sBB32sI")  # magic, version, flags, salt, chunk size: what the commitment covers
FIXED_BYTES = PREFIX.size + 32
FRAME = struct.Struct("!IBI")  # sequence, final, ciphertext length
_U16 = struct.Struct("!H")
MAX_FIELD = 0xFFFF


def canonical_context(context: Mapping[str, str], required: tuple[str, ...] = ()) -> bytes:
    """An unambiguous encoding (sorted, length-prefixed) of the context, after checking it."""
    for key in required:
        if key not in context:
            raise InvalidContextError(f"encryption context lacks {key!r}")
    parts = [len(context).to_bytes(2, "big")]
    for key in sorted(context):
        value = context[key]
        if not (isinstance(key, str) and isinstance(value, str) and key and value):
            raise InvalidContextError(f"context entries must be non-empty strings: {key!r}")
        raw_key, raw_value = key.encode(), value.encode()
        if len(raw_key) > MAX_FIELD or len(raw_value) > MAX_FIELD:
            raise InvalidContextError("context entry too long")
        parts += (len(raw_key).to_bytes(2, "big"), raw_key, len(raw_value).to_bytes(2, "big"), raw_value)
    return b"".join(parts)


def parse_context(raw: bytes) -> dict[str, str]:
    try:
        (count,) = _U16.unpack_from(raw, 0)
        at, items = 2, []
        for _ in range(count * 2):
            (n,) = _U16.unpack_from(raw, at)
            items.append(raw[at + 2 : at + 2 + n].decode())
            at += 2 + n
    except (struct.error, UnicodeDecodeError) as exc:
        raise MalformedBlobError("unreadable KMS context in header") from exc
    if at != len(raw):
        raise MalformedBlobError("unreadable KMS context in header")
    return dict(zip(items[::2], items[1::2], strict=True))


def nonce(sequence: int, final: bool) -> bytes:
    return b"\0" * 7 + sequence.to_bytes(4, "big") + (b"\1" if final else b"\0")


class Header(NamedTuple):
    """A parsed header (a tuple: built for every object read, where a frozen dataclass costs 3x)."""

    fixed: bytes  # the 74 authenticated bytes (also each frame's associated data)
    salt: bytes
    chunk_size: int
    commitment: bytes
    key_id: str
    kms_context_raw: bytes
    wrapped_key: bytes

    @property
    def prefix(self) -> bytes:
        return self.fixed[: PREFIX.size]

    @property
    def kms_context(self) -> dict[str, str]:
        return parse_context(self.kms_context_raw)

    @classmethod
    def build(
        cls,
        *,
        salt: bytes,
        chunk_size: int,
        commitment: bytes,
        key_id: str,
        kms_context_raw: bytes,
        wrapped_key: bytes,
    ) -> Header:
        fixed = PREFIX.pack(MAGIC, VERSION, 0, salt, chunk_size) + commitment
        return cls(fixed, salt, chunk_size, commitment, key_id, kms_context_raw, wrapped_key)

    def with_key(self, key_id: str, wrapped_key: bytes) -> Header:
        return self._replace(key_id=key_id, wrapped_key=wrapped_key)

    def encode(self) -> bytes:
        parts = [self.fixed]
        for field in (self.key_id.encode(), self.kms_context_raw, self.wrapped_key):
            if len(field) > MAX_FIELD:
                raise MalformedBlobError("header field too long")
            parts.append(_U16.pack(len(field)))
            parts.append(field)
        return b"".join(parts)


def parse_header(data: bytes | bytearray | memoryview) -> tuple[Header, int] | None:
    """(header, bytes used), or None if `data` is a valid but incomplete start of a header."""
    size = len(data)
    if size >= 4 and data[:4] != MAGIC:
        raise MalformedBlobError("not an envelope (bad magic)")
    if size >= 5 and data[4] != VERSION:
        raise UnsupportedVersionError(f"envelope version {data[4]} is not supported (reads {VERSION})")
    if size < FIXED_BYTES:
        return None
    _, _, flags, salt, chunk_size = PREFIX.unpack_from(data, 0)
    if flags != 0:
        raise UnsupportedVersionError(f"unknown envelope flags {flags:#x}")
    at = FIXED_BYTES
    fields: list[bytes] = []
    for _ in range(3):
        if size < at + 2:
            return None
        (n,) = _U16.unpack_from(data, at)
        at += 2
        if size < at + n:
            return None
        fields.append(bytes(data[at : at + n]))
        at += n
    key_id, kms_raw, wrapped = fields
    fixed = bytes(data[:FIXED_BYTES])
    try:
        key_text = key_id.decode()
    except UnicodeDecodeError as exc:
        raise MalformedBlobError("unreadable key id in header") from exc
    return Header(fixed, salt, chunk_size, fixed[PREFIX.size :], key_text, kms_raw, wrapped), at


def require_header(data: bytes | bytearray | memoryview) -> tuple[Header, int]:
    parsed = parse_header(data)
    if parsed is None:
        raise TruncatedError("envelope ends inside its header")
    return parsed
