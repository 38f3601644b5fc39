"""Benchmark: predictive scaling's forecasts, backtested against a real Prometheus loaded with history.

Four weeks of synthetic gateway traffic for the prod stack's three regions (daily and weekly seasonality,
a +2.5 %/week trend, autocorrelated noise, in us-east-1 a one-off 2.5x live event in week three, a two-hour
scrape gap and a pod restart) are written as the gateway's counters, turned into TSDB blocks by promtool
and read back through Prometheus' HTTP API at 5-minute steps, as `streamgate scale` reads a region.

1. Fit and forecast: the whole per-region pipeline (repair, rolling-origin backtest of every model, choice,
   interval, 48 h forecast) for the three regions on their four weeks, timed.
2. Backtest from the last seven days' origins: at each, the pipeline sees only the hours before it (its
   own internal backtest included) and forecasts the next day; against what Prometheus recorded then:
   day-ahead MAPE (hours 1-24) of the chosen model and of seasonal-naive (same hour last week), and the
   hours whose planned capacity (replicas from the upper bound x 250 req/s per pod, the prod HPA's target)
   falls below the hour's demand. Three realizations of the noise (`--quick`: one), nine region-weeks.

Floors: day-ahead MAPE <= 10 %, >= 20 % below seasonal-naive's; under-provisioned hours <= 5 %; fit and
forecast of 3 regions x 4 weeks < 10 s. The last line printed is one JSON object with every figure.

    .venv/bin/python tests/benchmarks/bench_forecast.py [--quick]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from infra.automation.adapters.prometheus import PrometheusMetrics
from infra.automation.scale.capacity import pod_capacity, replicas_for
from infra.automation.scale.forecasting import DAY_HOURS, SEASONAL_NAIVE, forecast_region, mape
from infra.automation.scale.history import read_history
from infra.automation.scale.model import HOUR, Series
from infra.automation.scale.synthetic import DAY
from infra.config import load_stack
from tests.automation.scale.conftest import HISTORY_DAYS, prod_traffic
from tests.automation.scale.history_server import history_prometheus

REGIONS = ("us-east-1", "eu-west-1", "ap-southeast-1")


def evaluate(cfg: Any, region: str, hourly: Series, origins: int, spike_hours: set[int]) -> dict[str, Any]:
    """Day-ahead errors and under-provisioned hours from the last `origins` daily origins."""
    capacity = pod_capacity(cfg).rps
    scale = cfg.scale
    values = hourly.values
    n = len(values)
    rows: list[dict[str, Any]] = []
    for k in range(origins, 0, -1):
        origin = n - DAY_HOURS * k
        seen = Series(hourly.start, HOUR, values[:origin])
        f = forecast_region(
            region,
            seen,
            horizon_hours=scale.horizon_hours,
            backtest_days=scale.backtest_days,
            coverage=scale.interval_coverage,
        )
        actual = values[origin : origin + DAY_HOURS]
        filled = np.where(np.isfinite(values[:origin]), values[:origin], np.nan)
        naive, _ = SEASONAL_NAIVE.predict(
            np.nan_to_num(filled, nan=float(np.nanmedian(filled))), DAY_HOURS, None
        )
        planned = replicas_for(
            f.upper[:DAY_HOURS], capacity, cfg.autoscaling.min_replicas, cfg.autoscaling.max_replicas
        )
        known = np.isfinite(actual)
        times = hourly.start + HOUR * np.arange(origin, origin + DAY_HOURS)
        rows.append(
            {
                "origin": origin,
                "model": f.model,
                "mape": mape(actual, f.mean[:DAY_HOURS]),
                "mape_h24": mape(actual[-1:], f.mean[DAY_HOURS - 1 : DAY_HOURS]),
                "naive_mape": mape(actual, naive),
                "spike_echo": bool(spike_hours & {int(t) - 7 * DAY for t in times}),
                "under": int(np.sum(planned[known] * capacity < actual[known])),
                "hours": int(known.sum()),
                "above_upper": int(np.sum(actual[known] > f.upper[:DAY_HOURS][known])),
                "covered": int(
                    np.sum(
                        (actual[known] >= f.lower[:DAY_HOURS][known])
                        & (actual[known] <= f.upper[:DAY_HOURS][known])
                    )
                ),
            }
        )
    return {"region": region, "rows": rows}


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--quick", action="store_true", help="one realization of the noise instead of three")
    args = parser.parse_args()
    origins = 7
    realizations = 1 if args.quick else 3
    cfg = load_stack("prod")
    end = time.time() // 60 * 60
    start = end - HISTORY_DAYS * DAY
    worlds = [prod_traffic(start, end, r) for r in range(realizations)]
    spike = worlds[0][1]
    spike_hours = {int(spike.start // HOUR * HOUR + h * HOUR) for h in range(int(spike.seconds // HOUR) + 1)}
    traffic = [w[0][r] for w in worlds for r in REGIONS]
    labels = [t.region for t in traffic]
    with tempfile.TemporaryDirectory(prefix="bench-forecast-") as tmp:
        loaded = time.perf_counter()
        with history_prometheus(Path(tmp), [(traffic, start, end)]) as url:
            load_seconds = time.perf_counter() - loaded
            metrics = PrometheusMetrics(url, timeout_seconds=30)

            async def read() -> list[Any]:
                return await asyncio.gather(*(read_history(metrics, cfg, r, end) for r in labels))

            began = time.perf_counter()
            histories = asyncio.run(read())
            read_seconds = time.perf_counter() - began
    hourly = {h.region: h.requests.hourly() for h in histories}
    forecast_region(
        "warm-up", hourly[REGIONS[0]], horizon_hours=48, backtest_days=7, coverage=0.95
    )  # imports
    began = time.perf_counter()
    chosen = {
        r: forecast_region(
            r,
            hourly[r],
            horizon_hours=cfg.scale.horizon_hours,
            backtest_days=cfg.scale.backtest_days,
            coverage=cfg.scale.interval_coverage,
        ).model
        for r in REGIONS
    }
    fit_seconds = time.perf_counter() - began
    results = [evaluate(cfg, r, hourly[r], origins, spike_hours) for r in labels]
    rows = [row for result in results for row in result["rows"]]
    model_mape = float(np.mean([r["mape"] for r in rows]))
    naive_mape = float(np.mean([r["naive_mape"] for r in rows]))
    calm = [r for r in rows if not r["spike_echo"]]
    under = sum(r["under"] for r in rows) / sum(r["hours"] for r in rows)
    figures = {
        "regions": len(REGIONS),
        "noise_realizations": realizations,
        "history_days": HISTORY_DAYS,
        "step_seconds": cfg.scale.step_seconds,
        "backtest_origins_per_region": origins,
        "promtool_and_prometheus_start_seconds": round(load_seconds, 2),
        "read_history_seconds": round(read_seconds, 2),
        "fit_and_forecast_seconds": round(fit_seconds, 2),
        "models": chosen,
        "day_ahead_mape": round(model_mape, 4),
        "hour_24_mape": round(float(np.mean([r["mape_h24"] for r in rows])), 4),
        "seasonal_naive_mape": round(naive_mape, 4),
        "error_reduction_vs_naive": round(1 - model_mape / naive_mape, 3),
        "error_reduction_vs_naive_without_the_event_echo": round(
            1 - np.mean([r["mape"] for r in calm]) / np.mean([r["naive_mape"] for r in calm]), 3
        ),
        "under_provisioned_hours": round(under, 4),
        "hours_above_upper_bound": round(
            sum(r["above_upper"] for r in rows) / sum(r["hours"] for r in rows), 4
        ),
        "interval_coverage": round(sum(r["covered"] for r in rows) / sum(r["hours"] for r in rows), 3),
        "per_region": {
            res["region"]: {
                "mape": round(float(np.mean([r["mape"] for r in res["rows"]])), 4),
                "naive_mape": round(float(np.mean([r["naive_mape"] for r in res["rows"]])), 4),
                "under_provisioned_hours": sum(r["under"] for r in res["rows"]),
                "hours": sum(r["hours"] for r in res["rows"]),
            }
            for res in results
        },
        "load_average_1m": round(os.getloadavg()[0], 2),
    }
    figures["floor_mape_met"] = figures["day_ahead_mape"] <= 0.10
    figures["floor_vs_naive_met"] = figures["error_reduction_vs_naive"] >= 0.20
    figures["floor_under_provisioned_met"] = figures["under_provisioned_hours"] <= 0.05
    figures["floor_fit_seconds_met"] = figures["fit_and_forecast_seconds"] < 10
    print(f"{'region':<19}{'model':<22}{'MAPE':>8}{'naive':>8}{'under':>8}")
    for res in results:
        pr = figures["per_region"][res["region"]]
        print(
            f"{res['region']:<19}{chosen.get(res['region'], '(backtest only)'):<22}{pr['mape']:>8.2%}{pr['naive_mape']:>8.2%}"
            f"{pr['under_provisioned_hours']:>5}/{pr['hours']}"
        )
    print(
        f"day-ahead MAPE {model_mape:.2%} (floor 10 %) · {figures['error_reduction_vs_naive']:.0%} below "
        f"seasonal-naive {naive_mape:.2%} (floor 20 %) · under-provisioned {under:.2%} of hours (floor 5 %) · "
        f"fit+forecast {fit_seconds:.1f}s for 3 regions x 4 weeks (floor 10 s)"
    )
    print(json.dumps(figures))
    return 0


if __name__ == "__main__":
    sys.exit(main())
