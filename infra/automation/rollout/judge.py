"""The statistical judge, as Kayenta's: clean the samples → classify each metric with a Mann-Whitney U test
→ score = % of metrics that pass → pass / marginal / fail. Pure functions; the queries live in analysis.

Samples. For latency the judge compares request distributions rebuilt from histogram bucket deltas
(`increase(..._bucket[window])` per `le`, canary vs stable over the same window): every request in the
window is one sample, valued at its bucket's upper bound. Mann-Whitney only uses ranks, so binning costs
nothing but resolution (requests in one bucket tie, which scipy's tie-corrected test handles). We prefer this
to a range query of per-color p99 values, whose points are few, overlap in their rate windows (so are not
independent) and summarise away the distribution the test is meant to compare. For other checks the judge
falls back to the Kayenta way: the check's own time series for canary and stable from a range query.

Classification needs both significance (p < alpha, one-sided toward "worse") and a material effect: the
probability that a canary sample is worse than a stable one (U / (n₁n₂), the common-language effect size)
above `max_effect`. With thousands of requests any shift is significant; the effect size keeps a 1 ms
difference inside one bucket from failing a rollout.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Literal

import numpy as np

from infra.automation.rollout.model import Outcome
from infra.config import JudgeConfig

Direction = Literal["higher-is-worse", "lower-is-worse", "either"]
MAX_SAMPLES = 50_000  # per side: bounds CPU; scaling counts keeps the distribution's shape


class Classification(StrEnum):
    PASS = "pass"
    WORSE = "worse"  # significantly and materially worse than stable
    NODATA = "nodata"


@dataclass(frozen=True)
class JudgeSettings:
    alpha: float = 0.05
    max_effect: float = 0.6
    min_samples: int = 20
    pass_score: float = 95.0
    marginal_score: float = 75.0

    @classmethod
    def from_config(cls, cfg: JudgeConfig) -> JudgeSettings:
        return cls(cfg.alpha, cfg.max_effect, cfg.min_samples, cfg.pass_score, cfg.marginal_score)


@dataclass(frozen=True)
class MetricVerdict:
    name: str
    classification: Classification
    p_value: float | None = None
    effect: float | None = None  # P(canary sample worse than stable sample), 0.5 = no difference
    n_canary: int = 0
    n_stable: int = 0

    def describe(self) -> str:
        if self.classification is Classification.NODATA:
            return f"{self.name}: no data (canary n={self.n_canary}, stable n={self.n_stable})"
        return (
            f"{self.name}: {self.classification.value} (p={self.p_value:.3g}, effect={self.effect:.2f}, "
            f"n={self.n_canary}/{self.n_stable})"
        )


@dataclass(frozen=True)
class JudgeScore:
    score: float
    outcome: Outcome
    verdicts: tuple[MetricVerdict, ...]

    def describe(self) -> str:
        parts = "; ".join(v.describe() for v in self.verdicts)
        return f"score {self.score:.0f} → {self.outcome.value}: {parts}"


def samples_from_buckets(cumulative: Mapping[float, float], cap: int = MAX_SAMPLES) -> np.ndarray:
    """Per-request samples from a cumulative histogram's bucket increases ({le: count}, +Inf included).

    Counts from `increase()` are extrapolated floats and may dip by rounding; they are rounded and clamped
    at zero. Each request is valued at its bucket's upper bound (+Inf just above the last finite bound).
    """
    bounds = sorted(cumulative)
    finite = [b for b in bounds if math.isfinite(b)]
    top = (finite[-1] * 2 if finite else 1.0) or 1.0
    counts: list[float] = []
    previous = 0.0
    for bound in bounds:
        value = max(float(cumulative[bound]), previous)  # cumulative counts never decrease
        counts.append(value - previous)
        previous = value
    total = sum(counts)
    scale = cap / total if total > cap else 1.0
    values = [b if math.isfinite(b) else top for b in bounds]
    repeats = [round(c * scale) for c in counts]
    return np.repeat(np.asarray(values, dtype=float), repeats)


def clean(samples: Sequence[float] | np.ndarray) -> np.ndarray:
    """Drop NaN and infinities (gaps in a series), as Kayenta's pre-processing does."""
    array = np.asarray(samples, dtype=float)
    return array[np.isfinite(array)]


def compare(
    name: str,
    canary: Sequence[float] | np.ndarray,
    stable: Sequence[float] | np.ndarray,
    direction: Direction,
    settings: JudgeSettings,
) -> MetricVerdict:
    """Classify one metric: is the canary significantly and materially worse than stable?"""
    c, s = clean(canary), clean(stable)
    if len(c) < settings.min_samples or len(s) < settings.min_samples:
        return MetricVerdict(name, Classification.NODATA, n_canary=len(c), n_stable=len(s))
    alternative = {"higher-is-worse": "greater", "lower-is-worse": "less", "either": "two-sided"}[direction]
    if np.ptp(np.concatenate([c, s])) == 0:  # all samples equal: no difference at all (and no variance)
        return MetricVerdict(name, Classification.PASS, 1.0, 0.5, len(c), len(s))
    from scipy.stats import mannwhitneyu  # ~1-4 s to import: only where needed (see warm_up)

    result = mannwhitneyu(c, s, alternative=alternative, method="asymptotic")
    superiority = float(result.statistic) / (len(c) * len(s))  # P(c > s) + ½ P(c = s)
    effect = {
        "higher-is-worse": superiority,
        "lower-is-worse": 1.0 - superiority,
        "either": max(superiority, 1.0 - superiority),
    }[direction]
    p_value = float(result.pvalue)
    worse = p_value < settings.alpha and effect > settings.max_effect
    classification = Classification.WORSE if worse else Classification.PASS
    return MetricVerdict(name, classification, p_value, effect, len(c), len(s))


def warm_up() -> None:
    """Import scipy.stats ahead of the first analysis, so its import never delays a tick."""
    import scipy.stats  # noqa: F401


def score(verdicts: Sequence[MetricVerdict], settings: JudgeSettings) -> JudgeScore:
    """% of metrics that pass (no data does not pass) → pass / marginal (inconclusive) / fail."""
    if not verdicts:
        return JudgeScore(0.0, Outcome.FAIL, ())
    value = 100.0 * sum(v.classification is Classification.PASS for v in verdicts) / len(verdicts)
    if value >= settings.pass_score:
        outcome = Outcome.PASS
    elif value >= settings.marginal_score:
        outcome = Outcome.INCONCLUSIVE
    else:
        outcome = Outcome.FAIL
    return JudgeScore(value, outcome, tuple(verdicts))


def direction_of(low: float | None, high: float | None) -> Direction:
    """A check with only a max is worse when higher, only a min worse when lower, both: either way."""
    if high is not None and low is None:
        return "higher-is-worse"
    if low is not None and high is None:
        return "lower-is-worse"
    return "either"
