"""On-demand CPU profile of the running process for N seconds with pyinstrument (in-process sampling: no
SYS_PTRACE needed, so it works under restricted Pod Security). One capture at a time per process."""

from __future__ import annotations

import asyncio
from enum import StrEnum


class ProfileBusyError(RuntimeError):
    """A capture is already running in this process."""


class ProfileFormat(StrEnum):
    TEXT = "text"
    HTML = "html"
    SPEEDSCOPE = "speedscope"

    @property
    def media_type(self) -> str:
        return {
            ProfileFormat.TEXT: "text/plain; charset=utf-8",
            ProfileFormat.HTML: "text/html; charset=utf-8",
            ProfileFormat.SPEEDSCOPE: "application/json",
        }[self]


class CpuProfiler:
    def __init__(self, *, max_seconds: float, interval: float) -> None:
        self.max_seconds = max_seconds
        self.interval = interval
        self._lock = asyncio.Lock()

    async def capture(self, seconds: float, fmt: ProfileFormat = ProfileFormat.TEXT) -> str:
        """Sample the event-loop thread (every task running on it) for `seconds`, capped at `max_seconds`."""
        from pyinstrument import Profiler

        if self._lock.locked():
            raise ProfileBusyError("a profile is already being captured")
        seconds = min(max(seconds, 0.0), self.max_seconds)
        async with self._lock:
            # async_mode="disabled": record whatever runs on this thread, not just this coroutine.
            profiler = Profiler(interval=self.interval, async_mode="disabled")
            profiler.start()
            try:
                await asyncio.sleep(seconds)
            finally:
                profiler.stop()
        if fmt is ProfileFormat.HTML:
            return str(profiler.output_html())
        if fmt is ProfileFormat.SPEEDSCOPE:
            from pyinstrument.renderers import SpeedscopeRenderer

            return str(profiler.output(SpeedscopeRenderer()))
        return str(profiler.output_text(unicode=True, color=False))
