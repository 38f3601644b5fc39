"""Deployer for the local platform: a color's gateway process under supervisord, restarted with the new
version in its environment (`LocalPlatform.deploy`), checked over its own /readyz and /version."""

from __future__ import annotations

import asyncio

from infra import http
from infra.automation.errors import DeployError
from infra.config import COLORS, Color
from infra.errors import StreamgateError
from infra.local.layout import gateway_program
from infra.local.platform import LocalPlatform


def _color(color: str) -> Color:
    for known in COLORS:
        if known == color:
            return known
    raise DeployError(f"unknown color {color!r} (blue or green)")


def _get_json(url: str, timeout: float = 1.0) -> dict[str, object] | None:
    """The JSON object a gateway answers with (also on an error status: /readyz explains itself)."""
    answer = http.get(url, timeout)
    try:
        doc = answer.json() if answer.status else None
    except ValueError:
        return None
    return doc if isinstance(doc, dict) else None


class LocalDeployer:
    """Runs versions on one region's gateway colors of a local platform."""

    def __init__(self, platform: LocalPlatform, region: str) -> None:
        self.platform = platform
        self.region = region

    def url(self, color: str) -> str:
        return self.platform.layout.gateway_url(self.region, _color(color))

    async def deploy(self, color: str, version: str) -> None:
        try:
            await asyncio.to_thread(self.platform.deploy, self.region, _color(color), version)
        except StreamgateError as exc:
            raise DeployError(f"{self.region} {color}: could not run {version}: {exc}") from exc

    async def running_version(self, color: str) -> str | None:
        doc = await asyncio.to_thread(_get_json, f"{self.url(color)}/version")
        version = doc.get("version") if doc else None
        return str(version) if version is not None else None

    async def expected_targets(self, color: str) -> int:
        return 1  # one gateway process per color and region

    async def healthy(self, color: str, version: str) -> bool:
        ready = await asyncio.to_thread(_get_json, f"{self.url(color)}/readyz")
        return bool(ready and ready.get("ready")) and await self.running_version(color) == version

    async def retire(self, color: str) -> None:
        name = gateway_program(self.region, _color(color))
        try:
            await asyncio.to_thread(self.platform.supervisor.stop_process, name)
        except StreamgateError as exc:
            raise DeployError(f"could not stop {name}: {exc}") from exc
