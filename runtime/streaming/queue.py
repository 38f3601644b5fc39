"""A bounded in-memory queue that sheds instead of growing: a batch is accepted whole or refused, so memory
stays bounded under overload and the caller can answer 503 (the client retries the whole batch)."""

from __future__ import annotations

import asyncio
import time
from collections import deque
from collections.abc import Sequence
from typing import Generic, TypeVar

T = TypeVar("T")


class BoundedQueue(Generic[T]):
    def __init__(self, max_items: int) -> None:
        if max_items < 1:
            raise ValueError("max_items must be >= 1")
        self.max_items = max_items
        self._items: deque[tuple[float, T]] = deque()
        self._ready = asyncio.Event()

    def __len__(self) -> int:
        return len(self._items)

    def offer(self, items: Sequence[T]) -> bool:
        """Enqueue all of `items`, or none of them if they do not fit."""
        if len(self._items) + len(items) > self.max_items:
            return False
        now = time.monotonic()
        self._items.extend((now, item) for item in items)
        if items:
            self._ready.set()
        return True

    def oldest_age(self) -> float:
        """Seconds the oldest queued item has waited (0 when empty)."""
        return time.monotonic() - self._items[0][0] if self._items else 0.0

    async def take(self, max_items: int, wait: float | None = None) -> list[T]:
        """Up to `max_items` items, waiting up to `wait` seconds for the first (None: forever)."""
        if not self._items:
            self._ready.clear()
            try:
                async with asyncio.timeout(wait):
                    await self._ready.wait()
            except TimeoutError:
                return []
        n = min(max_items, len(self._items))
        return [self._items.popleft()[1] for _ in range(n)]
