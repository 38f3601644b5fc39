"""Fixtures of the automation tests: a real Prometheus scraping a synthetic gateway exporter, and the local
platform (session-wide) with a per-test rollout environment."""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
import threading
import time
import urllib.parse
import urllib.request
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml
from prometheus_client import CollectorRegistry, Counter, Histogram, start_http_server

from infra.config import PROJECT_ROOT
from tests.local_platform import RunningPlatform, local_platform
from tests.servers import LOOPBACK, free_port, require_binary, wait_until

LABELS = ["version", "color", "region", "route", "method", "status_class"]
BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.3, 0.5, 1, 2.5, 5, 10)
ROUTE = "/v1/analytics/realtime"


@dataclass
class Side:
    version: str
    color: str
    rate: float  # requests per second
    error_ratio: float
    latency: float


@dataclass
class SyntheticPrometheus:
    url: str
    sides: list[Side]


def _traffic(registry: CollectorRegistry, sides: list[Side], stop: threading.Event) -> None:
    requests = Counter("streamgate_http_requests", "requests", LABELS, registry=registry)
    duration = Histogram(
        "streamgate_http_request_duration_seconds", "latency", LABELS, buckets=BUCKETS, registry=registry
    )
    carry = [0.0] * len(sides)
    tick = 0.05
    n = 0
    while not stop.wait(tick):
        for i, side in enumerate(sides):
            carry[i] += side.rate * tick
            while carry[i] >= 1:
                carry[i] -= 1
                n += 1
                failed = (n % 100) < side.error_ratio * 100
                status = "5xx" if failed else "2xx"
                # As the gateway records them: injected faults answer before routing, so route="other".
                route = "other" if failed else ROUTE
                labels = (side.version, side.color, "local-a", route, "GET", status)
                requests.labels(*labels).inc()
                # Spread latencies a little around the side's value, deterministically.
                duration.labels(*labels).observe(side.latency * (0.8 + 0.4 * ((n * 37) % 100) / 100))
        # Scrapes of /metrics are counted too, as a gateway would: the checks must ignore them.
        requests.labels(sides[0].version, sides[0].color, "local-a", "/metrics", "GET", "2xx").inc()


@contextlib.contextmanager
def exporter(sides: list[Side]) -> Iterator[int]:
    """A gateway-like exporter on a free loopback port serving synthetic traffic of `sides`."""
    registry = CollectorRegistry()
    port = free_port()
    server, thread = start_http_server(port, addr=LOOPBACK, registry=registry)
    stop = threading.Event()
    worker = threading.Thread(target=_traffic, args=(registry, sides, stop), daemon=True)
    worker.start()
    try:
        yield port
    finally:
        stop.set()
        server.shutdown()
        thread.join(5)


@dataclass
class RunningPrometheus:
    url: str
    config: Path
    proc: subprocess.Popen[bytes]


