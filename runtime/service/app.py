"""The ASGI app: the edge pipeline (metrics/trace → rate limit → faults → fast path) in front of Starlette
(routes, error handlers) and the lifespan."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import TYPE_CHECKING

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import ClientDisconnect, Request
from starlette.responses import JSONResponse, Response
from starlette.types import Receive, Scope, Send

from runtime.service import (
    admin_routes,
    catalog_routes,
    content_routes,
    debug_routes,
    event_routes,
    ops_routes,
)
from runtime.service.cors import CorsMiddleware, CorsPolicy
from runtime.service.edge import EdgeMiddleware
from runtime.service.gateway import Gateway
from runtime.service.http import INTERNAL_ERROR
from runtime.service.ratelimit import RateLimitGate
from runtime.service.settings import GatewaySettings

if TYPE_CHECKING:
    from opentelemetry.sdk.trace.export import SpanExporter

log = logging.getLogger("runtime.service")


async def _http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    if exc.status_code in (204, 304):
        return Response(status_code=exc.status_code, headers=exc.headers)
    return JSONResponse({"error": exc.detail}, status_code=exc.status_code, headers=exc.headers)


async def _client_gone(request: Request, exc: Exception) -> Response:
    """The client left before sending its whole request: its doing, so a 4xx in the metrics (nginx's
    499), never a 5xx that a burn-rate alert or a rollout analysis would count. Nobody reads the reply."""
    return Response(status_code=499)


async def _server_error(request: Request, exc: Exception) -> Response:
    log.exception("unhandled error on %s %s", request.method, request.url.path)
    return JSONResponse(INTERNAL_ERROR, status_code=500)


class GatewayApp(Starlette):
    """Starlette behind the edge: every request enters `edge`, whose fast path (the content GETs) then
    skips Starlette's own layers too; the rest reaches Starlette through `starlette`."""

    edge: EdgeMiddleware

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        scope["app"] = self
        await self.edge(scope, receive, send)

    async def starlette(self, scope: Scope, receive: Receive, send: Send) -> None:
        await super().__call__(scope, receive, send)


def create_app(
    settings: GatewaySettings | None = None, *, span_exporter: SpanExporter | None = None
) -> Starlette:
    """Build the gateway app; `settings` default to the environment (`STREAMGATE_*`)."""
    gateway = Gateway.build(settings or GatewaySettings(), span_exporter=span_exporter)

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        await gateway.start()
        try:
            yield
        finally:
            await gateway.stop()

    app = GatewayApp(
        routes=[
            *content_routes.routes,
            *catalog_routes.routes,
            *event_routes.routes,
            *admin_routes.routes,
            *debug_routes.routes,
            *ops_routes.routes,
        ],
        exception_handlers={
            HTTPException: _http_error,
            ClientDisconnect: _client_gone,
            Exception: _server_error,
        },
        lifespan=lifespan,
    )
    cors = CorsPolicy.from_settings(gateway.settings.cors)
    app.edge = EdgeMiddleware(
        CorsMiddleware(app.starlette, cors),
        tracing=gateway.tracing,
        ratelimit=RateLimitGate(gateway.leased, gateway.auth, gateway.tracing),
        faults=gateway.faults,
        cors=cors,
        fast=content_routes.ContentServer(gateway, cors),
        debug_token=gateway.debug_token,
    )
    app.state.gateway = gateway
    return app
