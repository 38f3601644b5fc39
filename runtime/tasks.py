"""Stopping background tasks reliably.

A cancellation that arrives in the same loop iteration as an `asyncio.timeout` expiry inside redis-py is
turned into a TimeoutError and lost (Python 3.11), so a single `task.cancel()` can leave a loop running
forever. `stop` cancels again until the tasks are really done.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable
from typing import Any


async def stop(tasks: Iterable[asyncio.Future[Any]], *, retry_every: float = 0.1) -> None:
    tasks = list(tasks)
    pending = {t for t in tasks if not t.done()}
    while pending:
        for task in pending:
            task.cancel()
        _, pending = await asyncio.wait(pending, timeout=retry_every)
    for task in tasks:
        if task.done() and not task.cancelled():
            task.exception()  # retrieved: a failure of a background task is not re-reported at exit
