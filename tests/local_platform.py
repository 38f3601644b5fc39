"""Bring a whole local platform up for tests, and down again: `with local_platform() as lp: ...`.

It runs on a free block of loopback ports in a temporary state directory (never the developer's
`.streamgate/local/`), so it can run beside a platform someone started by hand. The rollout and failover
tests reuse it; `lp.platform` gives the full `LocalPlatform` (router, supervisor, deploy, admin client).
"""

from __future__ import annotations

import contextlib
import json
import random
import re
import shutil
import tempfile
import time
import urllib.parse
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from infra.config import load_stack
from infra.local.gateway import AdminClient
from infra.local.layout import Layout, tail_lines
from infra.local.nginx import NginxRouter
from infra.local.platform import LocalPlatform
from infra.local.preflight import port_free


def _port_range() -> tuple[int, int]:
    """Below the kernel's ephemeral range: the platform's processes take seconds to start, and meanwhile
    any outgoing connection (a test's, a gateway's, a scrape) may be given a port of the block."""
    try:
        low = int(Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()[0])
    except (OSError, ValueError, IndexError):
        low = 32768
    return 10000, max(12000, low - 1000)


PORT_RANGE = _port_range()


@dataclass
class RunningPlatform:
    platform: LocalPlatform
    up_seconds: float  # `up` until every part was healthy and the sample was seeded

    @property
    def layout(self) -> Layout:
        return self.platform.layout

    @property
    def router(self) -> NginxRouter:
        return self.platform.router

    @property
    def admin(self) -> AdminClient:
        return self.platform.admin

    @property
    def endpoints(self) -> dict[str, Any]:
        return self.platform.endpoints()

    @property
    def edge(self) -> str:
        return self.layout.edge_url

    def gateway(self, region: str, color: str) -> str:
        return self.layout.gateway_url(region, "blue" if color == "blue" else "green")

    def query(self, promql: str) -> list[dict[str, Any]]:
        """Prometheus instant query over its HTTP API; the result vector."""
        url = f"{self.layout.prometheus_url}/api/v1/query?" + urllib.parse.urlencode({"query": promql})
        with urllib.request.urlopen(url, timeout=5) as response:
            doc = json.loads(response.read())
        if doc.get("status") != "success":
            raise RuntimeError(f"Prometheus refused {promql!r}: {doc}")
        result: list[dict[str, Any]] = doc["data"]["result"]
        return result

    def value(self, promql: str) -> float | None:
        """The single value of a query that yields one sample (e.g. a sum), None when there is no data."""
        result = self.query(promql)
        return float(result[0]["value"][1]) if result else None

    def wait_for(
        self, promql: str, accept: Callable[[float | None], bool], timeout: float = 20.0
    ) -> float | None:
        deadline = time.monotonic() + timeout
        last: float | None = None
        while time.monotonic() < deadline:
            with contextlib.suppress(OSError, RuntimeError):
                last = self.value(promql)
                if accept(last):
                    return last
            time.sleep(0.25)
        raise TimeoutError(f"{promql} still {last} after {timeout:.0f}s")


def free_base_port(regions: int, attempts: int = 50) -> int:
    """A base port whose whole block (see infra/local/layout.py) is free on loopback right now."""
    rng = random.Random()
    for _ in range(attempts):
        base = rng.randrange(*PORT_RANGE, 100)
        layout = Layout.build(base, [f"local-{chr(ord('a') + i)}" for i in range(regions)])
        if all(port_free(p) for p in layout.reserved_ports()):
            return base
    raise RuntimeError("no free block of ports found on loopback")


def render_configs(platform: LocalPlatform) -> None:
    """Write every config of `platform` (and its router's initial weights) without starting anything."""
    from infra.local.render import make_dirs, render_all, write_changed, write_missing

    make_dirs(platform.paths, platform.layout)
    rendered = render_all(
        platform.cfg,
        platform.layout,
        platform.paths,
        platform.programs(),
        platform._rules(),
        platform._alertmanager(),
    )
    write_changed(rendered.managed)
    write_missing(rendered.once)
    platform.router.initialise(platform.initial_router_state())


_UNEXPECTED_EXIT = re.compile(r"exited: (\S+) \(.*not expected\)")


def failure_logs(platform: LocalPlatform, lines: int = 25) -> list[tuple[str, str]]:
    """For a failed test's report (the platform's logs are purged when its session ends): the end of
    supervisord's log, and of the log of every program that exited when it should not have."""

    def tail(path: Path, n: int) -> list[str]:
        try:
            return tail_lines(path, n)
        except OSError as exc:
            return [f"(unreadable: {exc})"]

    supervisord = tail(platform.paths.logs / "supervisord.log", 5000)
    crashed = sorted(set(_UNEXPECTED_EXIT.findall("\n".join(supervisord))))
    return [("local platform: supervisord.log (end)", "\n".join(supervisord[-lines:]))] + [
        (f"local platform: {name}.log (end)", "\n".join(tail(platform.paths.log(name), lines)))
        for name in crashed
    ]


@contextlib.contextmanager
def local_platform(
    stack: str = "local",
    *,
    state_dir: Path | None = None,
    base_port: int | None = None,
    timeout: float = 90.0,
) -> Iterator[RunningPlatform]:
    """Up on entry (health waited for, sample seeded), down on exit; a temporary state dir is purged."""
    cfg = load_stack(stack)
    owned = state_dir is None
    root = Path(tempfile.mkdtemp(prefix="sg-local-")) if state_dir is None else state_dir
    base = base_port if base_port is not None else free_base_port(len(cfg.regions))
    platform = LocalPlatform(cfg, base_port=base, state_dir=root)
    failed = False
    try:
        try:
            result = platform.up(timeout=timeout)
        except Exception as exc:
            failed = True  # keep configs and logs to look at (every process is still stopped below)
            exc.add_note(f"local platform state and logs kept in {root}")
            raise
        yield RunningPlatform(platform, result.seconds)
    finally:
        purge = owned and not failed
        try:
            platform.down(purge=purge)
        finally:
            if purge:
                shutil.rmtree(root, ignore_errors=True)
