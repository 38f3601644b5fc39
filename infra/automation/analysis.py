"""Analysis: which PromQL to run for a canary, and how one value becomes pass or fail.

Checks are templates rendered with the canary's version/color/region labels (the labels every gateway series
carries, see the metrics contract). A check passes only with a finite value inside its range: an empty
result, NaN (0/0 when there was no traffic) or a failed query is "no data" and fails, never passes.
"""

from __future__ import annotations

import asyncio
import math
import re
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta

from infra.automation.adapters import MetricsProvider
from infra.automation.errors import MetricsError, TemplateError
from infra.automation.judge import (
    JudgeSettings,
    MetricVerdict,
    compare,
    direction_of,
    samples_from_buckets,
    score,
)
from infra.automation.model import Analysis, CheckResult, Outcome
from infra.config import RolloutConfig

# Viewer traffic only: scrapes and probes (/metrics, /readyz, ...) must not make an idle canary look healthy.
# Not `route=~"/v1/.+"`: requests that fail before routing (fault injection, early errors) carry
# route="other" and must count.
API_ROUTES = 'route!~"/metrics|/healthz|/readyz|/version|/openapi.json"'
SUCCESS_RATE = (
    "1 - ((sum(rate(streamgate_http_requests_total{ {{ selector }}, "
    + API_ROUTES
    + ', status_class="5xx" }[{{ window }}])) or vector(0))'
    " / sum(rate(streamgate_http_requests_total{ {{ selector }}, " + API_ROUTES + " }[{{ window }}])))"
)
LATENCY_P99 = (
    "histogram_quantile(0.99, sum by (le) (rate(streamgate_http_request_duration_seconds_bucket"
    "{ {{ selector }}, " + API_ROUTES + " }[{{ window }}])))"
)
LATENCY_BUCKETS = "streamgate_http_request_duration_seconds_bucket{ {{ selector }}, " + API_ROUTES + " }"

_VARIABLE = re.compile(r"\{\{\s*([a-z_]+)\s*\}\}")


@dataclass(frozen=True)
class Target:
    """Who is compared: the canary (version on color) against the stable side, in one region."""

    stack: str
    region: str
    version: str
    color: str
    stable_version: str
    stable_color: str
    window_seconds: int

    def variables(self) -> dict[str, str]:
        return {
            "stack": self.stack,
            "region": self.region,
            "version": self.version,
            "color": self.color,
            "stable_version": self.stable_version,
            "stable_color": self.stable_color,
            "window": f"{self.window_seconds}s",
            "selector": selector(self.version, self.color, self.region),
            "stable_selector": selector(self.stable_version, self.stable_color, self.region),
        }

    def stable(self) -> Target:
        """The same target seen from the stable side (for the judge's baseline samples)."""
        return replace(
            self,
            version=self.stable_version,
            color=self.stable_color,
            stable_version=self.version,
            stable_color=self.color,
        )


def selector(version: str, color: str, region: str) -> str:
    return f'version="{_escape(version)}", color="{_escape(color)}", region="{_escape(region)}"'


def _escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', '\\"')


def render(template: str, variables: Mapping[str, str]) -> str:
    """Fill `{{ name }}` placeholders (PromQL itself never contains `{{`); unknown names are an error."""

    def fill(match: re.Match[str]) -> str:
        name = match.group(1)
        if name not in variables:
            known = ", ".join(sorted(variables))
            raise TemplateError(f"template variable {{{{ {name} }}}} is unknown (known: {known})")
        return variables[name]

    return _VARIABLE.sub(fill, template)


@dataclass(frozen=True)
class CheckSpec:
    name: str
    query: str
    min: float | None = None
    max: float | None = None
    judge: bool = False
    judge_histogram: str | None = None


