"""Synthetic gateway traffic with the shape of a streaming service, written as the gateway's own counters in
OpenMetrics and loaded into a real Prometheus as history (`promtool tsdb create-blocks-from openmetrics`).

Per region: a daily cycle (evening peak, afternoon shoulder, night trough), weekends busier, a growth
trend, autocorrelated noise, and optionally a one-off spike (a live event), a scrape gap and a counter
reset (a restarted pod). Backtests (tests, tests/benchmarks/bench_forecast.py) and `streamgate scale replay`
(the local platform) use it; it is never mistaken for real traffic: every series carries
`instance="synthetic-..."`.
"""

from __future__ import annotations

import contextlib
import shutil
import subprocess
import tempfile
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TextIO

import numpy as np

from infra.automation.rollout.analysis import GATEWAY_JOB
from infra.automation.scale.model import HOUR, Array

DAY = 86400
SAMPLE_SECONDS = 60  # as a scrape would: rate() over a 5-minute step sees five samples
SYNTHETIC_INSTANCE = "synthetic"
ROUTE = "/v1/content/{id}/{rendition}/{segment}"
# Blocks of a week: promtool's default (2 h) makes hundreds of blocks and takes minutes to write.
BLOCK_DURATION = "168h"


@dataclass(frozen=True)
class Event:
    """A one-off change of demand over [start, start + seconds): `factor` x (a spike above 1, a dip below)."""

    start: float
    seconds: float
    factor: float


