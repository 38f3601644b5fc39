"""A single-consumer stream processor: drains a bounded queue in chunks into a handler, and ticks a clock
callback (closing windows, refreshing aggregates) at a fixed interval even when no events arrive."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Sequence
from typing import Generic, TypeVar

from runtime.streaming.queue import BoundedQueue
from runtime.tasks import stop

log = logging.getLogger(__name__)
T = TypeVar("T")


class StreamProcessor(Generic[T]):
    def __init__(
        self,
        queue: BoundedQueue[T],
        handle: Callable[[Sequence[T]], None],
        *,
        tick: Callable[[float], None] | None = None,
        tick_interval: float = 1.0,
        chunk: int = 1024,
    ) -> None:
        self.queue = queue
        self._handle = handle
        self._tick = tick
        self._tick_interval = tick_interval
        self._chunk = chunk
        self._task: asyncio.Task[None] | None = None
        self.processed = 0

    def start(self) -> None:
        if self._task is None:
            self._task = asyncio.create_task(self._run(), name="stream-processor")

    async def stop(self, drain: bool = True) -> None:
        """Stop the consumer; with `drain`, fold what is still queued first."""
        if self._task is not None:
            await stop([self._task])
            self._task = None
        if drain:
            while items := await self.queue.take(self._chunk, wait=0):
                self._apply(items)

    def _apply(self, items: Sequence[T]) -> None:
        try:
            self._handle(items)
        except Exception:  # a poison batch must not stop the consumer
            log.exception("stream processor: handler failed on %d items", len(items))
        self.processed += len(items)

    async def _run(self) -> None:
        next_tick = time.monotonic() + self._tick_interval
        while True:
            items = await self.queue.take(self._chunk, wait=max(0.0, next_tick - time.monotonic()))
            if items:
                self._apply(items)
                await asyncio.sleep(0)  # let requests run between chunks
            if time.monotonic() >= next_tick:
                next_tick = time.monotonic() + self._tick_interval
                if self._tick is not None:
                    try:
                        self._tick(time.time())
                    except Exception:
                        log.exception("stream processor: tick failed")
