"""The console's web app: the page, its snapshots (JSON, and a server-sent event stream that the page
follows), and, only when actions are allowed, MFA step-up and rollout actions.

Loopback only: requests naming another host are refused (DNS rebinding), the page allows only its own
scripts (CSP), and an action needs the session cookie (HttpOnly, SameSite=Strict) plus its CSRF header."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.middleware.trustedhost import TrustedHostMiddleware
from starlette.requests import Request
from starlette.responses import FileResponse, JSONResponse, Response, StreamingResponse
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from infra.errors import StreamgateError

if TYPE_CHECKING:
    from infra.console.actions import Actions
    from infra.console.snapshot import Snapshotter

STATIC = Path(__file__).with_name("static")
COOKIE = "sg_console"
CSRF_HEADER = "x-console-csrf"
HEADERS = {
    "Content-Security-Policy": "default-src 'self'; img-src 'self' data:; frame-ancestors 'none'",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-store",
}


class SecurityHeaders:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        async def with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                message["headers"] = [
                    *message.get("headers", []),
                    *((k.lower().encode(), v.encode()) for k, v in HEADERS.items()),
                ]
            await send(message)

        await self.app(scope, receive, with_headers)


class Latest:
    """One snapshot shared by every page for `max_age` seconds (N open pages, one read)."""

    def __init__(self, snapshots: Snapshotter, max_age: float) -> None:
        self.snapshots, self.max_age = snapshots, max_age
        self.value: dict[str, Any] | None = None
        self.lock = asyncio.Lock()

    async def get(self, actions: bool) -> dict[str, Any]:
        async with self.lock:
            if self.value is None or time.time() - self.value["at"] > self.max_age:
                self.value = await asyncio.to_thread(self.snapshots.read)
        return {**self.value, "actions": actions}


def create_app(snapshots: Snapshotter, *, actions: Actions | None = None, refresh: float = 2.0) -> Starlette:
    latest = Latest(snapshots, max_age=refresh / 2)

    async def index(request: Request) -> Response:
        return FileResponse(STATIC / "index.html")

    async def snapshot(request: Request) -> Response:
        return JSONResponse(await latest.get(actions is not None))

    async def events(request: Request) -> Response:
        async def stream() -> AsyncIterator[str]:
            yield f"retry: {int(refresh * 1000)}\n\n"
            while not await request.is_disconnected():
                yield f"data: {json.dumps(await latest.get(actions is not None), default=str)}\n\n"
                await asyncio.sleep(refresh)

        return StreamingResponse(stream(), media_type="text/event-stream")

    async def step_up(request: Request) -> Response:
        assert actions is not None
        body = await _json(request)
        try:
            session = await actions.open(str(body.get("token", "")), str(body.get("code", "")))
        except StreamgateError as exc:
            return JSONResponse({"error": str(exc)}, status_code=403)
        response = JSONResponse(
            {
                "operator": session.operator.subject,
                "csrf": session.csrf,
                "expires_at": session.operator.expires_at,
            }
        )
        response.set_cookie(
            COOKIE,
            session.id,
            max_age=max(1, int(session.operator.expires_at - time.time())),
            httponly=True,
            samesite="strict",
        )
        return response

    async def act(request: Request) -> Response:
        assert actions is not None
        session = actions.session(request.cookies.get(COOKIE), request.headers.get(CSRF_HEADER))
        if session is None:
            return JSONResponse({"error": "step up with MFA first (or again: the session expired)"}, 401)
        body = await _json(request)
        try:
            done = await actions.act(
                session, str(body.get("region", "")), str(body.get("action", "")), str(body.get("reason", ""))
            )
        except StreamgateError as exc:
            return JSONResponse({"error": str(exc)}, status_code=400 if exc.exit_code == 2 else 409)
        latest.value = None  # the next snapshot shows the request
        return JSONResponse(done)

    routes = [
        Route("/", index),
        Route("/api/snapshot", snapshot),
        Route("/api/events", events),
        Mount("/static", StaticFiles(directory=STATIC), name="static"),
    ]
    if actions is not None:
        routes += [
            Route("/api/step-up", step_up, methods=["POST"]),
            Route("/api/actions", act, methods=["POST"]),
        ]
    return Starlette(
        routes=routes,
        middleware=[
            Middleware(TrustedHostMiddleware, allowed_hosts=["127.0.0.1", "localhost", "[::1]"]),
            Middleware(SecurityHeaders),
        ],
    )


async def _json(request: Request) -> dict[str, Any]:
    if int(request.headers.get("content-length") or 0) > 16_384:
        return {}
    try:
        body = await request.json()
    except ValueError:
        return {}
    return body if isinstance(body, dict) else {}
