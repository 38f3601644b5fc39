"""Generic asyncio micro-batcher.

Concurrent `submit()` calls made in the same event-loop tick are flushed together as one call of the batch
function (e.g. one Redis MGET for many requests' GETs). A lone caller pays no fixed delay: the flush runs as
soon as the loop gets back to it. Optionally a batch waits up to `max_delay` seconds to collect more items,
and is flushed early once `max_items` are queued.

The first caller of a batch leads it: it yields to the loop once (so callers of the same tick can join),
closes the batch and, if it is alone, runs the batch function itself, so a lone call costs one bare loop
hop and no task. With company, the flush runs in a task, so one caller's cancellation cannot fail the
others.

With `eager`, a caller that finds nothing in flight flushes at once, without the hop: sequential callers
(one request at a time) pay nothing for batching, and callers that arrive while a flush is in flight still
gather into the next batch. Under a burst in one tick the first caller goes alone and the rest together.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable, Sequence
from typing import Generic, TypeVar

K = TypeVar("K")
V = TypeVar("V")

BatchFn = Callable[[Sequence[K]], Awaitable[Sequence[V]]]


class BatchError(RuntimeError):
    """The batch function broke its contract (returned a different number of results than items)."""


class _Batch(Generic[K, V]):
    __slots__ = ("full", "futures", "items")

    def __init__(self, item: K, future: asyncio.Future[V]) -> None:
        self.items: list[K] = [item]
        self.futures: list[asyncio.Future[V]] = [future]
        self.full: asyncio.Event | None = None


class MicroBatcher(Generic[K, V]):
    """Coalesce concurrent single-item calls into batch calls.

    `flush(items)` must return one result per item, in order. If it raises, every caller of that batch gets
    the exception. A caller cancelled while waiting does not affect the others.
    """

    def __init__(
        self, flush: BatchFn[K, V], *, max_items: int = 256, max_delay: float = 0.0, eager: bool = False
    ) -> None:
        if max_items < 1:
            raise ValueError("max_items must be >= 1")
        if max_delay < 0:
            raise ValueError("max_delay must be >= 0")
        self._flush = flush
        self._max_items = max_items
        self._max_delay = max_delay
        self._eager = eager
        self._open: _Batch[K, V] | None = None
        self._tasks: set[asyncio.Task[None]] = set()
        self.batches = 0  # flush calls so far (for tests and metrics)
        self.items = 0  # items flushed so far
        self.in_flight = 0  # flushes running now

    async def submit(self, item: K) -> V:
        """Queue `item` for the current batch and wait for its result."""
        batch = self._open
        if batch is None and self._eager and not self.in_flight:
            return (await self._call([item]))[0]  # alone and idle: no batch, no future, no hop
        future: asyncio.Future[V] = asyncio.get_running_loop().create_future()
        if batch is not None:  # join the batch of this tick
            batch.items.append(item)
            batch.futures.append(future)
            if len(batch.items) >= self._max_items:
                self._close(batch)
            return await future
        batch = self._open = _Batch(item, future)
        if self._max_items == 1:
            self._close(batch)
        try:
            await self._gather(batch)
        except asyncio.CancelledError:
            # The leader left before the flush: the others must still be served.
            self._close(batch)
            if len(batch.items) > 1:
                self._spawn(batch)
            raise
        self._close(batch)
        if len(batch.items) == 1:
            await self._run(batch)  # alone: no task, no extra hop
            return future.result()
        self._spawn(batch)
        return await future

    async def _gather(self, batch: _Batch[K, V]) -> None:
        """Let the other callers of this tick (or of `max_delay`) join."""
        if self._max_delay > 0:
            batch.full = asyncio.Event()
            if self._open is not batch:  # already full
                return
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(batch.full.wait(), self._max_delay)
        elif self._open is batch:
            await asyncio.sleep(0)

    def _close(self, batch: _Batch[K, V]) -> None:
        if self._open is batch:
            self._open = None
        if batch.full is not None:
            batch.full.set()

    def _spawn(self, batch: _Batch[K, V]) -> None:
        task = asyncio.get_running_loop().create_task(self._run(batch))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _call(self, items: list[K]) -> Sequence[V]:
        """One flush, counted, with its contract checked."""
        self.batches += 1
        self.items += len(items)
        self.in_flight += 1
        try:
            results = await self._flush(items)
        finally:
            self.in_flight -= 1
        if len(results) != len(items):
            raise BatchError(f"batch function returned {len(results)} results for {len(items)} items")
        return results

    async def _run(self, batch: _Batch[K, V]) -> None:
        try:
            results = await self._call(batch.items)
        except asyncio.CancelledError:
            for future in batch.futures:
                future.cancel()
            raise
        except Exception as exc:  # every waiter of this batch hears about it
            for future in batch.futures:
                if not future.done():
                    future.set_exception(exc)
            return
        for future, result in zip(batch.futures, results, strict=True):
            if not future.done():
                future.set_result(result)

    async def aclose(self) -> None:
        """Wait for batches already queued to finish."""
        if self._tasks:
            await asyncio.gather(*self._tasks, return_exceptions=True)
