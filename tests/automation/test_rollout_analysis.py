"""Analysis templates and checks, evaluated by a real Prometheus over synthetic gateway metrics."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from infra.automation.adapters.prometheus import PrometheusMetrics
from infra.automation.errors import MetricsError
from infra.automation.rollout.analysis import (
    LATENCY_P99,
    TARGETS_CHECK,
    CheckSpec,
    Target,
    analyze,
    assess,
    checks_from,
    render,
    validate,
)
from infra.automation.rollout.errors import TemplateError
from infra.automation.rollout.judge import JudgeSettings
from infra.automation.rollout.model import Outcome
from infra.config import BUILTIN_CHECKS, RolloutConfig
from tests.automation.conftest import SyntheticPrometheus

CFG = RolloutConfig(min_success_rate=0.95, max_p99_latency_seconds=0.3, analysis_window_seconds=4)
JUDGE = JudgeSettings(min_samples=10)


def target(version: str) -> Target:
    return Target("t", "local-a", version, "green", "v1", "blue", window_seconds=4)


def test_render_fills_variables_and_rejects_unknown_ones() -> None:
    variables = target("v2").variables()
    query = render("up{ {{ selector }} }[{{window}}] {{ stable_color }}", variables)
    assert query == 'up{ version="v2", color="green", region="local-a" }[4s] blue'
    with pytest.raises(TemplateError, match="nope"):
        render("{{ nope }}", variables)
    with pytest.raises(TemplateError):
        validate([CheckSpec("x", "sum({{ colour }})", max=1)], target("v2"))


def test_selector_escapes_quotes() -> None:
    assert 'version="a\\"b"' in Target("t", "r", 'a"b', "g", "v", "b", 1).variables()["selector"]


def test_assess_no_data_is_a_failure() -> None:
    assert assess("x", None, 0.9, 1.0).outcome is Outcome.FAIL
    assert assess("x", float("nan"), 0.9, 1.0).detail == "no data"
    assert assess("x", 0.5, 0.9, 1.0).outcome is Outcome.FAIL
    assert assess("x", 0.95, 0.9, 1.0).outcome is Outcome.PASS
    assert assess("x", 2.0, None, 1.0).outcome is Outcome.FAIL


async def test_healthy_canary_passes_every_check(synthetic_prometheus: SyntheticPrometheus) -> None:
    metrics = PrometheusMetrics(synthetic_prometheus.url)
    analysis = await analyze(metrics, checks_from(CFG), target("v3"), JUDGE)
    by_name = {c.name: c for c in analysis.checks}
    assert by_name["success-rate"].value == pytest.approx(1.0)
    assert (by_name["latency-p99"].value or 1) < 0.01
    assert by_name["judge"].outcome is Outcome.PASS, by_name["judge"].detail
    volume = by_name["canary-requests"]  # 30 rps over the 4 s window, as Prometheus extrapolates it
    assert volume.outcome is Outcome.PASS and 20 <= (volume.value or 0) <= 30 * 4 * 1.5, volume
    assert analysis.outcome is Outcome.PASS


async def test_too_few_canary_requests_fail_a_perfect_canary(
    synthetic_prometheus: SyntheticPrometheus,
) -> None:
    """A success rate over a handful of requests passes a failing canary by chance: below minRequests the
    tick fails however good the other checks look."""
    metrics = PrometheusMetrics(synthetic_prometheus.url)
    demanding = CFG.model_copy(update={"min_requests": 1000})
    analysis = await analyze(metrics, checks_from(demanding), target("v3"), JUDGE)
    by_name = {c.name: c for c in analysis.checks}
    assert by_name["success-rate"].outcome is Outcome.PASS
    volume = by_name["canary-requests"]
    assert volume.outcome is Outcome.FAIL and volume.min == 1000 and (volume.value or 0) < 1000
    assert analysis.outcome is Outcome.FAIL
    # Every check the analysis runs is reserved, and only those (canary-targets runs with freshness given).
    assert set(by_name) | {TARGETS_CHECK} == BUILTIN_CHECKS
    unbounded = CFG.model_copy(update={"min_requests": 0})
    assert "canary-requests" not in {c.name for c in checks_from(unbounded)}


async def test_erroring_and_slow_canary_fails_thresholds_and_judge(
    synthetic_prometheus: SyntheticPrometheus,
) -> None:
    metrics = PrometheusMetrics(synthetic_prometheus.url)
    analysis = await analyze(metrics, checks_from(CFG), target("v2"), JUDGE)
    by_name = {c.name: c for c in analysis.checks}
    assert by_name["success-rate"].value == pytest.approx(0.8, abs=0.06)  # 20% injected errors
    assert by_name["success-rate"].outcome is Outcome.FAIL
    assert 0.3 < (by_name["latency-p99"].value or 0) <= 0.5
    assert by_name["latency-p99"].outcome is Outcome.FAIL
    assert by_name["judge"].outcome is Outcome.FAIL and "worse" in by_name["judge"].detail
    assert analysis.outcome is Outcome.FAIL


async def test_canary_without_traffic_has_no_data(synthetic_prometheus: SyntheticPrometheus) -> None:
    """/metrics scrapes of a canary must not count as traffic: no API requests means no data."""
    metrics = PrometheusMetrics(synthetic_prometheus.url)
    idle = Target("t", "local-a", "v1", "blue", "v3", "green", 4)
    scraped_only = await metrics.query(
        'sum(rate(streamgate_http_requests_total{route="/metrics"}[4s]))', datetime.now(UTC)
    )
    assert scraped_only and scraped_only > 0
    analysis = await analyze(metrics, checks_from(CFG), target("v9"), JUDGE)
    assert all(c.outcome is Outcome.FAIL for c in analysis.checks)
    assert {c.name: c.value for c in analysis.checks}["success-rate"] is None
    assert (await analyze(metrics, checks_from(CFG), idle, None)).outcome is Outcome.PASS


async def test_series_judge_uses_range_queries(synthetic_prometheus: SyntheticPrometheus) -> None:
    metrics = PrometheusMetrics(synthetic_prometheus.url)
    spec = CheckSpec("p99-series", LATENCY_P99.replace("{{ window }}", "2s"), max=10.0, judge=True)
    window = Target("t", "local-a", "v2", "green", "v1", "blue", window_seconds=4)
    analysis = await analyze(metrics, [spec], window, JudgeSettings(min_samples=3))
    judge = next(c for c in analysis.checks if c.name == "judge")
    assert judge.outcome is Outcome.FAIL, judge.detail  # v2's p99 series sits far above v1's


async def test_unreachable_prometheus_is_no_data(prometheus_down: str) -> None:
    metrics = PrometheusMetrics(prometheus_down, timeout_seconds=1)
    analysis = await analyze(metrics, checks_from(CFG), target("v3"), JUDGE)
    assert analysis.outcome is Outcome.FAIL
    assert all(c.value is None and "no data" in c.detail for c in analysis.checks)
    with pytest.raises(MetricsError, match="unreachable"):
        await metrics.query("up", datetime.now(UTC))


async def test_many_series_is_an_error(synthetic_prometheus: SyntheticPrometheus) -> None:
    metrics = PrometheusMetrics(synthetic_prometheus.url)
    with pytest.raises(MetricsError, match="expected one"):
        await metrics.query("streamgate_http_requests_total", datetime.now(UTC))
    assert await metrics.query("vector(1) * 0 / 0", datetime.now(UTC)) is None  # NaN = no data
