"""The per-request pipeline in one ASGI layer (each layer and `send` wrapper costs on the hot path):
metrics (count/latency by route template and status class, in-flight) and the server span continuing a
W3C `traceparent` → rate limit (/v1/ only) → fault injection (drills) → a fast endpoint or the app.
A request with a valid debug token (`X-StreamGate-Debug`) also gets `Server-Timing` per tier.

The app's responses get CORS headers from its own layer and the fast endpoints add theirs; what this layer
answers itself (429, injected faults, a fast endpoint's crash) gets them here: without them a browser
player cannot read the status, and so cannot back off on a 429."""

from __future__ import annotations

import contextlib
import logging
import re
import time
from collections.abc import Awaitable, Callable
from typing import Any, Protocol

from opentelemetry import trace
from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from runtime.observability.metrics import HTTP_STATS
from runtime.observability.probes import ANY_ARMED, RATELIMIT_DECISION, REQUEST
from runtime.observability.timing import TIMING, ServerTiming
from runtime.observability.tracing import DEBUG_HEADER, Tracing, watched
from runtime.security.ratelimit import RateLimitDecision
from runtime.service.cors import CorsPolicy
from runtime.service.faults import FaultConfig
from runtime.service.http import INTERNAL_ERROR, RawHeaders, header, send_json
from runtime.service.ratelimit import RateLimitGate

log = logging.getLogger("runtime.service")


class FastPath(Protocol):
    """Endpoints the edge serves itself, skipping Starlette's routing and exception layers and any `send`
    wrapper: `match` returns a handle for the request (and sets `route` and `path_params` on the scope) or
    None; `serve` sends the response and returns its status.

    Their successful responses are public: a CDN or the edge cache stores them and replays them to other
    clients, so they carry no per-client fields (`RateLimit-*`); the errors the edge answers for them do."""

    def match(self, scope: Scope) -> object | None: ...

    def serve(self, handle: Any, scope: Scope, send: Send) -> Awaitable[int]: ...


class EdgeMiddleware:
    """Errors of a fast endpoint are answered here as JSON, like the app's handlers would."""

    def __init__(
        self,
        app: ASGIApp,
        tracing: Tracing,
        ratelimit: RateLimitGate,
        faults: FaultConfig,
        cors: CorsPolicy,
        fast: FastPath | None = None,
        debug_token: Callable[[bytes], bool] = lambda token: False,
    ) -> None:
        self.app = app
        self.tracing = tracing
        self.ratelimit = ratelimit
        self.faults = faults
        self.cors = cors
        self.fast = fast
        self.debug_token = debug_token  # is this X-StreamGate-Debug value a valid debug token?

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 500  # what the metrics record if handling raises
        seen = watched(scope["headers"])
        parent = Tracing.parent(seen)
        timing: ServerTiming | None = None
        timing_set = request_set = None  # contextvar tokens, reset when the request is done
        if seen is not None and DEBUG_HEADER in seen and self.debug_token(seen[DEBUG_HEADER]):
            timing = ServerTiming()
            timing_set = TIMING.set(timing)
            send = _Timed(send, timing, started)
        if ANY_ARMED.on:  # for debug snapshots: request id, method, path
            request_set = REQUEST.set(scope)
        stats = HTTP_STATS
        stats.in_flight += 1
        try:
            if not self.tracing.enabled and parent is None:
                status = await self._handle(scope, receive, send, timing)
            else:
                with self.tracing.tracer.start_as_current_span(
                    scope["method"], context=parent, kind=trace.SpanKind.SERVER
                ) as span:
                    try:
                        status = await self._handle(scope, receive, send, timing)
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
            if timing_set is not None:
                TIMING.reset(timing_set)
            if request_set is not None:
                REQUEST.reset(request_set)

    async def _handle(self, scope: Scope, receive: Receive, send: Send, timing: ServerTiming | None) -> int:
        """Rate limit → faults → the fast path or the app; returns the status sent."""
        decision: RateLimitDecision | None = None
        if scope["path"].startswith("/v1/"):
            checked = time.perf_counter() if timing is not None else 0.0
            admitted = self.ratelimit.admit(scope)
            decision = admitted if isinstance(admitted, RateLimitDecision) else await admitted
            if timing is not None:
                timing.add("ratelimit", time.perf_counter() - checked)
            if RATELIMIT_DECISION.armed:
                self.ratelimit.probe(scope, decision)
            if not decision.allowed:
                await self.ratelimit.refuse(send, decision, self._cors(scope))
                return 429
            if self.faults.active:
                observed = _Observed(send, self._headers(decision) + self._cors(scope))
                if await self.faults.apply(scope, observed):
                    return observed.status
        fast = self.fast
        if fast is None or (handle := fast.match(scope)) is None:
            observed = _Observed(send, self._headers(decision))
            await self.app(scope, receive, observed)
            return observed.status
        try:
            return await fast.serve(handle, scope, send)
        except HTTPException as exc:
            await send_json(
                send, exc.status_code, {"error": exc.detail}, exc.headers, self._headers(decision)
            )
            return exc.status_code
        except Exception:  # what Starlette's error layer does for the app's routes
            log.exception("unhandled error on %s %s", scope["method"], scope["path"])
            with contextlib.suppress(RuntimeError):  # the response had started: the server closes it
                raw_headers = self._headers(decision) + self._cors(scope)
                await send_json(send, 500, INTERNAL_ERROR, raw_headers=raw_headers)
            return 500

    def _headers(self, decision: RateLimitDecision | None) -> RawHeaders:
        return self.ratelimit.raw_headers(decision) if decision is not None else []

    def _cors(self, scope: Scope) -> RawHeaders:
        return self.cors.headers(header(scope["headers"], b"origin"))


class _Timed:
    """A `send` that adds Server-Timing to the response of a debug request, and keeps it out of shared
    caches (its timings are this request's)."""

    __slots__ = ("send", "started", "timing")

    def __init__(self, send: Send, timing: ServerTiming, started: float) -> None:
        self.send = send
        self.timing = timing
        self.started = started

    async def __call__(self, message: Message) -> None:
        if message["type"] == "http.response.start":
            headers = [(k, v) for k, v in message.get("headers", ()) if k != b"cache-control"]
            headers.append((b"cache-control", b"private, no-store"))
            headers.append((b"server-timing", self.timing.header(time.perf_counter() - self.started)))
            message["headers"] = headers
        await self.send(message)


class _Observed:
    """A `send` that appends `extra` headers to the response and records its status."""

    __slots__ = ("extra", "send", "status")

    def __init__(self, send: Send, extra: RawHeaders) -> None:
        self.send = send
        self.extra = extra
        self.status = 500

    async def __call__(self, message: Message) -> None:
        if message["type"] == "http.response.start":
            self.status = message["status"]
            if self.extra:
                message["headers"] = [*message.get("headers", ()), *self.extra]
        await self.send(message)


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
