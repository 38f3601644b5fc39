"""Stop and start a region's catalog node on the local platform (supervisord), for the PostgreSQL data
store's switchover (`postgres_store.NodeControl`); both wait for the server itself, polling more finely
than supervisord's one-second tick."""

from __future__ import annotations

import asyncio
import time
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from infra.local.platform import LocalPlatform


STOP_SECONDS = 30.0


class SupervisedNodes:
    def __init__(self, platform: LocalPlatform) -> None:
        self.platform = platform

    async def stop(self, region: str) -> None:
        """Stop and wait until the server is gone: a fast shutdown ends sessions and writes the final
        checkpoint. Polled here (supervisord's own wait ticks once a second, most of a switchover)."""
        from infra.local.catalog import datadir, program

        await asyncio.to_thread(self.platform.supervisor.stop_process, program(region), False)
        # The postmaster removes its pid file last, after the shutdown checkpoint went to the standbys.
        pidfile = datadir(self.platform.paths, region) / "postmaster.pid"
        deadline = time.monotonic() + STOP_SECONDS
        while pidfile.exists():
            if time.monotonic() > deadline:
                raise TimeoutError(f"PostgreSQL {region} still running after {STOP_SECONDS:g}s")
            await asyncio.sleep(0.02)

    async def start(self, region: str) -> None:
        """Start and wait until it accepts connections (a standby: read-only ones), so that whoever looks
        next (a resumed run's plan) sees the node it just rejoined, not a gap."""
        from infra.local.catalog import probe, program

        await asyncio.to_thread(self.platform.supervisor.start_process, program(region), False)
        port = self.platform.layout.region(region).postgres
        deadline = time.monotonic() + STOP_SECONDS
        while not (await asyncio.to_thread(probe, port))[0]:
            if time.monotonic() > deadline:
                raise TimeoutError(f"PostgreSQL {region} does not accept connections after {STOP_SECONDS:g}s")
            await asyncio.sleep(0.05)
