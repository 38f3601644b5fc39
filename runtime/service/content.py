"""Content through the multi-level cache: reads (L1 → L2 → L3 → origin) and admin writes (encrypted to
the origin, dependencies declared, every tier and the CDN invalidated)."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from opentelemetry import trace

from runtime.cache import MultiLevelCache, Tier
from runtime.service import frames
from runtime.service.frames import ContentObject
from runtime.service.origin import ContentOrigin
from runtime.service.settings import ContentSettings

TIER_NAMES = {Tier.L1: "l1", Tier.L2: "l2", Tier.L3: "l3", Tier.LOADER: "origin"}
_RAW_TIERS = {name: name.encode() for name in TIER_NAMES.values()}
MAX_SEGMENT = 10_000_000


class Kind(StrEnum):
    MANIFEST = "manifest"
    SEGMENT = "segment"


def cache_key(content_id: str, n: int | None = None) -> str:
    """Cache keys are the public paths without the leading slash: the CDN purge path is `/` + key."""
    if n is None:
        return f"v1/content/{content_id}/manifest"
    return f"v1/content/{content_id}/segments/{n}"


@dataclass(frozen=True, slots=True)
class Served:
    obj: ContentObject
    tier: str  # l1 | l2 | l3 | origin

    @property
    def raw_tier(self) -> bytes:
        return _RAW_TIERS[self.tier]


@dataclass(frozen=True, slots=True)
class Stored:
    key: str
    etag: str
    size: int
    invalidated: list[str]


class ContentService:
    def __init__(
        self,
        cache: MultiLevelCache,
        origin: ContentOrigin,
        settings: ContentSettings,
        tracer: trace.Tracer,
        *,
        tracing_enabled: bool,
    ) -> None:
        self.cache = cache
        self.origin = origin
        self.settings = settings
        self.tracer = tracer
        self.tracing_enabled = tracing_enabled
        self.decoded = frames.DecodedFrames(settings.decoded_frames_max_bytes)
        self._cache_control = {
            Kind.SEGMENT: f"public, max-age={settings.segment_max_age_seconds}, immutable".encode(),
            Kind.MANIFEST: f"public, max-age={settings.manifest_max_age_seconds}".encode(),
        }

    def cache_control_raw(self, kind: Kind) -> bytes:
        """Long and immutable for segments (a new version gets purged), short for manifests."""
        return self._cache_control[kind]

    async def get(self, content_id: str, n: int | None = None) -> Served | None:
        key = cache_key(content_id, n)
        kind = Kind.MANIFEST if n is None else Kind.SEGMENT
        ttl = self.settings.manifest_ttl_seconds if n is None else self.settings.segment_ttl_seconds
        depends_on = () if n is None else (cache_key(content_id),)

        async def load() -> bytes | None:
            return await self.origin.fetch(key)

        if self.tracing_enabled:
            with self.tracer.start_as_current_span("cache.lookup") as span:
                span.set_attribute("streamgate.content.kind", kind.value)
                found = await self.cache.get_or_load_with_source(key, load, ttl=ttl, depends_on=depends_on)
                tier = TIER_NAMES[found.tier] if found.tier is not None else "none"
                span.set_attribute("streamgate.cache.tier", tier)
        else:
            found = await self.cache.get_or_load_with_source(key, load, ttl=ttl, depends_on=depends_on)
        if found.value is None or found.tier is None:
            return None
        return Served(self.decoded.decode(key, found.value), TIER_NAMES[found.tier])

    async def put(self, content_id: str, n: int | None, body: bytes, content_type: str) -> Stored:
        """Store encrypted, then invalidate. A manifest depends on nothing; a segment is declared a
        dependent of its manifest, so replacing a manifest (re-packaging the title) also drops every
        segment of it from every tier and the CDN. Raises runtime.cache.InvalidationError when the
        invalidation could not be completed (the object itself is stored)."""
        key = cache_key(content_id, n)
        frame = frames.encode(body, content_type)
        await self.origin.put(key, frame)
        if n is not None:
            await self.cache.add_dependency(cache_key(content_id), key)
        try:
            invalidated = await self.cache.invalidate(key)
        finally:
            self.decoded.forget([key])  # not needed for correctness (identity check); frees memory early
        return Stored(key, frames.decode(frame).etag, len(body), invalidated)
