"""AES-256-GCM envelope encryption with data keys from KMS: one-shot and streaming (authenticated chunks),
and rotation by re-wrapping the data key only. The byte layout is described in `format.py`."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import os
import threading
from collections.abc import AsyncIterable, AsyncIterator, Iterable, Iterator, Mapping
from typing import TYPE_CHECKING, NamedTuple

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from runtime.security import metrics
from runtime.security.envelope.format import (
    FIXED_BYTES,
    FRAME,
    MAGIC,
    PREFIX,
    SALT_BYTES,
    TAG_BYTES,
    VERSION,
    Header,
    canonical_context,
    nonce,
    parse_header,
    require_header,
)
from runtime.security.envelope.keys import DataKey, DataKeyCache, KmsKeys
from runtime.security.errors import (
    ChunkOrderError,
    ContextMismatchError,
    EnvelopeError,
    MalformedBlobError,
    TamperedError,
    TruncatedError,
)
from runtime.security.settings import EncryptionSettings

if TYPE_CHECKING:
    from mypy_boto3_kms import KMSClient

_OPERATIONS = ("encrypt", "decrypt", "rewrap")
_OK = {op: metrics.CRYPTO_OPERATIONS.labels(op, "ok") for op in _OPERATIONS}
_BYTES = {op: metrics.CRYPTO_BYTES.labels(op) for op in _OPERATIONS}
_KDF_PERSON = b"sg-envelope-kdf1"  # BLAKE2b personalisation (16 bytes): domain separation
_COMMIT_PERSON = b"sg-envelope-cmt1"
_MAX_ONE_SHOT = 2**32 - 1 - TAG_BYTES
_SCRATCH_MAX = 8 << 20  # `encrypt` seals objects up to this size through a per-thread scratch buffer
_ONE_SHOT_NONCE = nonce(0, True)


def kms_client(settings: EncryptionSettings) -> KMSClient:
    """A boto3 KMS client with bounded timeouts and retries (endpoint_url points it at moto in tests)."""
    import boto3
    from botocore.config import Config

    config = Config(
        connect_timeout=settings.kms_connect_timeout_seconds,
        read_timeout=settings.kms_read_timeout_seconds,
        retries={"max_attempts": settings.kms_max_attempts, "mode": "standard"},
    )
    return boto3.client(
        "kms", endpoint_url=settings.kms_endpoint_url, region_name=settings.region, config=config
    )


def _derive(data_key: bytes, salt: bytes) -> tuple[bytes, bytes]:
    """The object's AES key and commitment key: keyed BLAKE2b of the salt under the data key, as libsodium's
    crypto_kdf derives subkeys. (HMAC through OpenSSL 3 costs ~10 µs a call here, BLAKE2b ~1 µs; this runs
    for every object, so it shows in the throughput.)"""
    okm = hashlib.blake2b(salt, key=data_key, digest_size=64, person=_KDF_PERSON).digest()
    return okm[:32], okm[32:]


def _commit(commit_key: bytes, prefix: bytes, context_raw: bytes) -> bytes:
    """Commits the object to its full context (and its derived key): a wrong context fails here, clearly."""
    return hashlib.blake2b(
        prefix + context_raw, key=commit_key, digest_size=32, person=_COMMIT_PERSON
    ).digest()


class _ObjectKey(NamedTuple):
    gcm: AESGCM
    aad: bytes  # the fixed header


class _FrameWriter:
    """Cuts a byte stream into frames of `chunk_size`, holding the last piece back until it is known whether
    more follows (so the last frame can be marked final). Whole chunks are sealed straight from the
    caller's buffer; each frame is returned as two pieces (frame header, ciphertext) to avoid a copy.

    The held piece is copied only when the caller's buffer may change under it: the tail of an immutable
    `bytes` input is held as a view of it (a copy costs as much as sealing it)."""

    def __init__(self, key: _ObjectKey, chunk_size: int) -> None:
        self._key = key
        self._size = chunk_size
        self._held = bytearray()
        self._tail: memoryview | None = None  # the held piece when it is a view of an immutable input
        self._sequence = 0
        self.plaintext_bytes = 0

    def feed(self, data: bytes | bytearray | memoryview) -> list[bytes]:
        out: list[bytes] = []
        size = self._size
        if self._tail is not None:
            self._held += self._tail
            self._tail = None
        with memoryview(data) as view:
            at = 0
            if self._held:
                at = size - len(self._held)
                self._held += view[:at]
                if len(self._held) < size or at >= len(view):
                    return out  # nothing past the held piece yet: it may still be the last
                self._seal(self._held, False, out)
                self._held.clear()
            while len(view) - at > size:
                self._seal(view[at : at + size], False, out)
                at += size
            if isinstance(data, bytes):
                self._tail = memoryview(data)[at:]
            else:
                self._held += view[at:]
        return out

    def finish(self) -> list[bytes]:
        out: list[bytes] = []
        self._seal(self._held if self._tail is None else self._tail, True, out)
        self._held.clear()
        self._tail = None
        return out

    def _seal(self, piece: bytes | bytearray | memoryview, final: bool, out: list[bytes]) -> None:
        if self._sequence > 0xFFFFFFFF:
            raise EnvelopeError("too many chunks for one envelope")
        sealed = self._key.gcm.encrypt(nonce(self._sequence, final), piece, self._key.aad)
        out.append(FRAME.pack(self._sequence, 1 if final else 0, len(sealed)))
        out.append(sealed)
        self._sequence += 1
        self.plaintext_bytes += len(piece)


class _FrameReader:
    """Checks and opens frames as bytes arrive; errors name what went wrong (order, tamper, truncation)."""

    def __init__(self, key: _ObjectKey, chunk_size: int) -> None:
        self._key = key
        self._max = chunk_size + TAG_BYTES
        self._buffer = bytearray()
        self._sequence = 0
        self.done = False
        self.plaintext_bytes = 0

    def feed(self, data: bytes | bytearray | memoryview) -> list[bytes]:
        if self.done:
            if len(data):
                raise TamperedError("data after the final chunk")
            return []
        self._buffer += data
        out: list[bytes] = []
        at = 0
        with memoryview(self._buffer) as view:
            while not self.done:
                piece = self.open_frame(view, at)
                if piece is None:
                    break
                plaintext, at = piece
                out.append(plaintext)
            trailing = len(view) - at
        del self._buffer[:at]
        if self.done and trailing:
            raise TamperedError("data after the final chunk")
        return out

    def open_frame(self, view: memoryview, at: int) -> tuple[bytes, int] | None:
        """Open the frame at `at`: (plaintext, end), or None when it is not complete yet."""
        if len(view) - at < FRAME.size:
            return None
        sequence, final, length = FRAME.unpack_from(view, at)
        if sequence != self._sequence:
            raise ChunkOrderError(f"expected chunk {self._sequence}, found chunk {sequence}")
        if final > 1 or length < TAG_BYTES or length > self._max:
            raise MalformedBlobError(f"chunk {sequence} has an invalid frame header")
        start = at + FRAME.size
        if len(view) - start < length:
            return None
        try:
            plaintext = self._key.gcm.decrypt(
                nonce(sequence, final == 1), view[start : start + length], self._key.aad
            )
        except InvalidTag:
            raise TamperedError(f"chunk {sequence} failed authentication") from None
        self._sequence += 1
        self.done = final == 1
        self.plaintext_bytes += len(plaintext)
        return plaintext, start + length

    def finish(self) -> None:
        if not self.done:
            raise TruncatedError(f"envelope ends after {self._sequence} chunks without the final one")


class Envelope:
    """`encrypt(plaintext, context) -> blob`, `decrypt(blob, context) -> plaintext`, streaming variants and
    `rewrap(blob, new_key_id)`. Methods block on KMS (boto3): async code uses the `a*` variants, which run
    the blocking parts in a worker thread.

    Every object gets its own AES key (derived from a data key and a random 32-byte salt), so a data key from the
    cache may serve many objects (bounded by age and uses) without nonce-reuse limits. The cache is keyed
    by the KMS context (`kms_context_keys`, default tenant and purpose), which KMS binds to the wrapped key;
    the whole context (with the object id) is bound to the content by the header's commitment.
    """

    def __init__(self, settings: EncryptionSettings | None = None, *, kms: KMSClient | None = None) -> None:
        self.settings = settings = settings or EncryptionSettings()
        self._kms = KmsKeys(kms if kms is not None else kms_client(settings))
        self._encrypt_keys = DataKeyCache(
            max_entries=settings.cache_max_entries,
            max_age=settings.cache_max_age_seconds,
            max_uses=settings.cache_max_uses,
            direction="encrypt",
        )
        self._decrypt_keys = DataKeyCache(
            max_entries=settings.cache_max_entries,
            max_age=settings.cache_max_age_seconds,
            max_uses=None,
            direction="decrypt",
        )
        self._kms_context_keys = tuple(sorted(settings.kms_context_keys))
        self._scratch_local = threading.local()

    # --- one shot --------------------------------------------------------------------------------

    def encrypt(self, plaintext: bytes, context: Mapping[str, str], *, key_id: str | None = None) -> bytes:
        if len(plaintext) + TAG_BYTES > _SCRATCH_MAX:
            header, key = self._begin_one_shot(plaintext, context, key_id)
            sealed = key.gcm.encrypt(_ONE_SHOT_NONCE, plaintext, key.aad)
            self._count("encrypt", len(plaintext))
            return b"".join((header, FRAME.pack(0, 1, len(sealed)), sealed))
        # Sealed into this thread's scratch buffer, then copied once into `bytes`: one fresh large allocation
        # per call, as the bare AESGCM call makes. Two (the ciphertext, then the joined envelope) free 2 MiB
        # at once for a 1 MiB object, past glibc's trim threshold, so every call would hand the pages back
        # to the kernel and fault them in again: 10x the cost of the cipher.
        scratch = self._scratch()
        size = self.encrypt_into(plaintext, context, scratch, key_id=key_id)
        with memoryview(scratch) as view:
            return bytes(view[:size])

    def _scratch(self) -> bytearray:
        """This thread's scratch buffer: `encrypt_into` grows it to the largest object sealed through it
        (at most _SCRATCH_MAX: larger objects bypass it)."""
        buf: bytearray | None = getattr(self._scratch_local, "buf", None)
        if buf is None:
            buf = self._scratch_local.buf = bytearray()
        return buf

    def encrypt_into(
        self, plaintext: bytes, context: Mapping[str, str], out: bytearray, *, key_id: str | None = None
    ) -> int:
        """Seal into `out`, a buffer the caller reuses, and return the envelope's length: `out[:n]` is the
        envelope `encrypt` returns. `out` grows when it is too small (so no view of it may be held across
        calls); once it fits, a call allocates nothing for the content, as `AESGCM.encrypt_into`."""
        header, key = self._begin_one_shot(plaintext, context, key_id)
        end = len(header) + FRAME.size + len(plaintext) + TAG_BYTES
        if len(out) < end:
            out += bytes(end - len(out))
        self._seal_one_shot(header, key, plaintext, out)
        return end

    def encrypt_buffer(
        self, plaintext: bytes, context: Mapping[str, str], *, key_id: str | None = None
    ) -> bytearray:
        """`encrypt` without its one extra copy: AES-GCM writes straight into a new envelope. For large
        objects on a hot path (immutable `bytes` would cost a full copy, ~15% of the time at 1 MiB)."""
        header, key = self._begin_one_shot(plaintext, context, key_id)
        out = bytearray(len(header) + FRAME.size + len(plaintext) + TAG_BYTES)
        self._seal_one_shot(header, key, plaintext, out)
        return out

    def _begin_one_shot(
        self, plaintext: bytes, context: Mapping[str, str], key_id: str | None
    ) -> tuple[bytes, _ObjectKey]:
        if len(plaintext) > _MAX_ONE_SHOT:
            exc = EnvelopeError("object too large for one frame: use encrypt_stream")
            self._failed("encrypt", exc)
            raise exc
        return self._begin(context, key_id, chunk_size=len(plaintext))

    def _seal_one_shot(self, header: bytes, key: _ObjectKey, plaintext: bytes, out: bytearray) -> None:
        """Header, frame header and the one final frame, written into the start of `out`."""
        at = len(header)
        out[:at] = header
        sealed = len(plaintext) + TAG_BYTES
        FRAME.pack_into(out, at, 0, 1, sealed)
        at += FRAME.size
        with memoryview(out) as view:
            key.gcm.encrypt_into(_ONE_SHOT_NONCE, plaintext, key.aad, view[at : at + sealed])
        self._count("encrypt", len(plaintext))

    def decrypt(self, blob: bytes | bytearray | memoryview, context: Mapping[str, str]) -> bytes:
        try:
            header, at = require_header(blob)
            with memoryview(blob) as view:
                reader = _FrameReader(self._open(header, context), header.chunk_size)
                pieces = []
                while not reader.done:
                    piece = reader.open_frame(view, at)
                    if piece is None:
                        raise TruncatedError("envelope ends inside a chunk or before the final chunk")
                    plaintext, at = piece
                    pieces.append(plaintext)
                if at != len(view):
                    raise TamperedError("data after the final chunk")
        except EnvelopeError as exc:
            self._failed("decrypt", exc)
            raise
        result = pieces[0] if len(pieces) == 1 else b"".join(pieces)
        self._count("decrypt", len(result))
        return result

    # --- streaming -------------------------------------------------------------------------------

    def encrypt_stream(
        self,
        chunks: Iterable[bytes | bytearray | memoryview],
        context: Mapping[str, str],
        *,
        key_id: str | None = None,
    ) -> Iterator[bytes]:
        """Yield the header, then the frames (one per `chunk_size` of input, whatever the input chunking),
        each as two pieces: concatenated in order they form the envelope."""
        header, key = self._begin(context, key_id, chunk_size=self.settings.chunk_size_bytes)
        yield header
        writer = _FrameWriter(key, self.settings.chunk_size_bytes)
        for chunk in chunks:
            yield from writer.feed(chunk)
        yield from writer.finish()
        self._count("encrypt", writer.plaintext_bytes)

    def decrypt_stream(self, chunks: Iterable[bytes], context: Mapping[str, str]) -> Iterator[bytes]:
        """Yield plaintext chunk by chunk, each only after it authenticated. A consumer must treat the
        output as untrusted until the iterator ends without error (truncation shows only at the end)."""
        pending = bytearray()
        reader: _FrameReader | None = None
        try:
            for chunk in chunks:
                if reader is None:
                    pending += chunk
                    parsed = parse_header(pending)
                    if parsed is None:
                        continue
                    header, used = parsed
                    reader = _FrameReader(self._open(header, context), header.chunk_size)
                    chunk, pending = bytes(pending[used:]), bytearray()
                yield from reader.feed(chunk)
            if reader is None:
                raise TruncatedError("envelope ends inside its header")
            reader.finish()
        except EnvelopeError as exc:
            self._failed("decrypt", exc)
            raise
        self._count("decrypt", reader.plaintext_bytes)

    async def aencrypt_stream(
        self,
        chunks: AsyncIterable[bytes] | Iterable[bytes],
        context: Mapping[str, str],
        *,
        key_id: str | None = None,
    ) -> AsyncIterator[bytes]:
        size = self.settings.chunk_size_bytes
        header, key = await asyncio.to_thread(self._begin, context, key_id, size)
        yield header
        writer = _FrameWriter(key, size)
        async for chunk in _aiter(chunks):
            for piece in writer.feed(chunk):
                yield piece
        for piece in writer.finish():
            yield piece
        self._count("encrypt", writer.plaintext_bytes)

    async def adecrypt_stream(
        self, chunks: AsyncIterable[bytes] | Iterable[bytes], context: Mapping[str, str]
    ) -> AsyncIterator[bytes]:
        pending = bytearray()
        reader: _FrameReader | None = None
        try:
            async for chunk in _aiter(chunks):
                if reader is None:
                    pending += chunk
                    parsed = parse_header(pending)
                    if parsed is None:
                        continue
                    header, used = parsed
                    key = await asyncio.to_thread(self._open, header, context)
                    reader = _FrameReader(key, header.chunk_size)
                    chunk, pending = bytes(pending[used:]), bytearray()
                for piece in reader.feed(chunk):
                    yield piece
            if reader is None:
                raise TruncatedError("envelope ends inside its header")
            reader.finish()
        except EnvelopeError as exc:
            self._failed("decrypt", exc)
            raise
        self._count("decrypt", reader.plaintext_bytes)

    # --- async one shot --------------------------------------------------------------------------

    async def aencrypt(
        self, plaintext: bytes, context: Mapping[str, str], *, key_id: str | None = None
    ) -> bytes:
        return await asyncio.to_thread(self.encrypt, plaintext, context, key_id=key_id)

    async def adecrypt(self, blob: bytes, context: Mapping[str, str]) -> bytes:
        return await asyncio.to_thread(self.decrypt, blob, context)

    # --- rotation --------------------------------------------------------------------------------

    def rewrap(self, blob: bytes, new_key_id: str) -> bytes:
        """The same envelope with its data key re-wrapped under `new_key_id` (by KMS ReEncrypt); content
        bytes are copied unchanged. `blob` may also be just a prefix holding the whole header."""
        header, used = require_header(blob)
        wrapped, key_arn = self._kms.rewrap(header.wrapped_key, header.key_id, header.kms_context, new_key_id)
        _OK["rewrap"].inc()
        return header.with_key(key_arn, wrapped).encode() + blob[used:]

    @staticmethod
    def key_id_of(blob: bytes) -> str:
        """The KMS key that wraps this envelope's data key (to find objects still on an old key)."""
        return require_header(blob)[0].key_id

    # --- keys ------------------------------------------------------------------------------------

    def _begin(
        self, context: Mapping[str, str], key_id: str | None, chunk_size: int
    ) -> tuple[bytes, _ObjectKey]:
        """Every encryption starts here: a failure (bad context, KMS refusing) is counted as the encrypt's."""
        try:
            context_raw = canonical_context(context, self.settings.required_context_keys)
            data_key = self._data_key(key_id or self.settings.kms_key_id, context)
        except EnvelopeError as exc:
            self._failed("encrypt", exc)
            raise
        salt = os.urandom(SALT_BYTES)
        aes_key, commit_key = _derive(data_key.plaintext, salt)
        prefix = PREFIX.pack(MAGIC, VERSION, 0, salt, chunk_size)
        fixed = prefix + _commit(commit_key, prefix, context_raw)
        return fixed + data_key.header_tail, _ObjectKey(AESGCM(aes_key), fixed)

    def _data_key(self, key_id: str, context: Mapping[str, str]) -> DataKey:
        kms_items = tuple([(k, context[k]) for k in self._kms_context_keys])
        cache_key = (key_id, kms_items)
        cached = self._encrypt_keys.take(cache_key)
        if cached is not None:
            return cached
        kms_context = dict(kms_items)
        fresh = self._kms.generate(key_id, kms_context)
        kms_raw = canonical_context(kms_context)
        # The variable header is the same for every object under this data key: encode it once.
        fresh.header_tail = Header.build(
            salt=bytes(SALT_BYTES),
            chunk_size=0,
            commitment=bytes(32),
            key_id=fresh.key_id,
            kms_context_raw=kms_raw,
            wrapped_key=fresh.wrapped,
        ).encode()[FIXED_BYTES:]
        self._encrypt_keys.put(cache_key, fresh)
        # Whoever wrote it may read it back without asking KMS again.
        self._decrypt_keys.put(
            (fresh.wrapped, kms_raw, fresh.key_id), DataKey(fresh.plaintext, fresh.wrapped, fresh.key_id)
        )
        return fresh

    def _open(self, header: Header, context: Mapping[str, str]) -> _ObjectKey:
        context_raw = canonical_context(context, self.settings.required_context_keys)
        cache_key = (header.wrapped_key, header.kms_context_raw, header.key_id)
        cached = self._decrypt_keys.take(cache_key)
        if cached is not None:
            data_key = cached.plaintext  # a wrong context still fails the commitment below
        else:
            kms_context = header.kms_context
            if any(context.get(k) != v for k, v in kms_context.items()):
                raise ContextMismatchError("context differs from the one the object was encrypted with")
            data_key = self._kms.unwrap(header.wrapped_key, header.key_id, kms_context)
            self._decrypt_keys.put(cache_key, DataKey(data_key, header.wrapped_key, header.key_id))
        aes_key, commit_key = _derive(data_key, header.salt)
        if not hmac.compare_digest(_commit(commit_key, header.prefix, context_raw), header.commitment):
            raise ContextMismatchError(
                "context differs from the one the object was encrypted with (or the header was altered)"
            )
        return _ObjectKey(AESGCM(aes_key), header.fixed)

    # --- metrics ---------------------------------------------------------------------------------

    @staticmethod
    def _count(operation: str, size: int) -> None:
        _OK[operation].inc()
        _BYTES[operation].inc(size)

    @staticmethod
    def _failed(operation: str, exc: EnvelopeError) -> None:
        metrics.CRYPTO_OPERATIONS.labels(operation, type(exc).__name__).inc()


async def _aiter(chunks: AsyncIterable[bytes] | Iterable[bytes]) -> AsyncIterator[bytes]:
    if isinstance(chunks, AsyncIterable):
        async for chunk in chunks:
            yield chunk
    else:
        for chunk in chunks:
            yield chunk
