"""The catalog through the multi-level cache: list/search pages, title details with renditions, segment
lookups (read-through, cached as the JSON the API sends), and admin writes that invalidate what they
change on every instance.

Cache keys (under `catalog/`, so CDN purges skip them: the edge does not cache the catalog) carry the
region, since L2 is shared across regions. Dependencies: a title's detail, segments and episode pages
depend on `catalog/title/<id>`; every list and search page depends on `catalog/titles`. A title write
invalidates both (its own answers, and every page, since a name change moves it between pages).

Read-your-writes across instances: a write stores its commit position (WAL LSN) in Redis; a cache fill
reads it and never loads from a replica that has not replayed it, so an instance that just dropped its
copy on an invalidation cannot re-cache the old row from a lagging replica."""

from __future__ import annotations

import json
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import asyncpg
import redis.asyncio as aioredis

from runtime.cache import MultiLevelCache
from runtime.catalog import cursor, queries
from runtime.catalog.database import Database
from runtime.catalog.errors import BadRequestError, ConflictError, NotFoundError
from runtime.catalog.models import RenditionIn, TitleIn
from runtime.catalog.settings import CatalogSettings

log = logging.getLogger(__name__)
COLLECTION = "catalog/titles"
PAGE_KEYS_KEPT = 4096  # query strings remembered for the title list's fast path (they come from clients)
# Raise the shared position only forward (two writers may finish out of order).
_RAISE_LSN = "local v = tonumber(redis.call('GET', KEYS[1]) or '0') if tonumber(ARGV[1]) > v then redis.call('SET', KEYS[1], ARGV[1]) end return 1"


def title_resource(slug: str) -> str:
    return f"catalog/title/{slug}"


def _dumps(value: object) -> bytes:
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False).encode()


@dataclass(frozen=True)
class Written:
    """A write's answer: the title's state and the position to read it at."""

    body: dict[str, Any]
    lsn: int
    invalidated: list[str]


def _summary(row: asyncpg.Record) -> dict[str, Any]:
    return {
        "id": row["slug"],
        "name": row["name"],
        "kind": row["kind"],
        "release_year": row["release_year"],
        "version": row["version"],
    }


