"""Operations endpoints: /healthz (liveness), /readyz (Redis and object store reachable, cache warmed),
/metrics (Prometheus, with version/color/region on every series), /version, /openapi.json."""

from __future__ import annotations

import asyncio
import platform
from typing import TYPE_CHECKING

from prometheus_client import CONTENT_TYPE_LATEST
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from runtime.observability import render_metrics
from runtime.service import paths
from runtime.service.openapi import openapi_document

if TYPE_CHECKING:
    from runtime.service.gateway import Gateway


async def healthz(request: Request) -> Response:
    return JSONResponse({"status": "ok"})


async def readyz(request: Request) -> Response:
    gateway: Gateway = request.app.state.gateway
    checks = await gateway.readiness()
    ready = all(checks.values())
    return JSONResponse({"ready": ready, "checks": checks}, status_code=200 if ready else 503)


async def metrics(request: Request) -> Response:
    gateway: Gateway = request.app.state.gateway
    # Collectors are cheap but many: render off the event loop only if it ever becomes slow.
    body = await asyncio.to_thread(render_metrics, gateway.metrics_view)
    return Response(body, media_type=CONTENT_TYPE_LATEST)


async def version(request: Request) -> Response:
    gateway: Gateway = request.app.state.gateway
    s = gateway.settings
    return JSONResponse(
        {"version": s.version, "color": s.color, "region": s.region, "python": platform.python_version()}
    )


async def openapi(request: Request) -> Response:
    return JSONResponse(openapi_document())


routes = [
    Route(paths.HEALTH, healthz, methods=["GET"], name="healthz"),
    Route(paths.READY, readyz, methods=["GET"], name="readyz"),
    Route(paths.METRICS, metrics, methods=["GET"], name="metrics"),
    Route(paths.VERSION, version, methods=["GET"], name="version"),
    Route(paths.OPENAPI, openapi, methods=["GET"], name="openapi"),
]
