"""The catalog API: titles listed and searched (keyset pages), a title with its renditions, a series'
episodes, a segment's record; admin writes behind MFA step-up, as every admin write.

Reads answer from the multi-level cache (`X-StreamGate-Cache` names the tier). A write answers the
position it reached (`X-StreamGate-Catalog-Position`); a read sending it back is answered at that
position or later, wherever it lands (read-your-writes for the writer's session)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING

from pydantic import ValidationError
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from runtime.catalog.errors import (
    BadRequestError,
    CatalogError,
    ConflictError,
    NotFoundError,
    UnavailableError,
)
from runtime.catalog.models import RENDITION, SLUG, RenditionIn, TitleIn
from runtime.service.content_routes import CACHE_HEADER, _read_body
from runtime.service.http import MAX_DIGITS, BadJson, load_json, parse_count

if TYPE_CHECKING:
    from runtime.catalog.service import CatalogService
    from runtime.service.gateway import Gateway

POSITION_HEADER = "X-StreamGate-Catalog-Position"
MAX_TITLE_BODY = 64 * 1024
MAX_RENDITION_BODY = 16 * 1024 * 1024
Handler = Callable[[Request], Awaitable[Response]]


def _catalog(request: Request) -> CatalogService:
    gateway: Gateway = request.app.state.gateway
    if gateway.catalog is None:
        raise HTTPException(404, "the catalog is not enabled on this gateway (STREAMGATE_CATALOG__ENABLED)")
    return gateway.catalog


def _answers(handler: Handler) -> Handler:
    """Catalog errors as HTTP answers with a message that says what to change."""

    async def wrapped(request: Request) -> Response:
        try:
            return await handler(request)
        except BadRequestError as exc:
            raise HTTPException(exc.status, str(exc)) from exc
        except NotFoundError as exc:
            raise HTTPException(404, str(exc)) from exc
        except ConflictError as exc:
            raise HTTPException(409, str(exc)) from exc
        except UnavailableError as exc:
            raise HTTPException(503, "catalog unavailable", headers={"Retry-After": "1"}) from exc
        except CatalogError as exc:  # pragma: no cover - every subclass is mapped above
            raise HTTPException(500, "catalog error") from exc

    return wrapped


def _slug(request: Request) -> str:
    slug: str = request.path_params["id"]
    if not SLUG.match(slug):
        raise HTTPException(400, "invalid title id: 1-128 of A-Z a-z 0-9 _ -")
    return slug


def _position(request: Request) -> int:
    raw = request.headers.get(POSITION_HEADER)
    if raw is None:
        return 0
    position = parse_count(raw)
    if position is None or position >= 10**MAX_DIGITS:  # an exabyte of WAL: no position a write answered
        raise HTTPException(400, f"{POSITION_HEADER} must be the integer a catalog write answered")
    return position


def _limit(request: Request) -> int | None:
    raw = request.query_params.get("limit")
    if raw is None:
        return None
    count = parse_count(raw)
    return -1 if count is None else count


def _if_match(request: Request) -> int | None:
    """The title version a write expects (`If-Match: "7"`), as the body's `version` would say."""
    raw = request.headers.get("if-match")
    if raw is None:
        return None
    version = parse_count(raw.strip().strip('"'))
    if version is None or not 1 <= version < 1 << 63:  # the column is a bigint
        raise HTTPException(400, "If-Match must be the title's version, e.g. \"7\" (the detail's version)")
    return version


def _json(body: bytes, tier: str) -> Response:
    return Response(
        body,
        media_type="application/json",
        headers={CACHE_HEADER: tier, "Cache-Control": "no-cache"},
    )


@_answers
async def list_titles(request: Request) -> Response:
    catalog = _catalog(request)
    min_lsn = _position(request)
    query: bytes = request.scope["query_string"]
    if not min_lsn:  # read-your-writes reads skip this process's copy
        hit = catalog.cached_titles(query)
        if hit is not None:
            return _json(hit, "l1")
    params = request.query_params
    unknown = set(params) - {"q", "after", "limit"}
    if unknown:
        raise HTTPException(
            400, f"unknown query parameter(s): {', '.join(sorted(unknown))} (q, after, limit)"
        )
    limit = catalog.page_size(_limit(request))
    body, tier = await catalog.titles(
        q=params.get("q"), after=params.get("after"), limit=limit, min_lsn=min_lsn, query=query
    )
    return _json(body, tier)


