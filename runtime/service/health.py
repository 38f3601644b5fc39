"""The state of the shared backends (Redis, the object store) and of the cache's invalidation channel,
watched in the background: /healthz reports it and `streamgate_backend_up{backend}` exports it. Neither
probe endpoint waits for a backend, and neither liveness nor readiness depends on one (ops_routes.py
says why).

Each backend is probed every `interval_seconds`; an answer later than `timeout_seconds` counts as down.
A probe still running after its timeout (a hung backend keeps a boto3 thread or a socket busy) is not
started again until it ends, so a hung backend costs one probe at a time, not one per round.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass

from prometheus_client import Gauge

from runtime.tasks import stop

log = logging.getLogger("runtime.service")

BACKEND_UP = Gauge(
    "streamgate_backend_up",
    "1 while a shared backend (or the cache's invalidation channel) answered its last probe in time",
    ["backend"],
)

Probe = Callable[[], Awaitable[object]]


@dataclass
class BackendState:
    up: bool | None = None  # None until the first probe has answered (or timed out)
    since: float = 0.0  # wall time of the last change
    detail: str = "not probed yet"
    seconds: float = 0.0  # how long the last probe took

    def as_dict(self) -> dict[str, object]:
        return {
            "up": self.up,
            "since": round(self.since, 3),
            "detail": self.detail,
            "seconds": round(self.seconds, 4),
        }


class BackendMonitor:
    def __init__(
        self,
        probes: Mapping[str, Probe],
        *,
        interval_seconds: float,
        timeout_seconds: float,
        checks: Mapping[str, Callable[[], tuple[bool, str]]] | None = None,
    ) -> None:
        """`probes` do I/O (a PING, a LIST); `checks` read in-process state (no I/O) at each round."""
        self._probes = dict(probes)
        self._checks = dict(checks or {})
        self.interval = interval_seconds
        self.timeout = timeout_seconds
        self.states = {name: BackendState() for name in (*self._probes, *self._checks)}
        self._inflight: dict[str, asyncio.Future[object]] = {}
        self._task: asyncio.Task[None] | None = None
        for name in self.states:
            BACKEND_UP.labels(name).set(0)

    @property
    def degraded(self) -> list[str]:
        """Backends that are down (or not known to be up yet)."""
        return [name for name, state in self.states.items() if not state.up]

    def snapshot(self) -> dict[str, dict[str, object]]:
        return {name: state.as_dict() for name, state in self.states.items()}

    def start(self) -> None:
        if self._task is None:
            self._task = asyncio.get_running_loop().create_task(self._run(), name="backend-monitor")

    async def stop(self) -> None:
        # Probes run inside Redis and database timeouts, where one cancel can be lost.
        await stop([t for t in (self._task, *self._inflight.values()) if t is not None])
        self._task = None
        self._inflight.clear()

    async def round(self) -> None:
        """Probe everything once (each bounded by the timeout)."""
        await asyncio.gather(*(self._probe(name) for name in self._probes))
        for name, check in self._checks.items():
            up, detail = check()
            self._set(name, up, detail, 0.0)

    async def _run(self) -> None:
        while True:
            await self.round()
            await asyncio.sleep(self.interval)

    async def _probe(self, name: str) -> None:
        inflight = self._inflight.get(name)
        if inflight is None or inflight.done():
            inflight = self._inflight[name] = asyncio.ensure_future(self._probes[name]())
            inflight.add_done_callback(_retrieve)
        started = time.perf_counter()
        try:
            async with asyncio.timeout(self.timeout):
                await asyncio.shield(inflight)
        except TimeoutError:
            self._set(name, False, f"no answer within {self.timeout:g}s", time.perf_counter() - started)
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # whatever the client raises: the backend is not usable right now
            self._set(name, False, f"{type(exc).__name__}", time.perf_counter() - started)
        else:
            self._set(name, True, "ok", time.perf_counter() - started)

    def _set(self, name: str, up: bool, detail: str, seconds: float) -> None:
        state = self.states[name]
        if up is not state.up:
            state.since = time.time()
            if state.up is not None or not up:
                log.log(
                    logging.INFO if up else logging.WARNING,
                    "backend %s is %s (%s)",
                    name,
                    "up" if up else "down",
                    detail,
                )
            BACKEND_UP.labels(name).set(1 if up else 0)
        state.up, state.detail, state.seconds = up, detail, seconds


def _retrieve(future: asyncio.Future[object]) -> None:
    """A probe that failed after its caller stopped waiting: its exception is expected, not news."""
    if not future.cancelled():
        future.exception()