@contextlib.contextmanager
def prometheus(
    workdir: Path, scrape_configs: str, ready_query: str, args: Sequence[str] = ()
) -> Iterator[RunningPrometheus]:
    """A real Prometheus (1 s scrapes) with `scrape_configs`, once `ready_query` returns data; `args`: more
    flags (a retention for backfilled history)."""
    port = free_port()
    config = workdir / "prometheus.yml"
    config.write_text(
        "global: {scrape_interval: 1s, evaluation_interval: 1s}\nscrape_configs:\n" + scrape_configs
    )
    proc = subprocess.Popen(
        [
            require_binary("prometheus", "prometheus"),
            f"--config.file={config}",
            f"--storage.tsdb.path={workdir / 'data'}",
            f"--web.listen-address={LOOPBACK}:{port}",
            *args,
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"http://{LOOPBACK}:{port}"
    try:
        # Prometheus hands targets to its scrape manager only after ~5 s (discovery update throttle).
        query = f"{url}/api/v1/query?query={urllib.parse.quote(ready_query)}"
        wait_until(lambda: b'"value"' in urllib.request.urlopen(query, timeout=1).read(), 30, "first scrape")
        yield RunningPrometheus(url, config, proc)
    finally:
        proc.terminate()
        proc.wait(10)


@pytest.fixture(scope="session")
def synthetic_prometheus(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SyntheticPrometheus]:
    """Stable v1 (blue) healthy; canary v2 (green) with 20% errors and 0.4 s latency; v3 (green) healthy
    and fast; v9 never serves (no data)."""
    sides = [
        Side("v1", "blue", 60, 0.0, 0.004),
        Side("v2", "green", 30, 0.2, 0.4),
        Side("v3", "green", 30, 0.0, 0.004),
    ]
    with exporter(sides) as port:
        scrape = (
            f"  - job_name: streamgate-gateway\n    static_configs: [{{targets: ['{LOOPBACK}:{port}']}}]\n"
        )
        workdir = tmp_path_factory.mktemp("prometheus")
        with prometheus(workdir, scrape, "count(streamgate_http_requests_total)") as running:
            time.sleep(4.5)  # a few more scrapes, so rate() over a 4 s window has data
            yield SyntheticPrometheus(running.url, sides)


def unused_url() -> str:
    """A loopback URL nothing listens on: an unreachable backend."""
    return f"http://{LOOPBACK}:{free_port()}"


@pytest.fixture
def prometheus_down() -> str:
    return unused_url()


@pytest.fixture
def state_root(tmp_path: Path) -> Path:
    return tmp_path / "state"


# -- the local platform (real nginx, gateways, Prometheus, Pushgateway) ----------------------------------

STABLE_VERSION = "0.1.0"
REGION = "local-a"
SCRAPE_SECONDS = 2.0  # stacks/Pulumi.local.yaml: local.scrapeIntervalSeconds
ROLLOUT_SETTINGS: dict[str, Any] = {
    "steps": [20, 50, 100],
    "intervalSeconds": 2,
    "failureThreshold": 3,
    "minSuccessRate": 0.95,
    "maxP99LatencySeconds": 0.25,
    "analysisWindowSeconds": 5,  # ≥ 2 scrapes
    "minRequests": 30,  # ~80 expected per window at the tests' 80 rps and 20%
    "judge": {"minSamples": 10},
    "rollbackWindowSeconds": 3,
}


@pytest.fixture(scope="session")
def running_platform() -> Iterator[RunningPlatform]:
    """One local platform for every rollout test (bringing it up takes ~25 s)."""
    with local_platform() as lp:
        yield lp


@dataclass
class RolloutEnv:
    lp: RunningPlatform
    stacks_dir: Path
    env: dict[str, str]  # for subprocesses: how the CLI finds this stack and platform

    @property
    def root(self) -> Path:
        return self.lp.platform.paths.root

    def write_stack(self, **rollout: Any) -> None:
        """stacks/Pulumi.local.yaml with the rollout section replaced (short intervals for tests)."""
        document = yaml.safe_load((PROJECT_ROOT / "stacks" / "Pulumi.local.yaml").read_text())
        document["config"]["streamgate:rollout"] = {**ROLLOUT_SETTINGS, **rollout}
        (self.stacks_dir / "Pulumi.local.yaml").write_text(yaml.safe_dump(document))

    def weights(self) -> dict[str, int]:
        """What the running nginx serves for the region."""
        return dict(self.lp.router.loaded_state().colors[REGION])

    def state(self) -> dict[str, Any] | None:
        path = self.root / "rollouts" / f"{REGION}.json"
        return json.loads(path.read_text()) if path.exists() else None


@pytest.fixture
def rollout_env(
    running_platform: RunningPlatform, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> RolloutEnv:
    """Blue live at 100% with the stable version, green idle, no rollout recorded; env points the CLI here."""
    lp = running_platform
    platform = lp.platform
    blue = lp.gateway(REGION, "blue")
    version = (
        json.loads(urllib.request.urlopen(f"{blue}/version", timeout=2).read()).get("version")
        if _up(blue)
        else None
    )
    if version != STABLE_VERSION:
        platform.deploy(REGION, "blue", STABLE_VERSION)
    if lp.router.loaded_state().colors[REGION] != {"blue": 100, "green": 0}:
        lp.router.write_weights(REGION, {"blue": 100, "green": 0})
    for leftover in (platform.paths.root / "rollouts").glob(f"{REGION}*.json"):
        leftover.unlink()
    stacks = tmp_path / "stacks"
    stacks.mkdir()
    env = {"STREAMGATE_STACKS_DIR": str(stacks), "STREAMGATE_LOCAL_STATE_DIR": str(platform.paths.root)}
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    rollout = RolloutEnv(lp, stacks, {**os.environ, **env})
    rollout.write_stack()
    return rollout


def _up(url: str) -> bool:
    try:
        urllib.request.urlopen(f"{url}/healthz", timeout=1).close()
    except OSError:
        return False
    return True
