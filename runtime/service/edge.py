"""The per-request pipeline in one ASGI layer (each layer and `send` wrapper costs on the hot path):
metrics (count/latency by route template and status class, in-flight) and the server span continuing a
W3C `traceparent` → rate limit (/v1/ only) → fault injection (drills) → the app."""

from __future__ import annotations

import re
import time
from collections.abc import Callable

from opentelemetry import trace
from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from runtime.observability.metrics import HTTP_STATS
from runtime.observability.tracing import Tracing
from runtime.service.faults import FaultConfig
from runtime.service.http import send_json
from runtime.service.ratelimit import RateLimitGate

FastRoute = Callable[[Scope], ASGIApp | None]


class EdgeMiddleware:
    """`fast_route(scope)` may return an endpoint for the request (setting `route` and `path_params` on the
    scope) to skip Starlette's routing and exception layers; the content GETs use it. HTTPExceptions from
    a fast endpoint are answered here as JSON, like the app's handler would."""

    def __init__(
        self,
        app: ASGIApp,
        tracing: Tracing,
        ratelimit: RateLimitGate,
        faults: FaultConfig,
        fast_route: FastRoute | None = None,
    ) -> None:
        self.app = app
        self.tracing = tracing
        self.ratelimit = ratelimit
        self.faults = faults
        self.fast_route = fast_route

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 500
        extra: list[tuple[bytes, bytes]] | None = None

        async def send_wrapper(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                if extra:
                    message["headers"] = [*message.get("headers", ()), *extra]
            await send(message)

        async def handle() -> None:
            nonlocal extra
            if scope["path"].startswith("/v1/"):
                decision = await self.ratelimit.check(scope)
                if not decision.allowed:
                    await self.ratelimit.refuse(send_wrapper, decision)
                    return
                extra = self.ratelimit.raw_headers(decision)
                if self.faults.active and await self.faults.apply(scope, send_wrapper):
                    return
            endpoint = self.fast_route(scope) if self.fast_route is not None else None
            if endpoint is None:
                await self.app(scope, receive, send_wrapper)
                return
            try:
                await endpoint(scope, receive, send_wrapper)
            except HTTPException as exc:
                await send_json(send_wrapper, exc.status_code, {"error": exc.detail}, exc.headers)

        parent = Tracing.extract(scope["headers"])
        stats = HTTP_STATS
        stats.in_flight += 1
        try:
            if not self.tracing.enabled and parent is None:
                await handle()
            else:
                with self.tracing.tracer.start_as_current_span(
                    scope["method"], context=parent, kind=trace.SpanKind.SERVER
                ) as span:
                    try:
                        await handle()
                    finally:
                        if span.is_recording():
                            template = route_template(scope)
                            span.update_name(f"{scope['method']} {template}")
                            span.set_attribute("http.request.method", scope["method"])
                            span.set_attribute("http.route", template)
                            span.set_attribute("http.response.status_code", status)
                            if status >= 500:
                                span.set_status(trace.StatusCode.ERROR)
        finally:
            stats.in_flight -= 1
            stats.observe(route_template(scope), scope["method"], status, time.perf_counter() - started)


_CONVERTOR = re.compile(r"\{(\w+):\w+\}")
_TEMPLATES: dict[str, str] = {}


def route_template(scope: Scope) -> str:
    """The matched route's template (set on the scope by Starlette's router) without convertors
    (`{n:int}` → `{n}`); `other` when nothing matched."""
    path = getattr(scope.get("route"), "path", None)
    if not isinstance(path, str):
        return "other"
    template = _TEMPLATES.get(path)
    if template is None:
        template = _TEMPLATES[path] = _CONVERTOR.sub(r"{\1}", path)
    return template
