"""Writing decrypted output safely: a streaming decrypt releases each chunk once it authenticates, but
truncation (a missing final chunk) shows only at the end. A file is therefore written beside its
destination under a temporary name and renamed into place only after the last chunk authenticated, so a
truncated or tampered envelope never leaves partial plaintext where a reader would take it for whole."""

from __future__ import annotations

import contextlib
import hashlib
import os
import tempfile
from collections.abc import AsyncIterable, Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path

from runtime.security.envelope.cipher import Envelope


@dataclass(frozen=True)
class Written:
    """What was committed: plaintext size and SHA-256 (to compare with a manifest before using it)."""

    path: Path
    size: int
    sha256: str


async def adecrypt_to_file(
    envelope: Envelope,
    chunks: AsyncIterable[bytes] | Iterable[bytes],
    context: Mapping[str, str],
    path: Path,
) -> Written:
    """Decrypt a streamed envelope into `path`, all or nothing. On any error (EnvelopeError included) the
    temporary file is removed and `path` keeps whatever it held before (or stays absent)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, temporary = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".partial", dir=path.parent)
    digest, size = hashlib.sha256(), 0
    try:
        with os.fdopen(fd, "wb") as out:
            async for piece in envelope.adecrypt_stream(chunks, context):
                out.write(piece)
                digest.update(piece)
                size += len(piece)
            out.flush()
            os.fsync(out.fileno())
        os.replace(temporary, path)  # the commit: only reached after the final chunk authenticated
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(temporary)
        raise
    return Written(path, size, digest.hexdigest())
