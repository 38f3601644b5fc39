"""GET/PUT of playlists and segments (URL scheme: runtime.service.content), rendition-set uploads, and
CORS on every content answer: strong ETags, If-None-Match → 304, single byte ranges (206/416),
Cache-Control a CDN honours, and `X-StreamGate-Cache` naming the tier that answered."""

from __future__ import annotations

import re
import time
from collections.abc import Awaitable
from typing import TYPE_CHECKING, TypeVar

from starlette.exceptions import HTTPException
from starlette.requests import HTTPConnection, Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route
from starlette.types import Receive, Scope, Send

from runtime.cache import CacheError
from runtime.catalog.errors import CatalogError
from runtime.observability.timing import TIMING
from runtime.security.cors import OriginAllowList
from runtime.service import uploads
from runtime.service.content import ContentPath, Kind, Role, Served, Stored, parse_path
from runtime.service.cors import CorsPolicy
from runtime.service.errors import ContentError
from runtime.service.http import RawHeaders, parse_count
from runtime.service.ranges import Unsatisfiable, if_range_allows, none_match, parse_range
from runtime.service.uploads import MissingReferenceError
from runtime.service.zerocopy import FILE_KEY
from runtime.storage import StorageError

if TYPE_CHECKING:
    from runtime.service.gateway import Gateway

T = TypeVar("T")

CONTENT_ID = re.compile(r"^[A-Za-z0-9_-]{1,128}$")
_MEDIA_TYPE = re.compile(r"^[A-Za-z0-9!#$&^_.+-]{1,64}/[A-Za-z0-9!#$&^_.+-]{1,64}$")
CACHE_HEADER = "X-StreamGate-Cache"
CACHE_HEADER_RAW = CACHE_HEADER.lower().encode("latin-1")
TAR_TYPES = frozenset({"application/x-tar", "application/tar"})


def _gateway(request: Request) -> Gateway:
    gateway: Gateway = request.app.state.gateway
    return gateway


class ContentGet:
    """GET of any content path as a raw ASGI endpoint (requests the edge's fast path did not take: paths
    outside the scheme). Behind the router, the CORS middleware adds the CORS headers."""

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        path = parse_path(scope["path"])
        if path is None:
            raise HTTPException(404, "no such content")
        await ContentServer(scope["app"].state.gateway, _NO_CORS).serve(path, scope, send)


_NO_CORS = CorsPolicy(OriginAllowList.of(()), 0)


class ContentServer:
    """The content GETs as the edge's fast path (`runtime.service.edge.FastPath`): no Request or Response
    objects, and a hit sends the decoded body kept for that very frame (no copy, no decode). Responses are
    `Cache-Control: public`, so they carry nothing about the requester (no `RateLimit-*`); the CORS
    headers depend only on the `Origin`, which they name in `Vary`."""

    def __init__(self, gateway: Gateway, cors: CorsPolicy) -> None:
        self.gateway = gateway
        self.cors = cors
        # The catalog's segment lookup guards media segments when the stack says so (an L1 hit per request).
        enforce = gateway.catalog is not None and gateway.settings.catalog.enforce_on_content
        self.catalog = gateway.catalog if enforce else None

    async def _listed(self, path: ContentPath) -> None:
        assert self.catalog is not None and path.rendition is not None and path.n is not None
        try:
            found = await self.catalog.segment_json(path.content_id, path.rendition, path.n)
        except CatalogError as exc:
            raise HTTPException(503, "catalog unavailable", headers={"Retry-After": "1"}) from exc
        if found is None:
            raise HTTPException(404, f"segment not in the catalog of {self.catalog.region}")

    def match(self, scope: Scope) -> ContentPath | None:
        """The object a GET or HEAD names (setting the route the router would have matched)."""
        if scope["method"] not in ("GET", "HEAD"):
            return None
        path = parse_path(scope["path"])
        if path is not None:
            scope["route"] = _GET_ROUTES[path.role]
        return path

    async def serve(self, path: ContentPath, scope: Scope, send: Send) -> int:
        gateway = self.gateway
        wanted: dict[bytes, str] = {}
        for name, value in scope["headers"]:
            if name in _INTERESTING:
                wanted[name] = value.decode("latin-1")
        cors = self.cors.headers(wanted.get(b"origin"))
        timing = TIMING.get()  # a debug request's Server-Timing (None otherwise)
        try:
            if b"authorization" in wanted or gateway.settings.auth.viewer_token_required:
                checked = time.perf_counter()
                gateway.auth.require_viewer(HTTPConnection(scope))
                if timing is not None:
                    timing.add("auth", time.perf_counter() - checked)
            if self.catalog is not None and path.n is not None and path.rendition is not None:
                await self._listed(path)
            looked_up = time.perf_counter() if timing is not None else 0.0
            try:
                served = await gateway.content.get(path)
            except StorageError as exc:
                raise HTTPException(503, "content store unavailable", headers={"Retry-After": "1"}) from exc
            if timing is not None:
                timing.lookup(time.perf_counter() - looked_up, served.tier if served is not None else None)
            if served is None:
                raise HTTPException(404, "no such content")
        except HTTPException as exc:
            if cors:  # a player must be able to read why (hls.js reports the status)
                exc.headers = {**(exc.headers or {}), **self.cors.header_map(wanted.get(b"origin"))}
            raise
        return await respond(send, served, gateway.content.cache_control_raw(path.kind), wanted, cors)


