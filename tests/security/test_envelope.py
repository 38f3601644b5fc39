"""Envelope encryption against moto's KMS: round trips, context binding, tampering, truncation, reordering,
the data-key cache and rotation by re-wrapping."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from runtime.security.envelope import Envelope, parse_header
from runtime.security.envelope.format import FIXED_BYTES, FRAME
from runtime.security.errors import (
    ChunkOrderError,
    ContextMismatchError,
    EnvelopeError,
    InvalidContextError,
    KeyManagementError,
    MalformedBlobError,
    TamperedError,
    TruncatedError,
    UnsupportedVersionError,
)
from runtime.security.settings import EncryptionSettings
from tests.security.conftest import CONTEXT
from tests.servers import free_port


def frames(blob: bytes) -> tuple[bytes, list[bytes]]:
    """Split an envelope into its header and its raw frames."""
    parsed = parse_header(blob)
    assert parsed is not None
    _, at = parsed
    out = []
    while at < len(blob):
        _, _, length = FRAME.unpack_from(blob, at)
        out.append(blob[at : at + FRAME.size + length])
        at += FRAME.size + length
    return blob[: parsed[1]], out


def flip(data: bytes, index: int) -> bytes:
    return data[:index] + bytes([data[index] ^ 0x01]) + data[index + 1 :]


@pytest.mark.parametrize("size", [0, 1, 1000, 1 << 20])
def test_round_trip(envelope: Envelope, size: int) -> None:
    plaintext = os.urandom(size)
    blob = envelope.encrypt(plaintext, CONTEXT)
    assert envelope.decrypt(blob, dict(reversed(CONTEXT.items()))) == plaintext  # order does not matter
    assert plaintext not in blob or size < 4


def test_encrypt_buffer_is_the_same_envelope(envelope: Envelope) -> None:
    plaintext = os.urandom(70_000)
    buffer = envelope.encrypt_buffer(plaintext, CONTEXT)
    assert isinstance(buffer, bytearray)
    assert envelope.decrypt(buffer, CONTEXT) == plaintext
    assert envelope.decrypt(bytes(buffer), CONTEXT) == plaintext
    assert len(buffer) == len(envelope.encrypt(plaintext, CONTEXT))


def test_encrypt_into_reuses_the_callers_buffer(envelope: Envelope) -> None:
    """`out[:n]` is a whole envelope; `out` grows when too small and is reused as it is when large enough
    (a larger object first, then a smaller one: the tail of the old envelope is not part of the new)."""
    out = bytearray()
    big, small = os.urandom(70_000), os.urandom(100)
    n = envelope.encrypt_into(big, CONTEXT, out)
    assert n == len(out) == len(envelope.encrypt(big, CONTEXT))
    assert envelope.decrypt(memoryview(out)[:n], CONTEXT) == big
    held = id(out), len(out)
    n = envelope.encrypt_into(small, CONTEXT, out)
    assert (id(out), len(out)) == held and n < len(out)
    assert envelope.decrypt(bytes(out[:n]), CONTEXT) == small
    with pytest.raises(TamperedError):
        envelope.decrypt(out, CONTEXT)  # the rest of the buffer is not part of the envelope


def test_encrypt_through_the_scratch_buffer_in_any_order_and_thread(envelope: Envelope) -> None:
    """`encrypt` seals into a per-thread scratch buffer, reused and grown: objects of every size, in any
    order, on several threads at once, each get their own envelope (past the scratch's cap too)."""
    from concurrent.futures import ThreadPoolExecutor

    from runtime.security.envelope.cipher import _SCRATCH_MAX

    sizes = [1 << 20, 10, (1 << 20) + 5, 0, 3 << 20, 70_000, _SCRATCH_MAX + 1, 100]
    plaintexts = [os.urandom(n) for n in sizes]
    with ThreadPoolExecutor(4) as pool:
        blobs = list(pool.map(lambda p: envelope.encrypt(p, CONTEXT), plaintexts * 2))
    assert [envelope.decrypt(b, CONTEXT) for b in blobs] == plaintexts * 2


def test_key_derivation_separates_objects_and_purposes() -> None:
    from runtime.security.envelope.cipher import _derive

    data_key, salt = os.urandom(32), os.urandom(32)
    aes_key, commit_key = _derive(data_key, salt)
    assert len(aes_key) == len(commit_key) == 32 and aes_key != commit_key
    assert _derive(data_key, salt) == (aes_key, commit_key)
    assert _derive(data_key, os.urandom(32))[0] != aes_key
    assert _derive(os.urandom(32), salt)[0] != aes_key


def test_same_plaintext_twice_gives_different_blobs(envelope: Envelope) -> None:
    a, b = envelope.encrypt(b"same", CONTEXT), envelope.encrypt(b"same", CONTEXT)
    assert a != b  # fresh salt → fresh per-object key


def test_wrong_context_is_refused(envelope: Envelope, make_envelope: Callable[..., Envelope]) -> None:
    blob = envelope.encrypt(b"secret", CONTEXT)
    for changed in ({"object_id": "video/43"}, {"tenant": "other"}, {"purpose": "thumbnail"}):
        with pytest.raises(ContextMismatchError):
            envelope.decrypt(blob, {**CONTEXT, **changed})
        with pytest.raises(ContextMismatchError):  # also without any cached key
            make_envelope(cache_max_entries=0).decrypt(blob, {**CONTEXT, **changed})
    with pytest.raises(ContextMismatchError):
        envelope.decrypt(blob, {**CONTEXT, "extra": "x"})
    with pytest.raises(InvalidContextError):
        envelope.encrypt(b"x", {"tenant": "acme", "purpose": "content"})
    with pytest.raises(InvalidContextError):
        envelope.encrypt(b"x", {**CONTEXT, "tenant": ""})


def test_tampering_is_detected(envelope: Envelope, make_envelope: Callable[..., Envelope]) -> None:
    blob = envelope.encrypt(b"x" * 5000, CONTEXT)
    header, (_frame,) = frames(blob)
    body = len(header) + FRAME.size
    with pytest.raises(TamperedError):
        envelope.decrypt(flip(blob, body + 10), CONTEXT)  # ciphertext
    with pytest.raises(TamperedError):
        envelope.decrypt(flip(blob, len(blob) - 1), CONTEXT)  # tag
    with pytest.raises(ContextMismatchError):
        envelope.decrypt(flip(blob, FIXED_BYTES - 1), CONTEXT)  # commitment
    with pytest.raises(ContextMismatchError):
        envelope.decrypt(flip(blob, 10), CONTEXT)  # salt → another derived key
    with pytest.raises(TamperedError):  # the wrapped data key, checked by KMS
        make_envelope(cache_max_entries=0).decrypt(flip(blob, len(header) - 20), CONTEXT)
    with pytest.raises(TamperedError):
        envelope.decrypt(blob + b"\0", CONTEXT)
    with pytest.raises(MalformedBlobError):
        envelope.decrypt(b"XXXX" + blob[4:], CONTEXT)
    with pytest.raises(UnsupportedVersionError):
        envelope.decrypt(blob[:4] + b"\x02" + blob[5:], CONTEXT)


def test_truncation_is_detected(envelope: Envelope) -> None:
    blob = envelope.encrypt(os.urandom(3000), CONTEXT)
    header, _ = frames(blob)
    for cut in (0, 3, FIXED_BYTES + 1, len(header), len(header) + 4, len(blob) - 1):
        with pytest.raises(TruncatedError):
            envelope.decrypt(blob[:cut], CONTEXT)


def streamed(envelope: Envelope, size: int) -> tuple[bytes, bytes]:
    plaintext = os.urandom(size)
    return plaintext, b"".join(envelope.encrypt_stream([plaintext], CONTEXT))


@pytest.mark.parametrize("piece", [333, 1024, 5000])
def test_streaming_round_trip_with_any_chunking(make_envelope: Callable[..., Envelope], piece: int) -> None:
    envelope = make_envelope(chunk_size_bytes=1024)
    for size in (0, 1, 1024, 1025, 2048, 4096, 10_000):
        plaintext = os.urandom(size)
        pieces = [plaintext[i : i + piece] for i in range(0, size, piece)]
        blob = b"".join(envelope.encrypt_stream(pieces, CONTEXT))
        _, chunks = frames(blob)
        assert len(chunks) == max(1, -(-size // 1024))
        assert envelope.decrypt(blob, CONTEXT) == plaintext
        dribble = [blob[i : i + 7] for i in range(0, len(blob), 7)]
        assert b"".join(envelope.decrypt_stream(dribble, CONTEXT)) == plaintext


def test_streaming_never_holds_a_view_of_a_buffer_the_caller_may_reuse(
    make_envelope: Callable[..., Envelope],
) -> None:
    """The tail of an immutable input is held as a view; a mutable one is copied, so a caller reading
    into one reused buffer gets its data sealed as it was when fed."""
    envelope = make_envelope(chunk_size_bytes=1024)
    plaintext = os.urandom(5000)

    def pieces() -> Iterator[bytes | bytearray]:
        reused = bytearray()
        for i, at in enumerate(range(0, len(plaintext), 700)):
            if i % 2:
                yield plaintext[at : at + 700]  # bytes: its tail may be held as a view
            else:
                reused[:] = plaintext[at : at + 700]
                yield reused
                reused[:] = b"\xff" * len(reused)  # the caller reuses its buffer after the writer saw it

    blob = b"".join(envelope.encrypt_stream(pieces(), CONTEXT))
    assert envelope.decrypt(blob, CONTEXT) == plaintext


def test_reordered_duplicated_or_skipped_chunks_are_detected(make_envelope: Callable[..., Envelope]) -> None:
    envelope = make_envelope(chunk_size_bytes=1024)
    _, blob = streamed(envelope, 4000)
    header, f = frames(blob)
    assert len(f) == 4
    for order in ([0, 2, 1, 3], [0, 1, 1, 2, 3], [0, 1, 3], [1, 0, 2, 3]):
        with pytest.raises(ChunkOrderError):
            envelope.decrypt(header + b"".join(f[i] for i in order), CONTEXT)
        with pytest.raises(ChunkOrderError):
            list(envelope.decrypt_stream([header, *(f[i] for i in order)], CONTEXT))


def test_relabelled_chunks_fail_authentication(make_envelope: Callable[..., Envelope]) -> None:
    envelope = make_envelope(chunk_size_bytes=1024)
    _, blob = streamed(envelope, 4000)
    header, f = frames(blob)

    def relabel(frame: bytes, sequence: int, final: int) -> bytes:
        _, _, length = FRAME.unpack_from(frame)
        return FRAME.pack(sequence, final, length) + frame[FRAME.size :]

    swapped = [f[0], relabel(f[2], 1, 0), relabel(f[1], 2, 0), f[3]]
    with pytest.raises(TamperedError):
        envelope.decrypt(header + b"".join(swapped), CONTEXT)
    cut_short = [f[0], f[1], relabel(f[2], 2, 1)]  # drop the last chunk and call the previous one final
    with pytest.raises(TamperedError):
        envelope.decrypt(header + b"".join(cut_short), CONTEXT)
    _, other = frames(streamed(envelope, 4000)[1])
    with pytest.raises(TamperedError):  # a chunk from another object, even in the right position
        envelope.decrypt(header + f[0] + other[1] + f[2] + f[3], CONTEXT)


def test_streams_truncated_at_a_chunk_boundary(make_envelope: Callable[..., Envelope]) -> None:
    envelope = make_envelope(chunk_size_bytes=1024)
    plaintext, blob = streamed(envelope, 4000)
    header, f = frames(blob)
    got: list[bytes] = []
    with pytest.raises(TruncatedError):
        for piece in envelope.decrypt_stream([header, f[0], f[1], f[2]], CONTEXT):
            got.append(piece)
    assert b"".join(got) == plaintext[:3072]  # what came out was authentic; the end was missing
    with pytest.raises(TruncatedError):
        envelope.decrypt(header + f[0] + f[1] + f[2], CONTEXT)
    with pytest.raises(TruncatedError):
        list(envelope.decrypt_stream([header[:30]], CONTEXT))
    with pytest.raises(TamperedError):
        list(envelope.decrypt_stream([blob, b"more"], CONTEXT))


async def test_async_streams(make_envelope: Callable[..., Envelope]) -> None:
    envelope = make_envelope(chunk_size_bytes=2048)
    plaintext = os.urandom(10_000)

    async def source() -> Any:
        for i in range(0, len(plaintext), 1500):
            yield plaintext[i : i + 1500]

    blob = b"".join([c async for c in envelope.aencrypt_stream(source(), CONTEXT)])
    assert await envelope.adecrypt(blob, CONTEXT) == plaintext
    pieces = [c async for c in envelope.adecrypt_stream([blob[:100], blob[100:5000], blob[5000:]], CONTEXT)]
    assert b"".join(pieces) == plaintext
    assert envelope.decrypt(await envelope.aencrypt(b"small", CONTEXT), CONTEXT) == b"small"
    with pytest.raises(ContextMismatchError):
        async for _ in envelope.adecrypt_stream([blob], {**CONTEXT, "object_id": "other"}):
            pass


def test_data_key_cache_bounds_kms_calls(
    make_envelope: Callable[..., Envelope], kms_calls: dict[str, int]
) -> None:
    envelope = make_envelope(cache_max_uses=3)
    blobs = [envelope.encrypt(b"a", {**CONTEXT, "object_id": f"o{i}"}) for i in range(7)]
    assert kms_calls.get("GenerateDataKey") == 3  # uses 1-3, 4-6, 7
    envelope.encrypt(b"a", {**CONTEXT, "tenant": "other"})  # another KMS context, another data key
    assert kms_calls["GenerateDataKey"] == 4
    for i, blob in enumerate(blobs):
        assert envelope.decrypt(blob, {**CONTEXT, "object_id": f"o{i}"}) == b"a"
    assert kms_calls.get("Decrypt", 0) == 0  # the writer remembers the keys it made
    reader = make_envelope()
    for i, blob in enumerate(blobs):
        reader.decrypt(blob, {**CONTEXT, "object_id": f"o{i}"})
    assert kms_calls["Decrypt"] == 3  # one per distinct data key
    uncached = make_envelope(cache_max_entries=0)
    uncached.encrypt(b"a", CONTEXT)
    uncached.encrypt(b"a", CONTEXT)
    assert kms_calls["GenerateDataKey"] == 6
    aged = make_envelope(cache_max_age_seconds=0)
    aged.encrypt(b"a", CONTEXT)
    aged.encrypt(b"a", CONTEXT)
    assert kms_calls["GenerateDataKey"] == 8


def test_rotation_rewraps_the_data_key_only(
    make_envelope: Callable[..., Envelope], kms: Any, kms_calls: dict[str, int]
) -> None:
    envelope = make_envelope(chunk_size_bytes=1024)
    old_key = envelope.settings.kms_key_id
    new_key = kms.create_key()["KeyMetadata"]["Arn"]
    plaintext = os.urandom(5000)
    blob = b"".join(envelope.encrypt_stream([plaintext], CONTEXT))
    rewrapped = envelope.rewrap(blob, new_key)
    assert kms_calls["ReEncrypt"] == 1 and kms_calls.get("Decrypt", 0) == 0  # the key never left KMS
    assert Envelope.key_id_of(blob) == old_key and Envelope.key_id_of(rewrapped) == new_key
    old_header, old_frames = frames(blob)
    new_header, new_frames = frames(rewrapped)
    assert new_frames == old_frames and new_header[:FIXED_BYTES] == old_header[:FIXED_BYTES]
    reader = make_envelope()  # a fresh process: no cached keys
    assert reader.decrypt(rewrapped, CONTEXT) == plaintext
    assert reader.decrypt(blob, CONTEXT) == plaintext  # data not yet re-wrapped stays readable
    parsed = parse_header(rewrapped)
    assert parsed is not None
    unwrapped = kms.decrypt(CiphertextBlob=parsed[0].wrapped_key, EncryptionContext=parsed[0].kms_context)
    assert unwrapped["KeyId"] == new_key  # KMS itself says the data key is now under the new key
    assert (
        Envelope.key_id_of(envelope.rewrap(rewrapped[: len(new_header)], old_key)) == old_key
    )  # header only


def test_kms_unreachable_raises_key_management_error(kms_key: str) -> None:
    envelope = Envelope(
        EncryptionSettings(
            kms_key_id=kms_key,
            kms_endpoint_url=f"http://127.0.0.1:{free_port()}",
            region="us-east-1",
            kms_connect_timeout_seconds=0.5,
            kms_read_timeout_seconds=0.5,
            kms_max_attempts=1,
        )
    )
    with pytest.raises(KeyManagementError):
        envelope.encrypt(b"x", CONTEXT)


def test_failures_are_counted_by_operation_and_error(envelope: Envelope, kms_key: str) -> None:
    """What StreamgateEnvelopeFailures reads: every failed encrypt or decrypt, labelled with its error."""
    from prometheus_client import REGISTRY

    def failed(operation: str, result: str) -> float:
        labels = {"operation": operation, "result": result}
        return REGISTRY.get_sample_value("streamgate_crypto_operations_total", labels) or 0.0

    blob = envelope.encrypt(b"content", CONTEXT)
    before = failed("decrypt", "TamperedError"), failed("encrypt", "KeyManagementError")
    with pytest.raises(TamperedError):
        envelope.decrypt(flip(blob, len(blob) - 1), CONTEXT)
    # KMS out of reach (moto does not refuse a disabled key's GenerateDataKey): a new data key fails
    unreachable = Envelope(
        EncryptionSettings(
            kms_key_id=kms_key,
            kms_endpoint_url=f"http://127.0.0.1:{free_port()}",
            region="us-east-1",
            kms_connect_timeout_seconds=0.5,
            kms_max_attempts=1,
        )
    )
    with pytest.raises(KeyManagementError):
        unreachable.encrypt(b"content", CONTEXT)
    assert (failed("decrypt", "TamperedError"), failed("encrypt", "KeyManagementError")) == (
        before[0] + 1,
        before[1] + 1,
    )


def test_errors_share_one_hierarchy() -> None:
    for error in (ChunkOrderError, ContextMismatchError, TamperedError, TruncatedError, KeyManagementError):
        assert issubclass(error, EnvelopeError)