class CatalogService:
    def __init__(
        self,
        db: Database,
        cache: MultiLevelCache,
        redis: aioredis.Redis,
        settings: CatalogSettings,
        region: str,
    ) -> None:
        self.db = db
        self.cache = cache
        self.redis = redis
        self.settings = settings
        self.region = region
        self._lsn_key = f"{cache.settings.namespace}:catalog:lsn"
        self._titles_key = f"catalog/{region}/titles?q="
        self._page_keys: dict[bytes, str] = {}  # a valid request's raw query string -> its page's cache key

    # -- shared position (read-your-writes across instances) ----------------------------------------------

    async def _min_lsn(self) -> int:
        try:
            raw = await self.redis.get(self._lsn_key)
        except Exception:  # Redis down: nothing to compare with, so never trust the replica
            return 1 << 63
        return int(raw) if raw else 0

    async def _publish_lsn(self, position: int) -> None:
        try:
            await self.redis.eval(_RAISE_LSN, 1, self._lsn_key, str(position))
        except Exception as exc:  # the writer's own process still routes by it (Database.written_lsn)
            log.warning("catalog position not shared (replica reads elsewhere may lag): %s", exc)

    async def _read(self, query: str, *args: object, min_lsn: int = 0) -> list[asyncpg.Record]:
        return await self.db.fetch(query, *args, min_lsn=max(min_lsn, await self._min_lsn()))

    # -- reads ----------------------------------------------------------------------------------------------

    def page_size(self, limit: int | None) -> int:
        """The page size asked for (None: the default; the caller parses the parameter, -1 if it is not
        an integer), within `max_page_size`."""
        if limit is None:
            return self.settings.page_size
        if not 1 <= limit <= self.settings.max_page_size:
            raise BadRequestError(
                f"limit must be an integer from 1 to {self.settings.max_page_size}", status=422
            )
        return limit

    async def titles(
        self, *, q: str | None, after: str | None, limit: int, min_lsn: int = 0, query: bytes | None = None
    ) -> tuple[bytes, str]:
        """A page of titles available here, by name (`q`: every word in the name); (JSON, tier). `query`:
        the request's raw query string, remembered once it proved valid, for `cached_titles`."""
        if q is not None:
            q = q.strip()
            if not q or len(q) > self.settings.max_query_chars:
                raise BadRequestError(f"q must be 1 to {self.settings.max_query_chars} characters", 422)
        name, slug = cursor.decode(after, q or "", (str, str)) if after else ("", "")
        key = f"{self._titles_key}{q or ''}&after={after or ''}&limit={limit}"
        if query is not None:
            if len(self._page_keys) >= PAGE_KEYS_KEPT:
                self._page_keys.clear()
            self._page_keys[query] = key

        async def load() -> bytes:
            if q:
                rows = await self._read(
                    queries.SEARCH_TITLES, self.region, q, name, slug, limit + 1, min_lsn=min_lsn
                )
            else:
                rows = await self._read(
                    queries.LIST_TITLES, self.region, name, slug, limit + 1, min_lsn=min_lsn
                )
            items = [_summary(r) for r in rows[:limit]]
            last = rows[limit - 1] if len(rows) > limit else None
            after_last = cursor.encode((last["name"], last["slug"]), q or "") if last is not None else None
            return _dumps({"items": items, "next": after_last})

        return await self._cached(key, load, (COLLECTION,), min_lsn)

    def cached_titles(self, query: bytes) -> bytes | None:
        """The title list page for this raw query string if this process has it (an L1 hit): synchronously
        and before the request's query is parsed, since only strings that `titles` found valid are
        remembered. The hot path of the title list."""
        key = self._page_keys.get(query)
        if key is None:
            return None
        hit = self.cache.peek(key)
        return hit.value if hit is not None else None

    async def title(self, slug: str, *, min_lsn: int = 0) -> tuple[bytes, str]:
        """A title with its renditions and regions (one query); NotFoundError unless available here."""
        key = f"catalog/{self.region}/title/{slug}"

        async def load() -> bytes | None:
            rows = await self._read(queries.TITLE_DETAIL, slug, self.region, min_lsn=min_lsn)
            if not rows or not rows[0]["available"]:
                return None
            r = rows[0]
            return _dumps(
                {
                    **_summary(r),
                    "description": r["description"],
                    "parent": r["parent"],
                    "season": r["season"],
                    "episode": r["episode"],
                    "regions": json.loads(r["regions"]),
                    "renditions": json.loads(r["renditions"]),
                    "master": f"/v1/content/{slug}/master.m3u8",
                }
            )

        body, tier = await self._cached(key, load, (title_resource(slug),), min_lsn)
        if body is None:
            raise NotFoundError(f"no title {slug!r} available in {self.region}")
        return body, tier

    async def episodes(
        self, slug: str, *, after: str | None, limit: int, min_lsn: int = 0
    ) -> tuple[bytes, str]:
        season, episode = cursor.decode(after, slug, (int, int)) if after else (-1, -1)
        key = f"catalog/{self.region}/title/{slug}/episodes?after={after or ''}&limit={limit}"

        async def load() -> bytes:
            rows = await self._read(queries.EPISODES, slug, season, episode, limit + 1, min_lsn=min_lsn)
            items = [{**_summary(r), "season": r["season"], "episode": r["episode"]} for r in rows[:limit]]
            last = rows[limit - 1] if len(rows) > limit else None
            nxt = cursor.encode((last["season"], last["episode"]), slug) if last is not None else None
            return _dumps({"items": items, "next": nxt})

        return await self._cached(key, load, (title_resource(slug), COLLECTION), min_lsn)

    async def segment_json(self, slug: str, rendition: str, n: int) -> bytes | None:
        """The segment's record as JSON, or None: the content path's check (an L1 hit, as a rule)."""
        peeked = self.cache.peek(self._segment_key(slug, rendition, n))
        if peeked is not None:
            return peeked.value
        return (await self.segment_lookup(slug, rendition, n))[0]

    def _segment_key(self, slug: str, rendition: str, n: int) -> str:
        return f"catalog/{self.region}/title/{slug}/{rendition}/{n}"

    async def segment_lookup(self, slug: str, rendition: str, n: int) -> tuple[bytes | None, str]:
        """(JSON or None, the tier that answered)."""
        key = self._segment_key(slug, rendition, n)

        async def load() -> bytes | None:
            rows = await self._read(queries.SEGMENT, slug, rendition, n, self.region)
            if not rows or not rows[0]["available"]:
                return None
            r = rows[0]
            return _dumps(
                {
                    "title": slug,
                    "rendition": rendition,
                    "seq": r["seq"],
                    "duration_ms": r["duration_ms"],
                    "size_bytes": r["size_bytes"],
                    "sha256": r["sha256"],
                    "container": r["container"],
                }
            )

        return await self._cached(key, load, (title_resource(slug),), 0)

    async def _cached(self, key: str, load: Any, depends_on: Sequence[str], min_lsn: int) -> tuple[Any, str]:
        if min_lsn > self.db.written_lsn and min_lsn > await self._min_lsn():
            # The caller wrote at a position this region has not heard of yet (its write went through
            # another region's instance): answer from the database at that position, uncached.
            return await load(), "database"
        found = await self.cache.get_or_load_with_source(
            key, load, ttl=self.settings.cache_ttl_seconds, depends_on=depends_on
        )
        tier = found.tier.name.lower() if found.tier is not None else "none"
        return found.value, tier

    # -- writes ---------------------------------------------------------------------------------------------

    async def put_title(self, slug: str, title: TitleIn, if_match: int | None = None) -> Written:
        version = title.version if title.version is not None else if_match
        async with self.db.transaction() as conn:
            if title.parent is not None:
                parent = await conn.fetchrow(queries.TITLE_ID, title.parent)
                if parent is None:
                    raise BadRequestError(f"parent {title.parent!r}: no such series", status=422)
            try:
                row = await conn.fetchrow(
                    queries.UPSERT_TITLE,
                    slug,
                    title.name,
                    title.kind,
                    title.release_year,
                    title.description,
                    title.parent,
                    title.season,
                    title.episode,
                    version,
                )
            except asyncpg.CheckViolationError as exc:
                raise BadRequestError(
                    f"title {slug!r} refused by the catalog: {exc.constraint_name}", 422
                ) from exc
            if row is None:
                raise ConflictError(f"title {slug!r} changed since version {version}: read it again")
            if title.regions is not None:
                await conn.execute(queries.DELETE_AVAILABILITY, row["id"])
                await conn.executemany(
                    queries.INSERT_AVAILABILITY, [(row["id"], region, None, None) for region in title.regions]
                )
        body = {"id": slug, "version": row["version"], "created": row["created"]}
        return await self._written(slug, body)

    async def put_rendition(self, slug: str, name: str, rendition: RenditionIn) -> Written:
        async with self.db.transaction() as conn:
            title = await conn.fetchrow(queries.TITLE_ID, slug)
            if title is None:
                raise NotFoundError(f"no title {slug!r}: create it first (PUT /v1/catalog/titles/{slug})")
            rid = await conn.fetchval(
                queries.UPSERT_RENDITION,
                title["id"],
                name,
                rendition.container,
                rendition.bandwidth,
                rendition.resolution,
                rendition.codecs,
                rendition.target_duration,
                len(rendition.segments),
            )
            await conn.execute(queries.DELETE_SEGMENTS, rid)
            await conn.copy_records_to_table(
                "segments",
                columns=["rendition_id", "seq", "duration_ms", "size_bytes", "sha256"],
                records=[
                    (rid, i, s.duration_ms, s.size_bytes, bytes.fromhex(s.sha256))
                    for i, s in enumerate(rendition.segments)
                ],
            )
            version = await conn.fetchval(queries.BUMP_TITLE, title["id"])
        body = {"id": slug, "rendition": name, "segments": len(rendition.segments), "version": version}
        return await self._written(slug, body)

    async def delete_title(self, slug: str) -> Written:
        async with self.db.transaction() as conn:
            if await conn.fetchval(queries.DELETE_TITLE, slug) is None:
                raise NotFoundError(f"no title {slug!r}")
        return await self._written(slug, {"id": slug, "deleted": True})

    async def _written(self, slug: str, body: dict[str, Any]) -> Written:
        position = self.db.last_commit_lsn
        await self._publish_lsn(position)
        invalidated = await self.cache.invalidate(title_resource(slug), COLLECTION)
        return Written(body, position, invalidated)
