"""The StreamGate gateway: an ASGI app (Starlette) serving content through the multi-level cache,
ingesting playback events, and exposing operations endpoints. Build it with `create_app(settings)`;
run it with `python -m runtime.service`.

The names below load on first use, so that reading the settings model (the Pulumi program and the local
platform build the gateway's environment from it) does not import the server, Redis and AWS clients."""

from __future__ import annotations

from typing import TYPE_CHECKING

from runtime.lazy import lazy_attributes

if TYPE_CHECKING:
    from runtime.service.app import create_app
    from runtime.service.gateway import Gateway
    from runtime.service.settings import GatewaySettings

__all__ = ["Gateway", "GatewaySettings", "create_app"]
_HOMES = {
    "create_app": "runtime.service.app",
    "Gateway": "runtime.service.gateway",
    "GatewaySettings": "runtime.service.settings",
}

__getattr__ = lazy_attributes(__name__, _HOMES)
