"""POST /v1/events (batches of playback events, validated per event) and GET /v1/analytics/realtime."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from runtime.analytics import validate_batch
from runtime.analytics.metrics import EVENTS_RECEIVED, EVENTS_SHED
from runtime.service.content_routes import _read_body
from runtime.service.http import BadJson, load_json

if TYPE_CHECKING:
    from runtime.service.gateway import Gateway

_ACCEPTED = EVENTS_RECEIVED.labels("accepted")
_REJECTED = EVENTS_RECEIVED.labels("rejected")


async def post_events(request: Request) -> Response:
    gateway: Gateway = request.app.state.gateway
    gateway.auth.require_viewer(request)
    settings = gateway.settings.events
    body = await _read_body(request, settings.max_body_bytes)
    try:
        payload: Any = load_json(body)
    except BadJson as exc:
        raise HTTPException(400, "body is not JSON") from exc
    raw = payload.get("events") if isinstance(payload, dict) else None
    if not isinstance(raw, list):
        raise HTTPException(400, 'expected {"events": [...]}')
    if len(raw) > settings.max_batch_events:
        raise HTTPException(413, f"at most {settings.max_batch_events} events per batch")
    good, bad = validate_batch(
        raw, max_skew=settings.max_clock_skew_seconds, max_age=settings.max_event_age_seconds
    )
    _REJECTED.inc(len(bad))
    errors = [e.as_dict() for e in bad]
    if good and not gateway.offer(good):
        EVENTS_SHED.inc(len(good))
        return JSONResponse(
            {"error": "event queue full, retry later", "accepted": 0, "rejected": errors, "shed": len(good)},
            status_code=503,
            headers={"Retry-After": "1"},
        )
    _ACCEPTED.inc(len(good))
    status = 202 if good or not raw else 422
    return JSONResponse({"accepted": len(good), "rejected": errors}, status_code=status)


async def get_realtime(request: Request) -> Response:
    gateway: Gateway = request.app.state.gateway
    gateway.auth.require_viewer(request)
    return JSONResponse({"region": gateway.settings.region, **gateway.analytics.snapshot()})


routes = [
    Route("/v1/events", post_events, methods=["POST"], name="post_events"),
    Route("/v1/analytics/realtime", get_realtime, methods=["GET"], name="analytics_realtime"),
]
