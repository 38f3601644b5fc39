"""Content through the multi-level cache: reads (L1 → L2 → L3 → origin) and admin writes (encrypted to
the origin, dependencies declared, every tier and the CDN invalidated), and the URL scheme they use.

The scheme players accept (HLS clients check extensions: ffmpeg refuses segment URLs without a known
one), per title `id`:

    /v1/content/{id}/master.m3u8               master playlist: the variants (renditions)
    /v1/content/{id}/{rendition}/index.m3u8    a rendition's media playlist
    /v1/content/{id}/{rendition}/{n}.ts        an MPEG-TS media segment (n: 0, 1, ... no leading zeros)
    /v1/content/{id}/{rendition}/{n}.m4s       an fMP4/CMAF media segment
    /v1/content/{id}/{rendition}/init.mp4      the fMP4 initialisation segment

The first scheme (`/v1/content/{id}/manifest`, `/v1/content/{id}/segments/{n}`) keeps working unchanged:
its objects live under their own paths, so nothing stored before moves."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from enum import StrEnum
from functools import lru_cache

from opentelemetry import trace

from runtime import content_paths
from runtime.cache import MultiLevelCache, Tier
from runtime.observability.probes import CACHE_MISS
from runtime.service import frames
from runtime.service.frames import ContentObject
from runtime.service.origin import ContentOrigin
from runtime.service.settings import ContentSettings

TIER_NAMES = {Tier.L1: "l1", Tier.L2: "l2", Tier.L3: "l3", Tier.LOADER: "origin"}
_RAW_TIERS = {name: name.encode() for name in TIER_NAMES.values()}
MAX_SEGMENT = 10_000_000
PREFIX = "/v1/content/"
MASTER = "master.m3u8"
INDEX = "index.m3u8"
INIT = "init.mp4"
RESERVED_RENDITIONS = frozenset({"segments"})  # the first scheme's segment folder


class Kind(StrEnum):
    MANIFEST = "manifest"
    SEGMENT = "segment"


class Role(StrEnum):
    """What an object is; its kind (caching), media type and upload checks follow from it."""

    MASTER = "master"
    PLAYLIST = "playlist"
    TS = "ts"
    M4S = "m4s"
    INIT = "init"
    LEGACY_MANIFEST = "legacy-manifest"
    LEGACY_SEGMENT = "legacy-segment"

    @property
    def kind(self) -> Kind:
        manifest = self in (Role.MASTER, Role.PLAYLIST, Role.LEGACY_MANIFEST)
        return Kind.MANIFEST if manifest else Kind.SEGMENT


# The media type of each role of the new scheme (the first scheme stores what the uploader sent).
MEDIA_TYPES = {
    Role.MASTER: "application/vnd.apple.mpegurl",
    Role.PLAYLIST: "application/vnd.apple.mpegurl",
    Role.TS: "video/mp2t",
    Role.M4S: "video/iso.segment",
    Role.INIT: "video/mp4",
}
_PATH = re.compile(content_paths.PATH)


@dataclass(frozen=True, slots=True)
class ContentPath:
    """One object's place in the scheme. `key` is the public path without its leading slash: the cache
    key, the origin key (after `v1/content/`) and, with a `/`, the CDN purge path. Resolved once per
    path (`parse_path` keeps them), so what the hot path reads is computed here, not per request."""

    key: str
    role: Role
    content_id: str
    rendition: str | None = None
    n: int | None = None  # segment number (media segments, legacy segments)
    kind: Kind = field(init=False)
    # The first scheme's segments are dependents of their manifest (re-packaging a title drops them).
    # The new scheme's are not: a live playlist is replaced every segment, and a segment upload already
    # invalidates its own path everywhere.
    depends_on: tuple[str, ...] = field(init=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "kind", self.role.kind)
        legacy = self.role is Role.LEGACY_SEGMENT
        parents = (f"v1/content/{self.content_id}/manifest",) if legacy else ()
        object.__setattr__(self, "depends_on", parents)

    @property
    def name(self) -> str:
        """The last path segment (what a playlist names this object by)."""
        return self.key.rsplit("/", 1)[1]


@lru_cache(maxsize=4096)  # the hot paths are few: the fast path resolves each once
def parse_path(path: str) -> ContentPath | None:
    """The object a public path names, or None when it names none (answer 404)."""
    match = _PATH.match(path)
    if match is None:
        return None
    content_id = match["id"]
    key = path[1:]
    if match["master"]:
        return ContentPath(key, Role.MASTER, content_id)
    if match["manifest"]:
        return ContentPath(key, Role.LEGACY_MANIFEST, content_id)
    if match["legacy"] is not None:
        n = int(match["legacy"])
        if n > MAX_SEGMENT:
            return None
        return ContentPath(f"v1/content/{content_id}/segments/{n}", Role.LEGACY_SEGMENT, content_id, n=n)
    rendition = match["rendition"]
    if rendition in RESERVED_RENDITIONS:
        return None
    if match["index"]:
        return ContentPath(key, Role.PLAYLIST, content_id, rendition)
    if match["init"]:
        return ContentPath(key, Role.INIT, content_id, rendition)
    n = int(match["n"])
    if n > MAX_SEGMENT:
        return None
    return ContentPath(key, Role.TS if match["ext"] == "ts" else Role.M4S, content_id, rendition, n)


def cache_key(content_id: str, n: int | None = None) -> str:
    """The first scheme's keys: a title's manifest, or its segment `n`."""
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

    async def get(self, path: ContentPath) -> Served | None:
        key = path.key
        manifest = path.kind is Kind.MANIFEST
        ttl = self.settings.manifest_ttl_seconds if manifest else self.settings.segment_ttl_seconds
        depends_on = path.depends_on

        async def load() -> bytes | None:
            return await self.origin.fetch(key)

        if self.tracing_enabled:
            with self.tracer.start_as_current_span("cache.lookup") as span:
                span.set_attribute("streamgate.content.kind", path.kind.value)
                found = await self.cache.get_or_load_with_source(key, load, ttl=ttl, depends_on=depends_on)
                tier = TIER_NAMES[found.tier] if found.tier is not None else "none"
                span.set_attribute("streamgate.cache.tier", tier)
        else:
            found = await self.cache.get_or_load_with_source(key, load, ttl=ttl, depends_on=depends_on)
        if CACHE_MISS.armed and found.tier is not Tier.L1:
            tier = TIER_NAMES[found.tier] if found.tier is not None else "none"
            CACHE_MISS.fire(key=key, tier=tier, kind=path.kind.value)
        if found.value is None or found.tier is None:
            return None
        return Served(self.decoded.decode(key, found.value), TIER_NAMES[found.tier])

    async def exists(self, path: ContentPath) -> bool:
        """Whether the origin holds the object (what an upload's references are checked against)."""
        return await self.origin.store.exists(self.origin.object_key(path.key))

    async def put(self, path: ContentPath, body: bytes, content_type: str) -> Stored:
        """Store encrypted, then invalidate. A first-scheme segment is declared a dependent of its
        manifest, so replacing that manifest (re-packaging the title) also drops every segment of it from
        every tier and the CDN. Raises runtime.cache.InvalidationError when the invalidation could not be
        completed (the object itself is stored)."""
        key = path.key
        frame = frames.encode(body, content_type)
        await self.origin.put(key, frame)
        for parent in path.depends_on:
            await self.cache.add_dependency(parent, key)
        try:
            invalidated = await self.cache.invalidate(key)
        finally:
            self.decoded.forget([key])  # not needed for correctness (identity check); frees memory early
        return Stored(key, frames.decode(frame).etag, len(body), invalidated)
