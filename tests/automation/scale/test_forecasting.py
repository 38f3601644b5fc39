"""The pure parts of predictive scaling: hourly aggregation, repair, the rolling-origin backtest and model
choice, the conformal interval, capacity and the floor decision."""

from __future__ import annotations

import math

import numpy as np
import pytest

from infra.automation.scale.capacity import lead_seconds, plan, pod_capacity, replicas_for
from infra.automation.scale.decide import decide
from infra.automation.scale.forecasting import (
    HOLT_WINTERS_DAILY,
    HOLT_WINTERS_WEEKLY,
    SEASONAL_MEAN,
    SEASONAL_NAIVE,
    WEEK_HOURS,
    _quantile,
    forecast_region,
    mape,
    repair,
    to_log,
)
from infra.automation.scale.model import HOUR, Action, Forecast, KnobState, Series
from infra.automation.scale.synthetic import DAY, Event, Traffic
from infra.config import load_stack

START = 1_790_000_000 // WEEK_HOURS // HOUR * WEEK_HOURS * HOUR  # a whole number of weeks since the epoch


def hourly_truth(traffic: Traffic, days: int) -> Series:
    minutes = START + 60 * np.arange(days * 1440, dtype=np.float64)
    return Series(START, HOUR, traffic.rate(minutes).reshape(-1, 60).mean(axis=1))


def test_hourly_means_need_half_of_an_hours_points() -> None:
    values = np.arange(36, dtype=np.float64)  # three hours of 5-minute points
    values[12:19] = np.nan  # 7 of hour two's 12 points missing: no data
    values[24:29] = np.nan  # 5 of hour three's missing: the mean of the other 7
    hourly = Series(START, 300, values).hourly()
    assert hourly.start == START and hourly.step == HOUR
    assert hourly.values[0] == pytest.approx(5.5) and math.isnan(hourly.values[1])
    assert hourly.values[2] == pytest.approx(np.mean(np.arange(29, 36)))
    # A grid that starts mid-hour drops the partial hour instead of averaging part of it.
    assert Series(START - 600, 300, np.ones(14)).hourly().start == START