@_answers
async def get_title(request: Request) -> Response:
    body, tier = await _catalog(request).title(_slug(request), min_lsn=_position(request))
    return _json(body, tier)


@_answers
async def list_episodes(request: Request) -> Response:
    catalog = _catalog(request)
    limit = catalog.page_size(_limit(request))
    body, tier = await catalog.episodes(
        _slug(request), after=request.query_params.get("after"), limit=limit, min_lsn=_position(request)
    )
    return _json(body, tier)


@_answers
async def get_segment(request: Request) -> Response:
    slug = _slug(request)
    rendition: str = request.path_params["rendition"]
    n = parse_count(request.path_params["n"])
    if n is None:
        raise HTTPException(400, "invalid segment number: a non-negative integer")
    if not RENDITION.match(rendition):
        raise HTTPException(400, "invalid rendition name: 1-32 of A-Z a-z 0-9 _ -")
    catalog = _catalog(request)
    body, tier = await catalog.segment_lookup(slug, rendition, n)
    if body is None:
        raise HTTPException(404, f"no segment {n} of {slug}/{rendition} available in {catalog.region}")
    return _json(body, tier)


async def _admin_body(request: Request, limit: int) -> object:
    gateway: Gateway = request.app.state.gateway
    await gateway.auth.require_admin_step_up(request)
    body = await _read_body(request, limit)
    try:
        return load_json(body)
    except BadJson as exc:
        raise HTTPException(400, "the body must be JSON") from exc


def _validated(model: type[TitleIn] | type[RenditionIn], raw: object) -> TitleIn | RenditionIn:
    try:
        return model.model_validate(raw)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"]) or "body"
        raise HTTPException(422, f"{where}: {first['msg']}") from exc


def _written(body: dict[str, object], position: int, status: int = 200) -> Response:
    return JSONResponse(body, status_code=status, headers={POSITION_HEADER: str(position)})


@_answers
async def put_title(request: Request) -> Response:
    catalog = _catalog(request)
    slug = _slug(request)
    raw = await _admin_body(request, MAX_TITLE_BODY)
    title = _validated(TitleIn, raw)
    assert isinstance(title, TitleIn)
    written = await catalog.put_title(slug, title, _if_match(request))
    created = bool(written.body.get("created"))
    return _written(
        {**written.body, "invalidated": len(written.invalidated)}, written.lsn, 201 if created else 200
    )


@_answers
async def put_rendition(request: Request) -> Response:
    catalog = _catalog(request)
    slug = _slug(request)
    name: str = request.path_params["rendition"]
    if not RENDITION.match(name):
        raise HTTPException(400, "invalid rendition name: 1-32 of A-Z a-z 0-9 _ -")
    rendition = _validated(RenditionIn, await _admin_body(request, MAX_RENDITION_BODY))
    assert isinstance(rendition, RenditionIn)
    written = await catalog.put_rendition(slug, name, rendition)
    return _written({**written.body, "invalidated": len(written.invalidated)}, written.lsn)


@_answers
async def delete_title(request: Request) -> Response:
    catalog = _catalog(request)
    gateway: Gateway = request.app.state.gateway
    await gateway.auth.require_admin_step_up(request)
    written = await catalog.delete_title(_slug(request))
    return _written({**written.body, "invalidated": len(written.invalidated)}, written.lsn)


routes = [
    Route("/v1/catalog/titles", list_titles, methods=["GET"], name="catalog_titles"),
    Route("/v1/catalog/titles/{id}", get_title, methods=["GET"], name="catalog_title"),
    Route("/v1/catalog/titles/{id}", put_title, methods=["PUT"], name="catalog_put_title"),
    Route("/v1/catalog/titles/{id}", delete_title, methods=["DELETE"], name="catalog_delete_title"),
    Route("/v1/catalog/titles/{id}/episodes", list_episodes, methods=["GET"], name="catalog_episodes"),
    Route(
        "/v1/catalog/titles/{id}/renditions/{rendition}",
        put_rendition,
        methods=["PUT"],
        name="catalog_put_rendition",
    ),
    Route(
        "/v1/catalog/titles/{id}/renditions/{rendition}/segments/{n}",
        get_segment,
        methods=["GET"],
        name="catalog_segment",
    ),
]