def checks_from(cfg: RolloutConfig) -> list[CheckSpec]:
    """The built-in success-rate and p99 checks, then the stack's extra checks."""
    specs = [
        CheckSpec("success-rate", SUCCESS_RATE, min=cfg.min_success_rate, max=1.0),
        CheckSpec(
            "latency-p99",
            LATENCY_P99,
            max=cfg.max_p99_latency_seconds,
            judge=cfg.judge_latency,
            judge_histogram=LATENCY_BUCKETS,
        ),
    ]
    specs += [CheckSpec(c.name, c.query, c.min, c.max, c.judge, c.judge_histogram) for c in cfg.checks]
    return specs


def validate(specs: Sequence[CheckSpec], target: Target) -> None:
    """Render every template once up front: a typo fails the command before any traffic moves."""
    variables = target.variables()
    for spec in specs:
        render(spec.query, variables)
        if spec.judge_histogram:
            render(spec.judge_histogram, variables)


def assess(name: str, value: float | None, low: float | None, high: float | None) -> CheckResult:
    """Pure: a value against its range. None and non-finite values are no data, hence failed."""
    if value is None or not math.isfinite(value):
        return CheckResult(name, Outcome.FAIL, None, low, high, "no data")
    if low is not None and value < low:
        return CheckResult(name, Outcome.FAIL, value, low, high, f"{value:.4g} < min {low:.4g}")
    if high is not None and value > high:
        return CheckResult(name, Outcome.FAIL, value, low, high, f"{value:.4g} > max {high:.4g}")
    return CheckResult(name, Outcome.PASS, value, low, high, "ok")


async def analyze(
    provider: MetricsProvider,
    specs: Sequence[CheckSpec],
    target: Target,
    judge: JudgeSettings | None,
    at: datetime | None = None,
) -> Analysis:
    """Run every check at one instant (explicit time, so all queries see the same data)."""
    at = at or datetime.now(UTC)
    variables = target.variables()

    async def one(spec: CheckSpec) -> CheckResult:
        try:
            value = await provider.query(render(spec.query, variables), at)
        except MetricsError as exc:
            return CheckResult(spec.name, Outcome.FAIL, None, spec.min, spec.max, f"no data: {exc}")
        return assess(spec.name, value, spec.min, spec.max)

    results = list(await asyncio.gather(*(one(s) for s in specs)))
    judged = [s for s in specs if s.judge]
    if judge is not None and judged:
        results.append(await judge_check(provider, judged, target, judge, at))
    return Analysis(at=time.time(), checks=tuple(results))


async def judge_check(
    provider: MetricsProvider,
    specs: Sequence[CheckSpec],
    target: Target,
    settings: JudgeSettings,
    at: datetime,
) -> CheckResult:
    """Fetch canary and stable samples per judged check, classify each, score them: one `judge` check."""

    async def verdict(spec: CheckSpec) -> MetricVerdict:
        sides = (target, target.stable())
        if spec.judge_histogram:
            # Request distributions over the analysis window, from bucket increases per `le`.
            vectors = await asyncio.gather(
                *(
                    provider.query_vector(
                        f"sum by (le) (increase({render(spec.judge_histogram, t.variables())}"
                        f"[{t.window_seconds}s]))",
                        at,
                    )
                    for t in sides
                )
            )
            canary, stable = (
                samples_from_buckets({float(labels["le"]): v for labels, v in vector if "le" in labels})
                for vector in vectors
            )
            return compare(spec.name, canary, stable, "higher-is-worse", settings)
        # Kayenta style: the check's own series, one point per scrape-sized step over the window.
        start = at - timedelta(seconds=target.window_seconds)
        step = max(1.0, target.window_seconds / 30)
        canary_series, stable_series = await asyncio.gather(
            *(provider.query_range(render(spec.query, t.variables()), start, at, step) for t in sides)
        )
        return compare(spec.name, canary_series, stable_series, direction_of(spec.min, spec.max), settings)

    try:
        verdicts = await asyncio.gather(*(verdict(s) for s in specs))
    except MetricsError as exc:
        return CheckResult("judge", Outcome.FAIL, None, settings.pass_score, 100.0, f"no data: {exc}")
    result = score(verdicts, settings)
    return CheckResult("judge", result.outcome, result.score, settings.pass_score, 100.0, result.describe())
