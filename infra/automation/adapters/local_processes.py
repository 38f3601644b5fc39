"""Predictive scaling's capacity knob on the local platform: the gateway processes of the color that serves
a region (each its own supervisord program, port and scrape target, as a pod is), set through
`LocalPlatform.set_processes`. No HPA runs locally, so the count *is* the capacity: `reactive` is False."""

from __future__ import annotations

import asyncio

from infra.automation.scale.errors import KnobError
from infra.automation.scale.model import KnobState
from infra.config import Color
from infra.errors import StreamgateError
from infra.local.layout import COLORS
from infra.local.platform import LocalPlatform


class LocalProcesses:
    reactive = False

    def __init__(self, platform: LocalPlatform, region: str) -> None:
        self.platform = platform
        self.region = region
        self.name = f"gateway processes of {region}"

    def serving_color(self) -> Color:
        """The color with the largest weight in the region's router, as nginx loaded it (the live color
        outside rollouts; ties go to the stack's live color)."""
        try:
            weights = self.platform.router.loaded_state().colors[self.region]
        except (OSError, ValueError, KeyError) as exc:
            raise KnobError(f"{self.region}: cannot read the router's color weights: {exc}") from exc
        live = self.platform.cfg.workload.live_color
        return max(COLORS, key=lambda c: (weights.get(c, 0), c == live))

    def _read(self) -> KnobState:
        color = self.serving_color()
        count = self.platform.processes(self.region, color)
        return KnobState(count, True, f"{count} {color} process(es)")

    async def read(self) -> KnobState:
        return await asyncio.to_thread(self._read)

    def _set(self, floor: int) -> KnobState:
        color = self.serving_color()
        try:
            self.platform.set_processes(self.region, color, floor)
        except StreamgateError as exc:
            raise KnobError(f"{self.region} {color}: could not run {floor} process(es): {exc}") from exc
        return self._read()

    async def set(self, floor: int) -> KnobState:
        return await asyncio.to_thread(self._set, floor)