@dataclass(frozen=True)
class Traffic:
    """One region's demand (req/s): `mean_rps` is the weekday daily mean at the start of the history."""

    region: str
    mean_rps: float
    peak_hour: float = 20.0  # UTC hour of the evening peak
    peak_width_hours: float = 3.5
    weekend_factor: float = 1.25
    weekly_growth: float = 0.025  # trend: +2.5 % a week
    noise: float = 0.04  # standard deviation of the multiplicative noise
    noise_minutes: float = 45.0  # its correlation time
    events: tuple[Event, ...] = ()
    seed: int = 1
    pods: int = 1
    cpu_us_per_request: float = 146.3  # scale.cpuMicrosecondsPerRequest, as benchmarked
    # Scrape outages ([start, end) without samples) and pod restarts (the counter starts again at 0).
    gaps: tuple[tuple[float, float], ...] = ()
    resets: tuple[float, ...] = ()
    start_epoch: float = field(default=0.0, compare=False)  # where `weekly_growth` starts counting

    def _raw_shape(self, hours: Array) -> Array:
        def bump(centre: float, width: float) -> Array:
            distance = (hours - centre + 12) % 24 - 12  # circular: 23:00 is an hour from midnight
            return np.asarray(np.exp(-((distance / width) ** 2)), dtype=np.float64)

        return 0.35 + 0.9 * bump(self.peak_hour, self.peak_width_hours) + 0.3 * bump(self.peak_hour - 7, 3.0)

    def daily_shape(self, hours: Array) -> Array:
        """Mean 1 over a day: night trough, an afternoon shoulder, the evening peak."""
        mean = float(np.mean(self._raw_shape(np.arange(0, 24, 0.05))))
        return self._raw_shape(hours) / mean

    def rate(self, times: Array) -> Array:
        """True demand at `times` (epoch seconds), noise included."""
        hours = (times % DAY) / HOUR
        weekday = ((times // DAY) + 3) % 7  # epoch day 0 was a Thursday; Monday = 0
        weekly = np.where(weekday >= 5, self.weekend_factor, 1.0)
        trend = (1 + self.weekly_growth) ** ((times - self.start_epoch) / (7 * DAY))
        rate = self.mean_rps * self.daily_shape(hours) * weekly * trend * (1 + self._noise(times))
        for event in self.events:
            rate = np.where(
                (times >= event.start) & (times < event.start + event.seconds), rate * event.factor, rate
            )
        return np.asarray(np.maximum(rate, 0.0), dtype=np.float64)

    def _noise(self, times: Array) -> Array:
        """AR(1) noise with the given standard deviation and correlation time (independent of the grid's
        start, so two reads of overlapping times agree)."""
        if not len(times):
            return np.zeros(0)
        step = float(times[1] - times[0]) if len(times) > 1 else SAMPLE_SECONDS
        phi = float(np.exp(-step / (self.noise_minutes * 60)))
        rng = np.random.default_rng(self.seed)
        shocks = rng.normal(0.0, self.noise * np.sqrt(1 - phi**2), len(times))
        from scipy.signal import lfilter

        return np.asarray(lfilter([1.0], [1.0, -phi], shocks), dtype=np.float64)


def series_labels(traffic: Traffic, pod: int, **extra: str) -> str:
    labels = {
        "job": GATEWAY_JOB,
        "instance": f"{SYNTHETIC_INSTANCE}-{traffic.region}-{pod}",
        "region": traffic.region,
        "color": "blue",
        "version": "synthetic",
        **extra,
    }
    return ",".join(f'{k}="{v}"' for k, v in labels.items())


def write_openmetrics(out: TextIO, regions: Iterable[Traffic], start: float, end: float) -> int:
    """The gateway's request and CPU counters for [start, end), one sample a minute per pod; returns the
    number of samples. Counters restart from 0 at a reset, and there are no samples in a gap."""
    regions = list(regions)
    times = np.arange(int(start) // SAMPLE_SECONDS * SAMPLE_SECONDS, end, SAMPLE_SECONDS, dtype=np.float64)
    written = 0
    counters = {}
    for traffic in regions:
        rate = traffic.rate(times)
        keep = np.ones(len(times), dtype=bool)
        for gap_start, gap_end in traffic.gaps:
            keep &= ~((times >= gap_start) & (times < gap_end))
        restart = np.zeros(len(times), dtype=bool)
        for reset in traffic.resets:
            restart |= (times >= reset) & (times < reset + SAMPLE_SECONDS)
        per_pod = rate / traffic.pods
        counters[traffic.region] = (keep, restart, per_pod)
    scrapes = np.full(len(times), 0.5 * SAMPLE_SECONDS)  # Prometheus' own scrapes: history ignores them
    for metric, help_text in (
        ("streamgate_http_requests", "HTTP requests (synthetic)"),
        ("process_cpu_seconds", "CPU time (synthetic)"),
    ):
        out.write(f"# HELP {metric} {help_text}\n# TYPE {metric} counter\n")
        for traffic in regions:
            keep, restart, per_pod = counters[traffic.region]
            if metric == "process_cpu_seconds":
                cpu = (per_pod * traffic.cpu_us_per_request * 1e-6 + 0.01) * SAMPLE_SECONDS
                series: list[tuple[dict[str, str], Array]] = [({}, cpu)]
            else:
                viewers = {"route": ROUTE, "method": "GET", "status_class": "2xx"}
                series = [(viewers, per_pod * SAMPLE_SECONDS), ({**viewers, "route": "/metrics"}, scrapes)]
            for pod in range(traffic.pods):
                for extra, increments in series:
                    name = f"{metric}_total{{{series_labels(traffic, pod, **extra)}}}"
                    written += _counter(out, name, times, increments, keep, restart)
    out.write("# EOF\n")
    return written


def _counter(out: TextIO, name: str, times: Array, increments: Array, keep: Array, restart: Array) -> int:
    # A counter restarts from the increment of its first sample after a reset.
    segment = np.cumsum(restart)
    totals = np.cumsum(increments)
    base = np.zeros(len(totals))
    if restart.any():
        starts = np.flatnonzero(restart)
        offsets = np.concatenate([[0.0], totals[starts] - increments[starts]])
        base = offsets[segment]
    values = (totals - base)[keep]
    stamps = times[keep].astype(np.int64)
    out.write("".join(f"{name} {v:.3f} {t}\n" for v, t in zip(values.tolist(), stamps.tolist(), strict=True)))
    return len(values)


def create_blocks(openmetrics: Path, out_dir: Path, promtool: str = "promtool") -> list[Path]:
    """TSDB blocks from an OpenMetrics file (in a fresh `out_dir`), ready to move into a Prometheus data
    directory; returns the block directories."""
    out_dir.mkdir(parents=True, exist_ok=True)
    result = subprocess.run(
        [
            promtool,
            "tsdb",
            "create-blocks-from",
            "openmetrics",
            f"--max-block-duration={BLOCK_DURATION}",
            str(openmetrics),
            str(out_dir),
        ],
        capture_output=True,
        text=True,
        timeout=600,
    )
    if result.returncode != 0:
        raise RuntimeError(f"promtool create-blocks-from openmetrics failed: {result.stderr.strip()[-500:]}")
    return sorted(p for p in out_dir.iterdir() if (p / "meta.json").is_file())


@contextlib.contextmanager
def history_blocks(
    regions: Iterable[Traffic], start: float, end: float, promtool: str = "promtool"
) -> Iterator[list[Path]]:
    """Blocks holding `regions`' synthetic history over [start, end), in a temporary directory."""
    with tempfile.TemporaryDirectory(prefix="streamgate-history-") as tmp:
        source = Path(tmp) / "history.om"
        with source.open("w") as out:
            write_openmetrics(out, regions, start, end)
        yield create_blocks(source, Path(tmp) / "blocks", promtool)


def install_blocks(blocks: Iterable[Path], data_dir: Path) -> list[str]:
    """Move blocks into a (stopped) Prometheus' data directory; returns their ids."""
    data_dir.mkdir(parents=True, exist_ok=True)
    ids = []
    for block in blocks:
        shutil.move(str(block), str(data_dir / block.name))
        ids.append(block.name)
    return ids
