"""Decrypting into a file is all or nothing: a stream cut after chunks that authenticated, or with one
tampered chunk, leaves the destination as it was and no temporary file beside it."""

from __future__ import annotations

import hashlib
import os
from collections.abc import Callable
from pathlib import Path

import pytest

from runtime.security.envelope import Envelope
from runtime.security.envelope.sink import adecrypt_to_file
from runtime.security.errors import TamperedError, TruncatedError
from tests.security.conftest import CONTEXT

PLAINTEXT = os.urandom(5 * 1024 + 17)  # several 1 KiB chunks


def _names(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir())


def _pieces(envelope: Envelope) -> list[bytes]:
    return list(envelope.encrypt_stream([PLAINTEXT], CONTEXT))  # header, then (frame header, ciphertext)…


async def test_a_whole_stream_is_committed_with_its_digest(
    make_envelope: Callable[..., Envelope], tmp_path: Path
) -> None:
    envelope = make_envelope(chunk_size_bytes=1024)
    target = tmp_path / "out" / "object"
    written = await adecrypt_to_file(envelope, _pieces(envelope), CONTEXT, target)
    assert target.read_bytes() == PLAINTEXT
    assert (written.size, written.sha256) == (len(PLAINTEXT), hashlib.sha256(PLAINTEXT).hexdigest())
    assert _names(target.parent) == ["object"]


@pytest.mark.parametrize("damage", ["truncated after whole chunks", "one chunk tampered"])
async def test_a_bad_stream_leaves_the_destination_untouched(
    make_envelope: Callable[..., Envelope], tmp_path: Path, damage: str
) -> None:
    envelope = make_envelope(chunk_size_bytes=1024)
    pieces = _pieces(envelope)
    if damage == "truncated after whole chunks":
        pieces, error = pieces[:5], TruncatedError  # header + two chunks that authenticate
    else:
        last = bytearray(pieces[-1])
        last[0] ^= 1
        pieces, error = [*pieces[:-1], bytes(last)], TamperedError  # the final chunk fails
    target = tmp_path / "object"
    target.write_bytes(b"previous content")
    with pytest.raises(error):
        await adecrypt_to_file(envelope, pieces, CONTEXT, target)
    assert target.read_bytes() == b"previous content"
    assert _names(tmp_path) == ["object"]
    absent = tmp_path / "never"
    with pytest.raises(error):
        await adecrypt_to_file(envelope, pieces, CONTEXT, absent)
    assert not absent.exists() and _names(tmp_path) == ["object"]
