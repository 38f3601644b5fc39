"""Router for the local platform: one region's color weights in its nginx, through `infra.local.nginx`.

Writes go through the platform's router module (atomic include file, `nginx -t`, real `nginx -s reload`,
wait for the new generation). Reads come from the running nginx's `/-/weights` endpoint, i.e. what nginx has
actually loaded, not what a file on disk says.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping

from infra.automation.adapters import validate_weights
from infra.automation.errors import RouterError
from infra.config import COLORS
from infra.errors import StreamgateError
from infra.local.nginx import NginxRouter


class NginxColorRouter:
    """The Router for one region's blue/green split on the local platform."""

    def __init__(self, nginx: NginxRouter, region: str) -> None:
        self.nginx = nginx
        self.region = region
        self.name = f"nginx {region}"

    async def get_weights(self) -> dict[str, int]:
        return await asyncio.to_thread(self._loaded)

    def _loaded(self) -> dict[str, int]:
        try:
            state = self.nginx.loaded_state()
        except (OSError, ValueError, KeyError) as exc:
            raise RouterError(f"{self.name}: cannot read the weights nginx serves: {exc}") from exc
        if self.region not in state.colors:
            raise RouterError(f"{self.name}: nginx knows no region {self.region!r}")
        return dict(state.colors[self.region])

    async def set_weights(self, weights: Mapping[str, int]) -> None:
        clean = validate_weights(weights, COLORS, self.name)
        try:
            await asyncio.to_thread(self.nginx.write_weights, self.region, clean)
        except StreamgateError as exc:  # the platform's RouterError/InvalidWeightsError
            raise RouterError(f"{self.name}: {exc}") from exc

    async def verify(self, weights: Mapping[str, int]) -> bool:
        loaded = await self.get_weights()
        on_disk = await asyncio.to_thread(self.nginx.read_weights, self.region)
        return loaded == dict(weights) == on_disk