def test_repair_fills_gaps_and_replaces_a_spike_but_keeps_ordinary_hours() -> None:
    truth = hourly_truth(Traffic("r", 500, noise=0.02, weekly_growth=0.0, start_epoch=START), 21)
    observed = truth.values.copy()
    observed[200:203] = np.nan  # a scrape outage
    observed[300:303] *= 3  # a live event
    eps = 1.0
    fixed = repair(to_log(observed, eps), START // HOUR)
    assert fixed.filled == 3 and fixed.cleaned >= 3
    back = np.exp(fixed.values) - eps
    assert np.all(np.abs(back[200:203] / truth.values[200:203] - 1) < 0.1)  # filled near the truth
    assert np.all(np.abs(back[300:303] / truth.values[300:303] - 1) < 0.1)  # the spike is gone
    ordinary = np.ones(len(back), dtype=bool)
    ordinary[[*range(200, 203), *range(300, 303)]] = False
    assert np.mean(np.isclose(back[ordinary], observed[ordinary], rtol=1e-9)) > 0.97  # the rest as it was
    # The baseline sees the spike as it was: only gaps are filled.
    raw = repair(to_log(observed, eps), START // HOUR, clean=False)
    assert raw.cleaned == 0 and np.allclose(np.exp(raw.values[300:303]) - eps, observed[300:303])


def test_holt_winters_beats_the_seasonal_naive_baseline_on_a_trending_seasonal_series() -> None:
    event = Event(START + 17 * DAY + 20 * HOUR, 3 * HOUR, 2.5)
    traffic = Traffic("r", 800, events=(event,), seed=5, start_epoch=START)
    series = hourly_truth(traffic, 28)
    history = Series(START, HOUR, series.values[: 27 * 24])
    holt_winters = (SEASONAL_NAIVE, HOLT_WINTERS_WEEKLY, HOLT_WINTERS_DAILY)
    forecast = forecast_region(
        "r", history, horizon_hours=48, backtest_days=7, coverage=0.95, models=holt_winters
    )
    scores = {c.model: c.mape for c in forecast.candidates}
    assert forecast.model.startswith("holt-winters") and all(c.origins == 7 for c in forecast.candidates)
    baseline, chosen = scores["seasonal-naive"], scores[forecast.model]
    assert baseline is not None and chosen is not None and chosen < 0.8 * baseline
    assert forecast.start == history.end and len(forecast.mean) == 48
    assert np.all(forecast.lower <= forecast.mean) and np.all(forecast.mean <= forecast.upper)
    # The next day, which no model saw: within 10 % on average.
    actual = series.values[27 * 24 :]
    error = mape(actual, forecast.mean[:24])
    assert error is not None and error < 0.10
    assert forecast.recent_mape is not None and forecast.recent_mape < 0.10
    assert forecast.repaired_hours >= 3  # the event was cleaned before fitting


def test_every_model_is_backtested_and_the_best_non_baseline_one_forecasts() -> None:
    traffic = Traffic("r", 800, seed=7, start_epoch=START)
    history = Series(START, HOUR, hourly_truth(traffic, 27).values)
    forecast = forecast_region("r", history, horizon_hours=48, backtest_days=7, coverage=0.95)
    scores = {c.model: c.mape for c in forecast.candidates}
    assert set(scores) == {"seasonal-naive", "holt-winters-weekly", "seasonal-mean"}  # daily: not needed
    contenders = {m: v for m, v in scores.items() if m != "seasonal-naive"}
    assert all(v is not None for v in scores.values())
    assert forecast.model == min(contenders, key=lambda m: contenders[m] or math.inf)


def test_the_seasonal_mean_averages_weeks_and_carries_the_trend() -> None:
    rng = np.random.default_rng(3)
    shape = rng.normal(0, 1, WEEK_HOURS)
    growth = 0.03  # log units a week
    history = np.concatenate([shape + growth * week for week in range(4)])
    predicted, _ = SEASONAL_MEAN.predict(history, 48, None)
    assert np.allclose(predicted, shape[:48] + growth * 4)  # exact without noise
    # With noise, the mean of four weeks errs less than last week alone (the baseline).
    noise = rng.normal(0, 0.1, (30, 5 * WEEK_HOURS))
    errors = {"mean": [], "naive": []}
    for trial in noise:
        noisy = np.concatenate([shape + growth * week for week in range(5)]) + trial
        truth = shape[:48] + growth * 4
        errors["mean"].append(np.abs(SEASONAL_MEAN.predict(noisy[:-WEEK_HOURS], 48, None)[0] - truth).mean())
        errors["naive"].append(
            np.abs(SEASONAL_NAIVE.predict(noisy[:-WEEK_HOURS], 48, None)[0] - truth).mean()
        )
    assert np.mean(errors["mean"]) < 0.75 * np.mean(errors["naive"])


def test_the_seasonal_naive_baseline_repeats_last_week() -> None:
    week = np.arange(WEEK_HOURS, dtype=np.float64)
    history = np.concatenate([week + 1000, week])
    assert np.array_equal(SEASONAL_NAIVE.predict(history, 200, None)[0], np.concatenate([week, week[:32]]))


def test_interval_quantiles_are_conformal_ranks() -> None:
    errors = [float(i) for i in range(1, 20)]  # 19 errors: the 95 % upper bound is the 19th (the largest)
    assert _quantile(errors, 0.975) == 19.0 and _quantile(errors, 0.025) == 1.0
    assert _quantile(errors, 0.5) == 10.0


def test_pod_capacity_is_the_lower_of_the_hpas_two_targets() -> None:
    prod = pod_capacity(load_stack("prod"))
    cpu_rps = 0.5 * 0.65 / (load_stack("prod").scale.cpu_microseconds_per_request * 1e-6)
    # 500m x 65 % over the benchmarked CPU per request, against the HPA's 250 req/s target: the HPA's binds.
    assert cpu_rps > 2000 and prod.cpu_rps == pytest.approx(cpu_rps)
    assert prod.hpa_rps == 250 and prod.rps == 250 and prod.basis == "autoscaling.requestsPerSecondPerPod"
    cfg = load_stack("prod").model_copy(
        update={
            "autoscaling": load_stack("prod").autoscaling.model_copy(
                update={"requests_per_second_per_pod": None}
            )
        }
    )
    assert pod_capacity(cfg).rps == pytest.approx(cpu_rps)
    assert replicas_for(np.array([0.0, 250.0, 251.0, 1e9, np.nan]), 250.0, 3, 60).tolist() == [3, 3, 3, 60, 3]
    assert replicas_for(np.array([1000.0, 1001.0]), 250.0, 1, 60).tolist() == [4, 5]


def test_the_floor_covers_every_hour_until_the_next_runs_pods_serve() -> None:
    cfg = load_stack("prod")
    hours = 6
    upper = np.array([500.0, 500.0, 2000.0, 500.0, 9000.0, 500.0])
    forecast = Forecast("us-east-1", "m", START, upper, upper, upper, 0.95, (), 0.05, 0, 700)
    lead = lead_seconds(cfg)
    assert lead == 180 + 15 * 60
    # Early in hour 0: the window ends in hour 0.
    assert plan(cfg, forecast, START + 60).floor_now == 3
    # 15 minutes before hour 2, whose demand needs 8 pods: already raised (start-up + next run).
    assert plan(cfg, forecast, START + 2 * HOUR - 900).floor_now == 8
    assert plan(cfg, forecast, START + 2 * HOUR - lead - 1).floor_now == 3
    # Inside hour 3 near its end: hour 4's 36 pods are within reach.
    assert plan(cfg, forecast, START + 4 * HOUR - 60).floor_now == 36
    assert len(plan(cfg, forecast, START).replicas) == hours


STATE_OURS = KnobState(5, True, "ours")
STATE_FOREIGN = KnobState(10, False, "someone else")


@pytest.mark.parametrize(
    ("planned", "state", "mape", "reactive", "needed", "action", "target", "predictive"),
    [
        (8, STATE_OURS, 0.05, True, None, Action.RAISE, 8, True),  # ahead of demand
        (3, STATE_OURS, 0.05, True, None, Action.LOWER, 3, True),  # the forecast fell: back down
        (5, STATE_OURS, 0.05, True, None, Action.HOLD, 5, True),
        (3, STATE_FOREIGN, 0.05, True, None, Action.HOLD, 10, True),  # failover's floor: left alone
        (12, STATE_FOREIGN, 0.05, True, None, Action.RAISE, 12, True),  # raising over it is fine
        (8, STATE_OURS, 0.40, True, None, Action.LOWER, 3, False),  # degraded: reactive only
        (8, STATE_OURS, None, True, None, Action.LOWER, 3, False),  # no measurable error: same
        (99, KnobState(3, False, "x"), 0.05, True, None, Action.RAISE, 60, True),  # within maxReplicas
        (1, KnobState(2, True, "x"), 0.05, False, 2, Action.HOLD, 2, True),  # no HPA: load needs 2
        (1, KnobState(2, True, "x"), 0.05, False, 1, Action.LOWER, 1, True),
    ],
)
def test_decide(
    planned: int,
    state: KnobState,
    mape: float | None,
    reactive: bool,
    needed: int | None,
    action: Action,
    target: int,
    predictive: bool,
) -> None:
    minimum = 1 if not reactive else 3
    d = decide(
        "r",
        planned,
        minimum,
        60,
        state,
        recent_mape=mape,
        max_recent_mape=0.25,
        reactive=reactive,
        needed_now=needed,
    )
    assert (d.action, d.target, d.predictive) == (action, target, predictive), d.reason
    if not predictive:
        assert "back to reactive scaling" in d.reason or "no forecast error" in d.reason


def test_a_short_history_is_forecast_with_the_daily_season() -> None:
    """Sixteen days: too few origins to backtest a weekly season (it needs two weeks before each)."""
    series = hourly_truth(Traffic("r", 800, seed=9, start_epoch=START), 16)
    forecast = forecast_region("r", series, horizon_hours=48, backtest_days=7, coverage=0.95)
    origins = {c.model: c.origins for c in forecast.candidates}
    assert forecast.model == "holt-winters-daily" and origins["holt-winters-weekly"] < 3
    assert forecast.recent_mape is not None and len(forecast.upper) == 48
