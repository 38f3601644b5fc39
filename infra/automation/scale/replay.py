"""`streamgate scale replay`: give the local platform's Prometheus weeks of synthetic history that end now,
so predictive scaling runs end to end on one machine (a freshly started platform has minutes of data).

The history's daily peak (a sharp prime-time peak) is placed `peak_in_hours` from now: a replay with the
peak ahead shows `scale apply` adding gateway processes before it arrives; one with the peak behind shows
it taking them away. Each replay first deletes the previous one's series (Prometheus' admin API; every
synthetic series carries `instance="synthetic-..."`), then loads its blocks (promtool) and restarts
Prometheus so it reads them.
"""

from __future__ import annotations

import json
import time
import urllib.parse
from dataclasses import dataclass, replace
from typing import Any

import numpy as np

from infra.automation.scale.capacity import pod_capacity
from infra.automation.scale.synthetic import DAY, SYNTHETIC_INSTANCE, Traffic, history_blocks, install_blocks
from infra.config import StackConfig
from infra.local.errors import LocalPlatformError
from infra.local.gateway import request
from infra.local.platform import LocalPlatform

PROGRAM = "prometheus"
PEAK_WIDTH_HOURS = 1.5  # prime time: demand doubles within the two hours before the peak
NOISE = 0.03


@dataclass(frozen=True)
class Replay:
    start: float
    end: float
    peak_hour: float  # UTC
    peak_rps: dict[str, float]
    blocks: list[str]
    seconds: float

    def to_json(self) -> dict[str, Any]:
        return {
            "start": self.start,
            "end": self.end,
            "peak_hour_utc": round(self.peak_hour, 2),
            "peak_requests_per_second": {r: round(v, 1) for r, v in self.peak_rps.items()},
            "blocks": self.blocks,
            "seconds": round(self.seconds, 1),
        }


def traffic(
    cfg: StackConfig, regions: list[str], *, peak_in_hours: float, peak_pods: float, now: float, days: int
) -> list[Traffic]:
    """Each region's demand: the first region's peak today needs `peak_pods` pods at the HPA's targets,
    every other region's 40 % of that (below one pod)."""
    start = now - days * DAY
    peak_at = now + peak_in_hours * 3600
    capacity = pod_capacity(cfg).rps
    out = []
    for i, region in enumerate(regions):
        unit = Traffic(
            region,
            1.0,
            peak_hour=(peak_at % DAY) / 3600,
            peak_width_hours=PEAK_WIDTH_HOURS,
            noise=0.0,
            start_epoch=start,
            seed=i + 1,
        )
        level = float(unit.rate(np.array([peak_at], dtype=np.float64))[0])
        wanted = peak_pods * capacity * (1.0 if i == 0 else 0.4)
        out.append(replace(unit, mean_rps=wanted / level, noise=NOISE))
    return out


def replay(
    platform: LocalPlatform, *, peak_in_hours: float, peak_pods: float, days: int, now: float | None = None
) -> Replay:
    started = time.monotonic()
    now = time.time() if now is None else now
    end = now // 60 * 60
    regions = traffic(
        platform.cfg,
        platform.layout.region_names,
        peak_in_hours=peak_in_hours,
        peak_pods=peak_pods,
        now=end,
        days=days,
    )
    if not platform.running():
        raise LocalPlatformError("the local platform is not running: `streamgate local up` first")
    delete_synthetic(platform)
    data = platform.paths.data / "prometheus"
    with history_blocks(regions, end - days * DAY, end) as blocks:
        platform.supervisor.stop_process(PROGRAM)
        try:
            ids = install_blocks(blocks, data)
        finally:
            platform.supervisor.start_process(PROGRAM, wait=False)
    platform.wait_healthy([PROGRAM])
    _wait_scraping(platform)
    return Replay(
        end - days * DAY,
        end,
        regions[0].peak_hour,
        {t.region: float(t.rate(np.array([end + peak_in_hours * 3600]))[0]) for t in regions},
        ids,
        time.monotonic() - started,
    )


def _wait_scraping(platform: LocalPlatform, timeout: float = 30.0) -> None:
    """Return once the restarted Prometheus has scraped every target. A restart writes no staleness
    markers, so a target removed before its first scrape after one (a gateway process `scale apply`
    stops) would keep its last `up` for the 5 min lookback."""
    url = f"{platform.layout.prometheus_url}/api/v1/targets?state=active"
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        status, body = request("GET", url)
        targets = json.loads(body)["data"]["activeTargets"] if status == 200 else []
        if targets and all(t["health"] != "unknown" for t in targets):
            return
        time.sleep(0.5)
    raise LocalPlatformError(f"Prometheus has not scraped every target {timeout:.0f}s after its restart")


def delete_synthetic(platform: LocalPlatform) -> None:
    """Drop every synthetic series (earlier replays) with the TSDB admin API, tombstones included."""
    base = f"{platform.layout.prometheus_url}/api/v1/admin/tsdb"
    match = urllib.parse.urlencode({"match[]": f'{{instance=~"{SYNTHETIC_INSTANCE}-.*"}}'})
    for url in (f"{base}/delete_series?{match}", f"{base}/clean_tombstones"):
        status, body = request("POST", url, b"")
        if status != 204:
            detail = json.loads(body).get("error", body[:200]) if body.startswith(b"{") else body[:200]
            raise LocalPlatformError(f"Prometheus refused {url.split('?')[0]}: HTTP {status}: {detail!r}")
