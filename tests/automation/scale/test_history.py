"""History from a real Prometheus loaded with four weeks of synthetic traffic: the grid is aligned to the
step, a scrape gap stays "no data" (never zero), a counter reset is absorbed by rate(), and a region with
no or too little history is refused by name."""

from __future__ import annotations

import numpy as np
import pytest

from infra.automation.adapters.prometheus import PrometheusMetrics
from infra.automation.errors import MetricsError
from infra.automation.scale.errors import HistoryError
from infra.automation.scale.history import read_history
from infra.automation.scale.synthetic import SAMPLE_SECONDS
from infra.config import load_stack
from tests.automation.conftest import unused_url
from tests.automation.scale.conftest import HOUR, History

STEP = 300


def true_hourly(history: History, region: str, start: int, hours: int) -> np.ndarray:
    """The demand the synthetic series were written from, averaged per hour (same minutes, same noise)."""
    traffic = history.traffic[region]
    minutes = np.arange(int(history.start) // SAMPLE_SECONDS * SAMPLE_SECONDS, history.end, SAMPLE_SECONDS)
    rates = traffic.rate(minutes.astype(np.float64))
    out = []
    for h in range(hours):
        t0 = start + h * HOUR
        out.append(rates[(minutes >= t0) & (minutes < t0 + HOUR)].mean())
    return np.array(out)


async def test_the_grid_is_step_aligned_and_a_scrape_gap_is_no_data(history: History) -> None:
    cfg = load_stack("prod")
    got = await read_history(PrometheusMetrics(history.url), cfg, "us-east-1", history.end + 17)
    requests = got.requests
    assert requests.step == STEP and requests.start % STEP == 0 and requests.end % STEP == 0
    assert requests.end == (history.end + 17) // STEP * STEP
    assert len(requests.values) == cfg.scale.history_days * 86400 // STEP
    times = requests.times()
    # Steps whose whole rate window lies in the gap have no data: NaN, not 0.
    inside = (times >= history.gap[0]) & (times + STEP <= history.gap[1])
    assert inside.sum() >= 20 and np.isnan(requests.values[inside]).all()
    # Everywhere else (after the first step) there is data.
    outside = ~((times + STEP > history.gap[0]) & (times < history.gap[1] + STEP))
    outside[0] = False
    assert np.isfinite(requests.values[outside]).mean() > 0.995
    hourly = requests.hourly()
    within = (hourly.times() >= history.gap[0]) & (hourly.times() + HOUR <= history.gap[1])
    assert within.sum() >= 1 and np.isnan(hourly.values[within]).all()  # an hour without data: no data
    # CPU per pod comes along on the same grid.
    assert got.cpu_per_pod.start == requests.start and np.nanmean(got.cpu_per_pod.values) > 0


async def test_rates_follow_the_true_demand_across_a_counter_reset(history: History) -> None:
    got = await read_history(PrometheusMetrics(history.url), load_stack("prod"), "us-east-1", history.end)
    hourly = got.requests.hourly()
    reset_hour = int(history.reset // HOUR * HOUR)
    first = int(np.flatnonzero(hourly.times() == reset_hour - 3 * HOUR)[0])
    measured = hourly.values[first : first + 7]
    truth = true_hourly(history, "us-east-1", reset_hour - 3 * HOUR, 7)
    # A counter that dropped to 0 is a restart to rate(), not a negative or huge rate.
    assert np.all(np.abs(measured / truth - 1) < 0.02), (measured, truth)
    # The same holds over a whole ordinary day.
    day = hourly.values[-48:-24]
    assert np.all(np.abs(day / true_hourly(history, "us-east-1", int(hourly.times()[-48]), 24) - 1) < 0.02)


async def test_no_history_and_too_little_history_are_refused_by_region(history: History) -> None:
    cfg = load_stack("prod")
    metrics = PrometheusMetrics(history.url)
    with pytest.raises(HistoryError) as short:
        await read_history(metrics, cfg, "us-west-2", history.end)
    assert "us-west-2: 5.0 days of request history, scale.minHistoryDays needs 14" in str(short.value)
    assert short.value.exit_code == 2
    with pytest.raises(HistoryError) as none:
        await read_history(metrics, cfg, "ca-central-1", history.end)
    assert str(none.value).startswith("ca-central-1: no request history in Prometheus over the last 28 days")


async def test_prometheus_down_is_a_failure_not_no_data() -> None:
    with pytest.raises(MetricsError) as err:
        await read_history(PrometheusMetrics(unused_url(), 1.0), load_stack("prod"), "us-east-1", 1.8e9)
    assert "connection refused or unreachable" in str(err.value) and err.value.exit_code == 1
