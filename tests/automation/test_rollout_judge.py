"""The Mann-Whitney judge: samples from histogram buckets, classification and scoring."""

from __future__ import annotations

import math

import numpy as np

from infra.automation.rollout.judge import (
    Classification,
    JudgeSettings,
    clean,
    compare,
    direction_of,
    samples_from_buckets,
    score,
)
from infra.automation.rollout.model import Outcome

SETTINGS = JudgeSettings(alpha=0.05, max_effect=0.6, min_samples=20, pass_score=95, marginal_score=75)


def test_samples_from_cumulative_buckets() -> None:
    cumulative = {0.01: 3.0, 0.1: 5.2, 1.0: 5.0, math.inf: 6.0}  # 1.0 dips (extrapolation): clamped
    samples = samples_from_buckets(cumulative)
    assert list(samples) == [0.01, 0.01, 0.01, 0.1, 0.1, 2.0]  # +Inf sits above the last finite bound


def test_samples_are_capped_keeping_the_shape() -> None:
    samples = samples_from_buckets({0.1: 60_000.0, math.inf: 120_000.0}, cap=1000)
    assert len(samples) == 1000
    assert abs(np.mean(samples == 0.1) - 0.5) < 0.01


def test_same_distribution_passes_and_shifted_one_fails() -> None:
    rng = np.random.default_rng(7)
    stable = rng.lognormal(mean=-4, sigma=0.3, size=400)
    same = rng.lognormal(mean=-4, sigma=0.3, size=300)
    slower = same + 0.2
    ok = compare("latency", same, stable, "higher-is-worse", SETTINGS)
    assert ok.classification is Classification.PASS
    assert 0.4 < (ok.effect or 0) < 0.6
    bad = compare("latency", slower, stable, "higher-is-worse", SETTINGS)
    assert bad.classification is Classification.WORSE
    assert (bad.p_value or 1) < 1e-6 and (bad.effect or 0) > 0.95
    # Faster is not worse for a higher-is-worse metric.
    assert (
        compare("latency", stable, slower, "higher-is-worse", SETTINGS).classification is Classification.PASS
    )


def test_tiny_material_shift_within_one_bucket_is_not_worse() -> None:
    # Binned: everything in the same bucket on both sides ties completely.
    canary = samples_from_buckets({0.005: 0.0, 0.01: 500.0, math.inf: 500.0})
    stable = samples_from_buckets({0.005: 0.0, 0.01: 800.0, math.inf: 800.0})
    assert (
        compare("latency", canary, stable, "higher-is-worse", SETTINGS).classification is Classification.PASS
    )


def test_significant_but_immaterial_shift_passes() -> None:
    # With many samples a small shift is significant; the effect size keeps it from failing.
    rng = np.random.default_rng(1)
    stable = rng.normal(1.0, 1.0, 20_000)
    canary = rng.normal(1.05, 1.0, 20_000)
    verdict = compare("latency", canary, stable, "higher-is-worse", SETTINGS)
    assert (verdict.p_value or 1) < 0.05
    assert verdict.classification is Classification.PASS


def test_too_few_samples_is_no_data_and_scores_fail() -> None:
    verdict = compare("latency", [0.1] * 5, [0.1] * 100, "higher-is-worse", SETTINGS)
    assert verdict.classification is Classification.NODATA
    assert score([verdict], SETTINGS).outcome is Outcome.FAIL
    assert list(clean([1.0, math.nan, math.inf, 2.0])) == [1.0, 2.0]


def test_score_thresholds() -> None:
    ok = compare("a", [1.0] * 30, [1.0] * 30, "either", SETTINGS)
    bad = compare(
        "b", [2.0 + i / 100 for i in range(30)], [1.0 + i / 100 for i in range(30)], "either", SETTINGS
    )
    assert score([ok] * 4, SETTINGS).outcome is Outcome.PASS
    assert score([ok, ok, ok, bad], SETTINGS).outcome is Outcome.INCONCLUSIVE  # 75 = marginal
    assert score([ok, bad], SETTINGS).outcome is Outcome.FAIL
    assert score([], SETTINGS).outcome is Outcome.FAIL


def test_direction_from_the_check_range() -> None:
    assert direction_of(None, 0.5) == "higher-is-worse"
    assert direction_of(0.99, None) == "lower-is-worse"
    assert direction_of(0.99, 1.0) == "either"
    low = compare(
        "s",
        [0.5 + i / 1000 for i in range(40)],
        [0.99 + i / 10000 for i in range(40)],
        "lower-is-worse",
        SETTINGS,
    )
    assert low.classification is Classification.WORSE