_INTERESTING = frozenset({b"authorization", b"if-none-match", b"range", b"if-range", b"origin"})


async def respond(
    send: Send,
    served: Served,
    cache_control: bytes,
    wanted: dict[bytes, str],
    extra: RawHeaders | None = None,
) -> int:
    """200, 206, 304 or 416 for `served`, per the request's conditional and range headers; returns it."""
    obj = served.obj
    etag = obj.etag
    headers = [
        (b"etag", obj.raw_etag),
        (b"cache-control", cache_control),
        (b"accept-ranges", b"bytes"),
        (CACHE_HEADER_RAW, served.raw_tier),
        *(extra or ()),
    ]
    status = 200
    body = obj.body
    offset = 0
    if_none_match = wanted.get(b"if-none-match")
    range_header = wanted.get(b"range")
    if if_none_match is not None and none_match(if_none_match, etag):
        status, body = 304, b""
    elif range_header is not None and if_range_allows(wanted.get(b"if-range"), etag):
        try:
            byte_range = parse_range(range_header, obj.size)
        except Unsatisfiable:
            status, body = 416, b""
            headers.append((b"content-range", f"bytes */{obj.size}".encode("latin-1")))
        else:
            if byte_range is not None:
                status = 206
                offset = byte_range.first
                body = body[offset : byte_range.last + 1]
                headers.append((b"content-range", byte_range.content_range(obj.size).encode("latin-1")))
    if status != 304:
        headers.append((b"content-length", b"%d" % len(body)))
        if status != 416:
            headers.append((b"content-type", obj.raw_type))
    source = {FILE_KEY: (obj.file, offset)} if obj.file is not None and body else {}  # zerocopy.py
    await send({"type": "http.response.start", "status": status, "headers": headers, **source})
    await send({"type": "http.response.body", "body": body, **source})
    return status


async def _read_body(request: Request, limit: int) -> bytes:
    declared = parse_count(request.headers.get("content-length", ""))
    if declared is not None and declared > limit:
        raise HTTPException(413, f"body larger than {limit} bytes")
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise HTTPException(413, f"body larger than {limit} bytes")
        chunks.append(chunk)
    return b"".join(chunks)


def _content_path(request: Request) -> ContentPath:
    path = parse_path(request.scope["path"])
    if path is None:
        raise HTTPException(400, "invalid content id, rendition or segment number")
    return path


def _stored_json(stored: Stored) -> dict[str, object]:
    return {"key": stored.key, "etag": stored.etag, "size": stored.size, "invalidated": stored.invalidated}


async def _storing(request: Request, sub: str, what: str, store: Awaitable[T]) -> T:
    """Await a store operation, turning what it raises into the answers the API documents."""
    gateway = _gateway(request)
    try:
        return await store
    except MissingReferenceError as exc:
        raise HTTPException(409, str(exc)) from exc
    except ContentError as exc:
        raise HTTPException(422, str(exc)) from exc
    except StorageError as exc:
        raise HTTPException(503, "content store unavailable", headers={"Retry-After": "1"}) from exc
    except CacheError as exc:
        gateway.log.warning("content %s stored by %s but invalidation incomplete: %s", what, sub, exc)
        raise HTTPException(
            503,
            "stored, but cache/CDN invalidation is incomplete: retry the upload",
            headers={"Retry-After": "1"},
        ) from exc


