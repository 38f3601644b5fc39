"""The origin: content objects in the object store, envelope-encrypted (AES-256-GCM, data keys from KMS),
and the encrypted object store used as the cache's L3 tier.

Encryption at rest covers everything that lands on disk in S3: the origin and the L3 copies. L1 (process
memory) and L2 (Redis, in memory, inside the service's network and trust boundary) hold plaintext frames:
decrypting on every hit would put KMS-cached AES work on the hottest path for no gain, since the bytes
served to viewers (and cached by the CDN) are the plaintext anyway."""

from __future__ import annotations

import time
from collections.abc import Mapping
from typing import Any

from opentelemetry import trace

from runtime.observability.probes import ORIGIN_FETCH
from runtime.observability.timing import TIMING
from runtime.security.envelope import Envelope
from runtime.security.errors import EnvelopeError
from runtime.storage import ObjectNotFoundError, ObjectStore, StorageError


def _context(tenant: str, key: str, purpose: str) -> dict[str, str]:
    return {"tenant": tenant, "object_id": key, "purpose": purpose}


class ContentOrigin:
    """`fetch(key)` / `put(key, frame)` for cache keys such as `v1/content/abc/manifest`."""

    def __init__(self, store: ObjectStore, envelope: Envelope, *, tenant: str, tracer: trace.Tracer) -> None:
        self.store = store
        self.envelope = envelope
        self.tenant = tenant
        self.tracer = tracer

    @staticmethod
    def object_key(key: str) -> str:
        return key.removeprefix("v1/content/")

    async def fetch(self, key: str) -> bytes | None:
        """The plaintext frame, or None when there is no such object."""
        started = time.perf_counter()
        frame: bytes | None = None
        try:
            with self.tracer.start_as_current_span("storage.fetch") as span:
                span.set_attribute("streamgate.storage.key", key)
                try:
                    blob = await self.store.get(self.object_key(key))
                except ObjectNotFoundError:
                    span.set_attribute("streamgate.storage.found", False)
                    return None
                frame = await self.envelope.adecrypt(blob, _context(self.tenant, key, "content"))
                return frame
        finally:
            seconds = time.perf_counter() - started
            if (timing := TIMING.get()) is not None:
                timing.add("origin", seconds)
            if ORIGIN_FETCH.armed:
                size = len(frame) if frame is not None else 0
                ORIGIN_FETCH.fire(key=key, found=frame is not None, size=size, seconds=seconds)

    async def put(self, key: str, frame: bytes) -> None:
        with self.tracer.start_as_current_span("storage.put"):
            blob = await self.envelope.aencrypt(frame, _context(self.tenant, key, "content"))
            await self.store.put(self.object_key(key), blob, content_type="application/octet-stream")


class EncryptedObjectStore(ObjectStore):
    """An ObjectStore whose `get`/`put` envelope-encrypt (the cache's L3 tier sees plaintext).

    A copy that cannot be opened or sealed (its KMS key lost or refusing, tampering, KMS down) is a storage
    failure here, which the L3 tier counts and reads as a miss: the origin still answers, and a gateway
    whose start warms L1 from L3 still starts."""

    def __init__(
        self, bucket: str, *, envelope: Envelope, tenant: str, tracer: trace.Tracer, **kwargs: Any
    ) -> None:
        super().__init__(bucket, **kwargs)
        self.envelope = envelope
        self.tenant = tenant
        self.tracer = tracer

    async def get(self, key: str, *, byte_range: tuple[int, int | None] | None = None) -> bytes:
        if byte_range is not None:
            raise ValueError("ranges of encrypted objects are not supported")
        with self.tracer.start_as_current_span("cache.l3.get") as span:
            span.set_attribute("streamgate.cache.key", key)
            blob = await super().get(key)
            try:
                return await self.envelope.adecrypt(blob, _context(self.tenant, key, "cache-l3"))
            except EnvelopeError as exc:
                raise StorageError(f"L3 copy {key!r} cannot be opened: {exc}") from exc

    async def put(
        self,
        key: str,
        data: bytes,
        *,
        content_type: str | None = None,
        metadata: Mapping[str, str] | None = None,
    ) -> str:
        with self.tracer.start_as_current_span("cache.l3.put"):
            try:
                blob = await self.envelope.aencrypt(data, _context(self.tenant, key, "cache-l3"))
            except EnvelopeError as exc:
                raise StorageError(f"L3 copy {key!r} cannot be sealed: {exc}") from exc
            return await super().put(key, blob, content_type="application/octet-stream", metadata=metadata)
