"""Operations endpoints: /healthz (liveness), /readyz (readiness), /metrics (Prometheus, with
version/color/region on every series), /version, /openapi.json.

The probes' semantics (the Deployment's startup, liveness and readiness probes use them):
- /healthz answers 200 whenever the process can answer HTTP at all: liveness never depends on a shared
  backend (restarting every pod because Redis blipped helps nobody). Its body carries the degradation:
  each backend's last probe (runtime/service/health.py), with `status` "ok" or "degraded". It does no
  I/O, so a hung backend cannot make it slow.
- /readyz answers 200 while this pod can serve: started (the lifespan ran, L1 warmed from the shared
  top-K if Redis allowed it) and not shutting down; 503 otherwise. A shared backend being down or hung
  does not make a pod unready, as that would take every pod of every color out at once (a cascading
  outage) while cached content keeps serving and the rest degrades per request (L1 within its staleness
  bound, L3, the origin; the rate limiter's local fallback). The degraded backends are listed in the
  body and in `streamgate_backend_up`.
- Startup uses /healthz, which only answers once the lifespan has run (uvicorn serves after it).
"""

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
    gateway: Gateway = request.app.state.gateway
    degraded = gateway.monitor.degraded
    return JSONResponse(
        {
            "status": "degraded" if degraded else "ok",
            "degraded": degraded,
            "backends": gateway.monitor.snapshot(),
        }
    )


async def readyz(request: Request) -> Response:
    gateway: Gateway = request.app.state.gateway
    ready = gateway.ready
    return JSONResponse(
        {"ready": ready, "phase": gateway.phase, "degraded": gateway.monitor.degraded},
        status_code=200 if ready else 503,
    )


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