async def _put(request: Request) -> Response:
    gateway = _gateway(request)
    claims = await gateway.auth.require_admin_step_up(request)
    path = _content_path(request)
    settings = gateway.settings.content
    body = await _read_body(request, settings.max_upload_bytes)
    if not body:
        raise HTTPException(400, "empty body")
    if path.role in (Role.LEGACY_MANIFEST, Role.LEGACY_SEGMENT):
        default = (
            settings.manifest_content_type if path.kind is Kind.MANIFEST else settings.segment_content_type
        )
        given = request.headers.get("content-type", "").split(";", 1)[0].strip()
        content_type = given if _MEDIA_TYPE.match(given) else default
        store = gateway.content.put(path, body, content_type)
    else:  # the HLS scheme: the media type follows from the name, and the bytes must match it
        store = uploads.store_one(gateway.content, uploads.Upload(path, body))
    stored = await _storing(request, claims.sub, path.key, store)
    gateway.log.info("content %s stored by %s (%d bytes)", stored.key, claims.sub, stored.size)
    return JSONResponse(_stored_json(stored), headers={"ETag": stored.etag})


async def _post_set(request: Request) -> Response:
    """A whole rendition set (tar) for one title, checked as a whole before anything is stored."""
    gateway = _gateway(request)
    claims = await gateway.auth.require_admin_step_up(request)
    content_id: str = request.path_params["id"]
    if not CONTENT_ID.match(content_id):
        raise HTTPException(400, "invalid content id")
    given = request.headers.get("content-type", "").split(";", 1)[0].strip().lower()
    if given not in TAR_TYPES:
        raise HTTPException(415, "send the rendition set as a tar archive (Content-Type: application/x-tar)")
    body = await _read_body(request, gateway.settings.content.max_rendition_set_bytes)
    try:
        members = uploads.read_set(content_id, body)
    except ContentError as exc:
        raise HTTPException(422, str(exc)) from exc
    stored = await _storing(request, claims.sub, content_id, uploads.store_set(gateway.content, members))
    size = sum(s.size for s in stored)
    gateway.log.info(
        "rendition set of %s stored by %s (%d objects, %d bytes)", content_id, claims.sub, len(stored), size
    )
    return JSONResponse(
        {
            "content_id": content_id,
            "objects": [_stored_json(s) for s in stored],
            "size": size,
            "invalidated": sorted({k for s in stored for k in s.invalidated}),
        }
    )


_GET = ContentGet()
# GET routes first, the hottest (segments) leading: Starlette tries routes in order.
_GET_ROUTE_LIST = [
    (
        Role.LEGACY_SEGMENT,
        Route("/v1/content/{id}/segments/{n:int}", _GET, methods=["GET"], name="get_segment"),
    ),
    (Role.TS, Route("/v1/content/{id}/{rendition}/{segment}", _GET, methods=["GET"], name="get_media")),
    (
        Role.PLAYLIST,
        Route("/v1/content/{id}/{rendition}/index.m3u8", _GET, methods=["GET"], name="get_playlist"),
    ),
    (Role.MASTER, Route("/v1/content/{id}/master.m3u8", _GET, methods=["GET"], name="get_master")),
    (Role.LEGACY_MANIFEST, Route("/v1/content/{id}/manifest", _GET, methods=["GET"], name="get_manifest")),
]
_GET_ROUTES = dict(_GET_ROUTE_LIST)
_GET_ROUTES[Role.M4S] = _GET_ROUTES[Role.INIT] = _GET_ROUTES[Role.TS]
routes = [
    _GET_ROUTE_LIST[0][1],
    _GET_ROUTE_LIST[2][1],  # before the media route, which would take `index.m3u8` as a segment name
    _GET_ROUTE_LIST[1][1],
    _GET_ROUTE_LIST[3][1],
    _GET_ROUTE_LIST[4][1],
    Route("/v1/content/{id}/segments/{n:int}", _put, methods=["PUT"], name="put_segment"),
    Route("/v1/content/{id}/{rendition}/index.m3u8", _put, methods=["PUT"], name="put_playlist"),
    Route("/v1/content/{id}/{rendition}/{segment}", _put, methods=["PUT"], name="put_media"),
    Route("/v1/content/{id}/master.m3u8", _put, methods=["PUT"], name="put_master"),
    Route("/v1/content/{id}/manifest", _put, methods=["PUT"], name="put_manifest"),
    Route("/v1/content/{id}/renditions", _post_set, methods=["POST"], name="post_renditions"),
]
