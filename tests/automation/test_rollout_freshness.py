"""Rollout analysis trusts fresh data only, against a real Prometheus scraping a stable and a canary target:
when the canary's target vanishes (removed from the config, or its process dies), the window still holds
its old samples and the checks alone would keep passing; the freshness step makes the tick "no data"."""

from __future__ import annotations

import asyncio
import contextlib
import signal
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from infra.automation.adapters.prometheus import PrometheusMetrics
from infra.automation.rollout.analysis import (
    LATENCY_P99,
    TARGETS_CHECK,
    CheckSpec,
    Freshness,
    Target,
    analyze,
    checks_from,
    series_selectors,
)
from infra.automation.rollout.judge import JudgeSettings
from infra.automation.rollout.model import Outcome
from infra.config import RolloutConfig
from tests.automation.conftest import RunningPrometheus, Side, exporter, prometheus
from tests.servers import LOOPBACK

WINDOW = 30  # long enough that samples from before a removal stay in every range query
CFG = RolloutConfig(min_success_rate=0.95, max_p99_latency_seconds=0.3, analysis_window_seconds=WINDOW)
TARGET = Target("t", "local-a", "v2", "green", "v1", "blue", window_seconds=WINDOW)
FRESH = Freshness(scrape_interval_seconds=1, expected_targets=1)
JUDGE = JudgeSettings(min_samples=10)


def _job(port: int, color: str) -> str:
    return f"      - targets: ['{LOOPBACK}:{port}']\n        labels: {{region: local-a, color: {color}}}\n"


def _scrape(targets: str) -> str:
    # As the local platform's scrape config: the gateways' own labels win, targets carry color and region.
    return f"  - job_name: streamgate-gateway\n    honor_labels: true\n    static_configs:\n{targets}"


@dataclass
class Canary:
    prometheus: RunningPrometheus
    stable_port: int
    canary_port: int
    stop_canary: contextlib.ExitStack

    def remove_from_config(self) -> None:
        self.prometheus.config.write_text(
            self.prometheus.config.read_text().replace(_job(self.canary_port, "green"), "")
        )
        self.prometheus.proc.send_signal(signal.SIGHUP)  # Prometheus reloads its config


@pytest.fixture
def canary(tmp_path: Path) -> Iterator[Canary]:
    with contextlib.ExitStack() as stack:
        stable = stack.enter_context(exporter([Side("v1", "blue", 40, 0.0, 0.004)]))
        stop_canary = contextlib.ExitStack()
        stack.enter_context(stop_canary)
        port = stop_canary.enter_context(exporter([Side("v2", "green", 40, 0.0, 0.004)]))
        running = stack.enter_context(
            prometheus(
                tmp_path,
                _scrape(_job(stable, "blue") + _job(port, "green")),
                'count(up{color="green"} == 1) and count(up{color="blue"} == 1)',
            )
        )
        time.sleep(4)  # a few scrapes of both, so every rate() has samples
        yield Canary(running, stable, port, stop_canary)


async def _settle(metrics: PrometheusMetrics, what: str) -> None:
    """Wait until Prometheus no longer reports the canary's target as up (staleness takes ~2 scrapes)."""
    deadline = time.monotonic() + 15
    while await metrics.query('count(up{color="green"} == 1)', datetime.now(UTC)):
        assert time.monotonic() < deadline, f"{what}: the canary target stays up"
        await asyncio.sleep(0.5)


async def test_fresh_canary_passes_with_its_targets_counted(canary: Canary) -> None:
    metrics = PrometheusMetrics(canary.prometheus.url)
    analysis = await analyze(metrics, checks_from(CFG), TARGET, JUDGE, freshness=FRESH)
    by_name = {c.name: c for c in analysis.checks}
    assert by_name[TARGETS_CHECK].outcome is Outcome.PASS and by_name[TARGETS_CHECK].value == 1
    assert analysis.outcome is Outcome.PASS, analysis.failing()
    # Expecting two canary targets while one is up: not all of the canary is measured, so no data.
    two = await analyze(metrics, checks_from(CFG), TARGET, JUDGE, freshness=Freshness(1, 2))
    assert two.outcome is Outcome.FAIL
    assert {c.name for c in two.checks if c.outcome is Outcome.FAIL} == {c.name for c in two.checks}
    assert "1 of 2 green target(s) up" in {c.name: c for c in two.checks}[TARGETS_CHECK].detail


@pytest.mark.parametrize("how", ["removed from the config", "process died"])
async def test_a_vanished_canary_target_is_no_data(canary: Canary, how: str) -> None:
    metrics = PrometheusMetrics(canary.prometheus.url)
    if how == "removed from the config":
        canary.remove_from_config()
    else:
        canary.stop_canary.close()
    await _settle(metrics, how)
    # The hazard: every range query still finds the canary's samples from before it vanished.
    unchecked = await analyze(metrics, checks_from(CFG), TARGET, JUDGE)
    assert unchecked.outcome is Outcome.PASS, unchecked.failing()
    analysis = await analyze(metrics, checks_from(CFG), TARGET, JUDGE, freshness=FRESH)
    assert analysis.outcome is Outcome.FAIL
    for check in analysis.checks:
        assert check.outcome is Outcome.FAIL and check.detail.startswith("no data"), check
    assert "0 of 1 green target(s) up" in {c.name: c for c in analysis.checks}[TARGETS_CHECK].detail


async def test_samples_older_than_two_scrapes_are_stale(canary: Canary) -> None:
    """Seen from a moment 5 s after the newest scrape, every series is 5 scrape intervals old: no data,
    although Prometheus' 5-minute lookback still returns the samples."""
    metrics = PrometheusMetrics(canary.prometheus.url)
    later = datetime.now(UTC) + timedelta(seconds=5)
    judged = [CheckSpec("p99-series", LATENCY_P99, max=10.0, judge=True)]
    analysis = await analyze(metrics, judged, TARGET, JUDGE, at=later, freshness=Freshness(1, 0))
    by_name = {c.name: c for c in analysis.checks}
    assert by_name[TARGETS_CHECK].outcome is Outcome.PASS  # none expected
    for name in ("p99-series", "judge"):
        assert by_name[name].outcome is Outcome.FAIL, by_name[name]
        assert "old (max 2s)" in by_name[name].detail, by_name[name].detail
    # The same instant with a slow scrape interval (4 s: max age 8 s) is fresh again.
    relaxed = await analyze(metrics, judged, TARGET, JUDGE, at=later, freshness=Freshness(4, 0))
    assert {c.name: c.outcome for c in relaxed.checks}["p99-series"] is Outcome.PASS


def test_series_selectors_are_found_in_rendered_queries() -> None:
    query = 'sum(rate(a_total{x="}{", y=~"a|b"}[1m])) / sum(b{z="1"}) + on() c:rec{} * vector(1)'
    assert series_selectors(query) == ['a_total{x="}{", y=~"a|b"}', 'b{z="1"}', "c:rec{}"]
    assert series_selectors("vector(1) * 0") == []
