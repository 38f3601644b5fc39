"""What an uploaded segment's bytes must look like for its extension: players pick the demuxer from the
bytes and refuse a mismatch (ffmpeg checks the extension against the detected format). Cheap structural
checks, not decoding: MPEG-TS packets, or ISO BMFF boxes (fMP4/CMAF)."""

from __future__ import annotations

import struct

from runtime.service.errors import ContentError

TS_PACKET = 188
TS_SYNC = 0x47
# Top-level boxes an fMP4 init segment starts with, and a media segment (RFC 8216 §3.3, ISO 23000-19).
INIT_FIRST = frozenset({b"ftyp"})
MEDIA_FIRST = frozenset({b"styp", b"sidx", b"moof", b"emsg", b"prft"})


class SegmentError(ContentError):
    """Bytes that are not the container their name says."""


def check_ts(body: bytes, what: str) -> None:
    """Whole 188-byte packets, each starting with the sync byte 0x47."""
    if not body or len(body) % TS_PACKET:
        raise SegmentError(f"{what}: not MPEG-TS ({len(body)} bytes is not a multiple of {TS_PACKET})")
    if body[::TS_PACKET].count(TS_SYNC) != len(body) // TS_PACKET:
        raise SegmentError(f"{what}: not MPEG-TS (a packet does not start with the sync byte 0x47)")


def boxes(body: bytes, what: str) -> list[bytes]:
    """The top-level ISO BMFF box types, checking that their sizes tile the body exactly."""
    types: list[bytes] = []
    pos = 0
    while pos < len(body):
        if len(body) - pos < 8:
            raise SegmentError(f"{what}: truncated ISO BMFF box header at byte {pos}")
        size, kind = struct.unpack_from(">I4s", body, pos)
        header = 8
        if size == 1:
            if len(body) - pos < 16:
                raise SegmentError(f"{what}: truncated ISO BMFF box header at byte {pos}")
            size = struct.unpack_from(">Q", body, pos + 8)[0]
            header = 16
        elif size == 0:
            size = len(body) - pos  # to the end
        if size < header or pos + size > len(body) or not kind.isascii() or not kind.isalnum():
            raise SegmentError(f"{what}: not ISO BMFF (box {kind!r} at byte {pos} has size {size})")
        types.append(kind)
        pos += size
    return types


def check_init(body: bytes, what: str) -> None:
    found = boxes(body, what)
    if not found or found[0] not in INIT_FIRST or b"moov" not in found:
        raise SegmentError(f"{what}: not an fMP4 init segment (expected ftyp then moov, got {found[:4]})")


def check_m4s(body: bytes, what: str) -> None:
    found = boxes(body, what)
    if not found or found[0] not in MEDIA_FIRST or b"moof" not in found or b"mdat" not in found:
        raise SegmentError(f"{what}: not an fMP4 media segment (expected moof and mdat, got {found[:4]})")
