"""GET/PUT of manifests and segments: strong ETags, If-None-Match → 304, single byte ranges (206/416),
Cache-Control a CDN honours, and `X-StreamGate-Cache` naming the tier that answered."""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

from starlette.exceptions import HTTPException
from starlette.requests import HTTPConnection, Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route
from starlette.types import Receive, Scope, Send

from runtime.cache import CacheError
from runtime.service.content import MAX_SEGMENT, Kind, Served
from runtime.service.http import parse_count
from runtime.service.ranges import Unsatisfiable, if_range_allows, none_match, parse_range
from runtime.storage import StorageError

if TYPE_CHECKING:
    from runtime.service.gateway import Gateway

CONTENT_ID = re.compile(r"^[A-Za-z0-9_-]{1,128}$")
_MEDIA_TYPE = re.compile(r"^[A-Za-z0-9!#$&^_.+-]{1,64}/[A-Za-z0-9!#$&^_.+-]{1,64}$")
CACHE_HEADER = "X-StreamGate-Cache"
CACHE_HEADER_RAW = CACHE_HEADER.lower().encode("latin-1")


def _gateway(request: Request) -> Gateway:
    gateway: Gateway = request.app.state.gateway
    return gateway


def _target(request: Request) -> tuple[str, int | None]:
    content_id: str = request.path_params["id"]
    n: int | None = request.path_params.get("n")
    if not CONTENT_ID.match(content_id) or (n is not None and n > MAX_SEGMENT):
        raise HTTPException(400, "invalid content id or segment number")
    return content_id, n


class ContentGet:
    """GET of a manifest or segment as a raw ASGI endpoint (requests the edge's fast path did not take)."""

    def __init__(self, kind: Kind) -> None:
        self.kind = kind

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        await ContentServer(scope["app"].state.gateway).serve(self.kind, scope, send)


class ContentServer:
    """The content GETs as the edge's fast path (`runtime.service.edge.FastPath`): no Request or Response
    objects, and a hit sends the decoded body kept for that very frame (no copy, no decode). Responses are
    `Cache-Control: public`, so they carry nothing about the requester (no `RateLimit-*`)."""

    def __init__(self, gateway: Gateway) -> None:
        self.gateway = gateway

    def match(self, scope: Scope) -> Kind | None:
        """The same routes and path params as the router's, for GET and HEAD."""
        if scope["method"] not in ("GET", "HEAD"):
            return None
        match = _FAST.match(scope["path"])
        if match is None:
            return None
        content_id, manifest, n = match.groups()
        if manifest:
            scope["route"], scope["path_params"] = routes[1], {"id": content_id}
            return Kind.MANIFEST
        scope["route"], scope["path_params"] = routes[0], {"id": content_id, "n": int(n)}
        return Kind.SEGMENT

    async def serve(self, kind: Kind, scope: Scope, send: Send) -> int:
        gateway = self.gateway
        wanted: dict[bytes, str] = {}
        for name, value in scope["headers"]:
            if name in _INTERESTING:
                wanted[name] = value.decode("latin-1")
        if b"authorization" in wanted or gateway.settings.auth.viewer_token_required:
            gateway.auth.require_viewer(HTTPConnection(scope))
        content_id: str = scope["path_params"]["id"]
        n: int | None = scope["path_params"].get("n")
        if not CONTENT_ID.match(content_id) or (n is not None and n > MAX_SEGMENT):
            raise HTTPException(404, "no such content")
        try:
            served = await gateway.content.get(content_id, n)
        except StorageError as exc:
            raise HTTPException(503, "content store unavailable", headers={"Retry-After": "1"}) from exc
        if served is None:
            raise HTTPException(404, "no such content")
        return await respond(send, served, gateway.content.cache_control_raw(kind), wanted)


_INTERESTING = frozenset({b"authorization", b"if-none-match", b"range", b"if-range"})


async def respond(send: Send, served: Served, cache_control: bytes, wanted: dict[bytes, str]) -> int:
    """200, 206, 304 or 416 for `served`, per the request's conditional and range headers; returns it."""
    obj = served.obj
    etag = obj.etag
    headers = [
        (b"etag", obj.raw_etag),
        (b"cache-control", cache_control),
        (b"accept-ranges", b"bytes"),
        (CACHE_HEADER_RAW, served.raw_tier),
    ]
    status = 200
    body = obj.body
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
                body = body[byte_range.first : byte_range.last + 1]
                headers.append((b"content-range", byte_range.content_range(obj.size).encode("latin-1")))
    if status != 304:
        headers.append((b"content-length", b"%d" % len(body)))
        if status != 416:
            headers.append((b"content-type", obj.raw_type))
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})
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


async def _put(request: Request) -> Response:
    gateway = _gateway(request)
    claims = await gateway.auth.require_admin_step_up(request)
    content_id, n = _target(request)
    settings = gateway.settings.content
    body = await _read_body(request, settings.max_upload_bytes)
    if not body:
        raise HTTPException(400, "empty body")
    default = settings.manifest_content_type if n is None else settings.segment_content_type
    given = request.headers.get("content-type", "").split(";", 1)[0].strip()
    content_type = given if _MEDIA_TYPE.match(given) else default
    try:
        stored = await gateway.content.put(content_id, n, body, content_type)
    except StorageError as exc:
        raise HTTPException(503, "content store unavailable", headers={"Retry-After": "1"}) from exc
    except CacheError as exc:
        gateway.log.warning(
            "content %s stored by %s but invalidation incomplete: %s", content_id, claims.sub, exc
        )
        raise HTTPException(
            503,
            "stored, but cache/CDN invalidation is incomplete: retry the upload",
            headers={"Retry-After": "1"},
        ) from exc
    gateway.log.info("content %s stored by %s (%d bytes)", stored.key, claims.sub, stored.size)
    return JSONResponse(
        {"key": stored.key, "etag": stored.etag, "size": stored.size, "invalidated": stored.invalidated},
        headers={"ETag": stored.etag},
    )


_GET_SEGMENT = ContentGet(Kind.SEGMENT)
_GET_MANIFEST = ContentGet(Kind.MANIFEST)
# The segment GET comes first: it is the hottest route and Starlette tries routes in order.
routes = [
    Route("/v1/content/{id}/segments/{n:int}", _GET_SEGMENT, methods=["GET"], name="get_segment"),
    Route("/v1/content/{id}/manifest", _GET_MANIFEST, methods=["GET"], name="get_manifest"),
    Route("/v1/content/{id}/segments/{n:int}", _put, methods=["PUT"], name="put_segment"),
    Route("/v1/content/{id}/manifest", _put, methods=["PUT"], name="put_manifest"),
]

_FAST = re.compile(r"^/v1/content/([^/]+)/(?:(manifest)|segments/([0-9]{1,18}))$")  # as the int convertor
