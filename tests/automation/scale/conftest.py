"""Fixtures of the predictive-scaling tests: a real Prometheus holding four weeks of synthetic gateway
traffic (written as OpenMetrics, turned into TSDB blocks by promtool, read by Prometheus from its data
directory), a Pushgateway, and a stand-in API server whose Service proxy reaches both."""

from __future__ import annotations

import copy
import json
import subprocess
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from infra.automation.scale.synthetic import DAY, Event, Traffic
from infra.outputs import PROMETHEUS_SERVICE, PUSHGATEWAY_SERVICE
from tests.automation.scale.history_server import history_prometheus
from tests.kubeapi import FakeKubeApi, gateway_objects
from tests.servers import LOOPBACK, free_port, require_binary, wait_until

HISTORY_DAYS = 28
SHORT_DAYS = 5  # us-west-2: too little history
HOUR = 3600


@dataclass(frozen=True)
class History:
    url: str
    start: float
    end: float
    traffic: dict[str, Traffic]
    spike: Event
    gap: tuple[float, float]
    reset: float


def prod_traffic(
    start: float, end: float, realization: int = 0
) -> tuple[dict[str, Traffic], Event, tuple[float, float], float]:
    """The prod regions' demand (each peaking in its own evening), and in us-east-1 a live event in the
    third week, a two-hour scrape gap and a pod restart. ap-southeast-1 needs more than the HPA's minimum
    of 3 pods (250 req/s each) at every hour, so a floor is raised whatever the time of day.
    `realization` > 0: the same regions with other noise, labelled `<region>-r<realization>`."""
    spike = Event(start + 17 * DAY + 1 * HOUR, 3 * HOUR, 2.5)
    gap = (start + 10 * DAY + 6 * HOUR, start + 10 * DAY + 8 * HOUR)
    reset = start + 12 * DAY + 12 * HOUR + 30
    seed = 11 + 100 * realization

    def label(region: str) -> str:
        return f"{region}-r{realization}" if realization else region

    regions = {
        "us-east-1": Traffic(
            label("us-east-1"),
            900,
            peak_hour=1,
            events=(spike,),
            gaps=(gap,),
            resets=(reset,),
            seed=seed,
            start_epoch=start,
        ),
        "eu-west-1": Traffic(label("eu-west-1"), 600, peak_hour=20, seed=seed + 1, start_epoch=start),
        "ap-southeast-1": Traffic(
            label("ap-southeast-1"), 2000, peak_hour=13, seed=seed + 2, start_epoch=start
        ),
        # Not a prod region: a region that has served five days only.
        "us-west-2": Traffic(
            label("us-west-2"), 300, peak_hour=4, seed=seed + 3, start_epoch=end - SHORT_DAYS * DAY
        ),
    }
    return regions, spike, gap, reset


@pytest.fixture(scope="session")
def history(tmp_path_factory: pytest.TempPathFactory) -> Iterator[History]:
    end = time.time() // 60 * 60
    start = end - HISTORY_DAYS * DAY
    regions, spike, gap, reset = prod_traffic(start, end)
    long = [t for r, t in regions.items() if r != "us-west-2"]
    spans = [(long, start, end), ([regions["us-west-2"]], end - SHORT_DAYS * DAY, end)]
    with history_prometheus(tmp_path_factory.mktemp("history"), spans, HISTORY_DAYS + 2) as url:
        yield History(url, start, end, regions, spike, gap, reset)


@pytest.fixture(scope="session")
def pushgateway() -> Iterator[str]:
    port = free_port()
    proc = subprocess.Popen(
        [
            require_binary("prometheus-pushgateway", "prometheus-pushgateway"),
            f"--web.listen-address={LOOPBACK}:{port}",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"http://{LOOPBACK}:{port}"
    try:
        wait_until(
            lambda: urllib.request.urlopen(f"{url}/-/ready", timeout=1).status == 200, 15, "pushgateway"
        )
        yield url
    finally:
        proc.kill()
        proc.wait()


@dataclass
class Cluster:
    """A stand-in API server with the gateway's objects, proxying to the history and the Pushgateway."""

    kube: FakeKubeApi
    pushgateway: str

    def hpa(self, color: str = "blue", namespace: str = "streamgate") -> dict[str, Any]:
        path = f"/apis/autoscaling/v2/namespaces/{namespace}/horizontalpodautoscalers/gateway-{color}"
        return self.kube.objects[path]

    def kubeconfig(self, path: Path) -> Path:
        path.write_text(json.dumps(self.kube.kubeconfig("test")))
        return path


@pytest.fixture
def cluster(history: History, pushgateway: str) -> Iterator[Cluster]:
    """A fresh API server per test: HPAs at minReplicas 3 (of 60), nothing patched yet."""
    kube = FakeKubeApi(objects=gateway_objects())
    kube.proxies = {
        ("monitoring", PROMETHEUS_SERVICE): history.url,
        ("monitoring", PUSHGATEWAY_SERVICE): pushgateway,
    }
    with kube.serving():
        yield Cluster(kube, pushgateway)


def outputs_for(plan_outputs: dict[str, Any], kube: FakeKubeApi, path: Path) -> Path:
    """The plan's stack outputs, each region's kubeconfig pointing at `kube`."""
    outputs = copy.deepcopy(plan_outputs)
    for name, region in outputs["regions"].items():
        region["kubeconfig"] = json.dumps(kube.kubeconfig(name))
    path.write_text(json.dumps(outputs))
    return path
