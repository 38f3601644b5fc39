"""CORS answers of the gateway: the headers a response carries for an allowed `Origin`, and preflights.

Content is public and read without credentials, so an allowed origin is echoed (or `*` when the list
allows any) and `Vary: Origin` tells shared caches that the answer depends on it. Range and the
conditional headers may be sent; `Content-Range`, `ETag` and `Accept-Ranges` may be read (a player needs
them for ranged and revalidated fetches). Preflights are answered here, before routing, for every path:
what a browser may send does not depend on which route it is aimed at."""

from __future__ import annotations

import re

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from runtime.security import cors
from runtime.security.cors import OriginAllowList
from runtime.service.http import RawHeaders, header
from runtime.service.settings import CorsSettings

ALLOW_METHODS = ", ".join(cors.ALLOW_METHODS)
ALLOW_HEADERS = ", ".join(cors.ALLOW_HEADERS)
EXPOSE_HEADERS = ", ".join(cors.EXPOSE_HEADERS)
_MAX_REMEMBERED = 1024  # distinct origins whose verdict is kept (a bounded memo; the list is small)


class CorsPolicy:
    """The gateway's CORS rules for one allow-list (`runtime.security.cors`)."""

    def __init__(self, allow: OriginAllowList, max_age_seconds: int) -> None:
        self.allow = allow
        self.enabled = allow.enabled
        self._regex = re.compile(allow.regex())
        self._verdicts: dict[str, RawHeaders] = {}
        # Without an Origin a response still varies by it (unless any origin gets `*`).
        self.no_origin: RawHeaders = [(b"vary", b"Origin")] if self.enabled and not allow.any else []
        self._preflight = [
            (b"access-control-allow-methods", ALLOW_METHODS.encode()),
            (b"access-control-allow-headers", ALLOW_HEADERS.encode()),
            (b"access-control-max-age", str(max_age_seconds).encode()),
        ]

    @classmethod
    def from_settings(cls, settings: CorsSettings) -> CorsPolicy:
        return cls(OriginAllowList.of(settings.allow_origins), settings.max_age_seconds)

    def headers(self, origin: str | None) -> RawHeaders:
        """What a response to a request from `origin` carries (nothing for a refused origin but Vary)."""
        if origin is None or not self.enabled:
            return self.no_origin
        found = self._verdicts.get(origin)
        if found is None:
            found = self._verdict(origin)
            if len(self._verdicts) >= _MAX_REMEMBERED:
                self._verdicts.clear()
            self._verdicts[origin] = found
        return found

    def _verdict(self, origin: str) -> RawHeaders:
        if not self.allow.allows(origin):
            return self.no_origin
        value = b"*" if self.allow.any else origin.encode("latin-1")
        return [
            (b"access-control-allow-origin", value),
            (b"access-control-expose-headers", EXPOSE_HEADERS.encode()),
            *self.no_origin,
        ]

    def header_map(self, origin: str | None) -> dict[str, str]:
        """`headers` as a str mapping, for HTTPException(headers=...)."""
        return {k.decode(): v.decode("latin-1") for k, v in self.headers(origin)}

    def preflight(self, origin: str | None) -> RawHeaders:
        """The headers of a 204 answer to an OPTIONS request: CORS preflight ones for an allowed origin."""
        cors = self.headers(origin)
        allowed = any(name == b"access-control-allow-origin" for name, _ in cors)
        return [(b"allow", ALLOW_METHODS.encode()), *cors, *(self._preflight if allowed else [])]


class CorsMiddleware:
    """Adds the CORS headers to the app's responses and answers OPTIONS (preflights) with 204.

    OPTIONS is answered even without an Origin: CloudFront forwards preflights without it (its response
    headers policy adds the CORS headers), and it must get a 2xx to pass them on."""

    def __init__(self, app: ASGIApp, policy: CorsPolicy) -> None:
        self.app = app
        self.policy = policy

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        origin = header(scope["headers"], b"origin")
        if scope["method"] == "OPTIONS":
            headers = [*self.policy.preflight(origin), (b"content-length", b"0")]
            await send({"type": "http.response.start", "status": 204, "headers": headers})
            await send({"type": "http.response.body", "body": b""})
            return
        extra = self.policy.headers(origin)
        if not extra:
            await self.app(scope, receive, send)
            return

        async def send_with_cors(message: Message) -> None:
            if message["type"] == "http.response.start":
                message["headers"] = [*message.get("headers", ()), *extra]
            await send(message)

        await self.app(scope, receive, send_with_cors)
