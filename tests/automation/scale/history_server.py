"""A real Prometheus whose data directory holds synthetic history: blocks written by promtool from the
gateway's counters in OpenMetrics, loaded when Prometheus starts. The tests' fixture and
tests/benchmarks/bench_forecast.py start it."""

from __future__ import annotations

import contextlib
from collections.abc import Iterable, Iterator
from pathlib import Path

from infra.automation.scale.synthetic import Traffic, history_blocks, install_blocks
from tests.automation.conftest import prometheus


@contextlib.contextmanager
def history_prometheus(
    workdir: Path, spans: Iterable[tuple[list[Traffic], float, float]], retention_days: int = 60
) -> Iterator[str]:
    """Prometheus on a free loopback port holding each (regions, start, end) span (the last ending
    now); yields its URL."""
    for regions, start, end in spans:
        with history_blocks(regions, start, end) as blocks:
            install_blocks(blocks, workdir / "data")
    retention = [f"--storage.tsdb.retention.time={retention_days}d"]
    with prometheus(workdir, "", "count(streamgate_http_requests_total)", retention) as running:
        yield running.url
