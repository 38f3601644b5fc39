"""The StreamGate gateway: an ASGI app (Starlette) serving content through the multi-level cache,
ingesting playback events, and exposing operations endpoints. Build it with `create_app(settings)`;
run it with `python -m runtime.service`."""

from runtime.service.app import create_app
from runtime.service.gateway import Gateway
from runtime.service.settings import GatewaySettings

__all__ = ["Gateway", "GatewaySettings", "create_app"]
