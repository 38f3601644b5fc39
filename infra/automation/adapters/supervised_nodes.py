"""Stop and start a region's catalog node on the local platform (supervisord), for the PostgreSQL data
store's switchover (`postgres_store.NodeControl`)."""

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
        from infra.local.catalog import program

        # Not waited for: the node catches up as a standby while traffic already moved.
        await asyncio.to_thread(self.platform.supervisor.start_process, program(region), False)
