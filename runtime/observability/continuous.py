"""Always-on CPU profiling of the gateway process with the Pyroscope agent (`pyroscope-io`).

The agent is a native thread (py-spy reading this process's own memory: no SYS_PTRACE, no GIL while it
samples) that pushes a pprof profile every `upload_interval_seconds` to a Pyroscope server's push API
(`/push.v1.PusherService/Push`). Every profile is tagged with the instance's region, version and color,
so Pyroscope (or the local platform's profile store, infra/profiles) can select and diff by them.

The agent is one per process: it is started in the worker (the ASGI lifespan, after uvicorn forked) and
several apps in one process (tests) share it.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Mapping
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from runtime.service.settings import ProfilingSettings

log = logging.getLogger("runtime.observability")

_lock = threading.Lock()
_users = 0  # apps of this process that started the agent


class ContinuousProfiler:
    """Starts the process's agent on `start()` when `settings.continuous_url` is set; a no-op otherwise."""

    def __init__(self, settings: ProfilingSettings, tags: Mapping[str, str]) -> None:
        self.settings = settings
        self.tags = dict(tags)
        self.running = False

    @property
    def enabled(self) -> bool:
        return self.settings.continuous_url is not None

    def start(self) -> bool:
        """Start (or join) the agent; False when disabled or the agent could not start (logged, not raised:
        profiling must never keep a gateway from serving)."""
        global _users
        if not self.enabled or self.running:
            return self.running
        with _lock:
            if _users == 0 and not self._configure():
                return False
            _users += 1
        self.running = True
        log.info("continuous profiling to %s, tags %s", self.settings.continuous_url, self.tags)
        return True

    def _configure(self) -> bool:
        try:
            import pyroscope

            s = self.settings
            return bool(
                pyroscope.configure(
                    application_name=s.continuous_application,
                    server_address=s.continuous_url,
                    sample_rate=s.continuous_sample_hz,
                    upload_interval=s.continuous_upload_seconds,
                    tags=self.tags,
                    oncpu=True,
                    gil_only=True,
                )
            )
        except Exception:  # an import or native failure: serve unprofiled
            log.exception("the continuous profiling agent did not start")
            return False

    def stop(self) -> None:
        """Leave the agent; the last app to leave stops it (flushing what it sampled)."""
        global _users
        if not self.running:
            return
        self.running = False
        with _lock:
            _users -= 1
            if _users == 0:
                import pyroscope

                pyroscope.shutdown()
