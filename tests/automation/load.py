"""A small, bounded load generator for rollout tests: concurrent GETs through the edge, in a thread with
its own event loop, stopping on exit or after `max_seconds` whatever happens."""

from __future__ import annotations

import asyncio
import threading
import time
from collections import Counter
from types import TracebackType

import httpx


class Load:
    def __init__(self, url: str, rps: float = 80.0, concurrency: int = 8, max_seconds: float = 90.0) -> None:
        self.url, self.rps, self.concurrency, self.max_seconds = url, rps, concurrency, max_seconds
        self.statuses: Counter[int] = Counter()  # 0 = transport error
        self._stop = threading.Event()
        self._thread = threading.Thread(target=lambda: asyncio.run(self._run()), daemon=True)

    async def _worker(self, client: httpx.AsyncClient, deadline: float) -> None:
        period = self.concurrency / self.rps
        while not self._stop.is_set() and time.monotonic() < deadline:
            started = time.monotonic()
            try:
                response = await client.get(self.url)
                self.statuses[response.status_code] += 1
            except httpx.TransportError:
                # A keep-alive connection closed by an nginx reload as we reused it (clients retry these).
                self.statuses[0] += 1
            await asyncio.sleep(max(0.0, period - (time.monotonic() - started)))

    async def _run(self) -> None:
        deadline = time.monotonic() + self.max_seconds
        limits = httpx.Limits(max_connections=self.concurrency)
        async with httpx.AsyncClient(timeout=10.0, limits=limits) as client:
            await asyncio.gather(*(self._worker(client, deadline) for _ in range(self.concurrency)))

    def __enter__(self) -> Load:
        self._thread.start()
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self._stop.set()
        self._thread.join(15)

    @property
    def server_errors(self) -> int:
        return sum(n for status, n in self.statuses.items() if status >= 500)

    @property
    def transport_error_ratio(self) -> float:
        return self.statuses[0] / max(1, sum(self.statuses.values()))
