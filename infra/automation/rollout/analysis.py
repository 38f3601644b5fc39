"""Analysis: which PromQL to run for a canary, and how one value becomes pass or fail.

Checks are templates rendered with the canary's version/color/region labels (the labels every gateway series
carries, see the metrics contract). A check passes only with a finite value inside its range (a value equal
to a bound is inside): an empty result, NaN (0/0 when there was no traffic) or a failed query is "no data"
and fails, never passes.

Fresh data only: a range query over a window keeps answering from samples taken before a target vanished
(rate() over the window still finds them), so every tick first asks when each analysed series was last
sampled. A check whose series are gone, or whose newest sample is older than `STALE_SCRAPES` scrape
intervals, is "no data"; so is every check while fewer canary targets are up than expected.
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
from infra.automation.errors import MetricsError
from infra.automation.rollout.errors import TemplateError
from infra.automation.rollout.judge import (
    JudgeSettings,
    MetricVerdict,
    compare,
    direction_of,
    samples_from_buckets,
    score,
)
from infra.automation.rollout.model import Analysis, CheckResult, Outcome
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
REQUESTS = "sum(increase(streamgate_http_requests_total{ {{ selector }}, " + API_ROUTES + " }[{{ window }}]))"
LATENCY_P99 = (
    "histogram_quantile(0.99, sum by (le) (rate(streamgate_http_request_duration_seconds_bucket"
    "{ {{ selector }}, " + API_ROUTES + " }[{{ window }}])))"
)
LATENCY_BUCKETS = "streamgate_http_request_duration_seconds_bucket{ {{ selector }}, " + API_ROUTES + " }"

_VARIABLE = re.compile(r"\{\{\s*([a-z_]+)\s*\}\}")
# A vector selector with matchers: `metric{...}` (quoted label values may hold braces; skipped below).
_SELECTOR_START = re.compile(r"([A-Za-z_:][A-Za-z0-9_:]*)\s*\{")
_QUOTED = re.compile(r'"(?:[^"\\]|\\.)*"|\'(?:[^\'\\]|\\.)*\'|`[^`]*`')
GATEWAY_JOB = "streamgate-gateway"
STALE_SCRAPES = 2  # a series is fresh while its newest sample is at most this many scrape intervals old
TARGETS_CHECK = "canary-targets"
REQUESTS_CHECK = "canary-requests"


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


def series_selectors(promql: str) -> list[str]:
    """The `metric{...}` selectors a (rendered) query reads, in order, without duplicates."""
    found: list[str] = []
    at = 0
    while (match := _SELECTOR_START.search(promql, at)) is not None:
        end, depth = match.end(), 1
        while depth and end < len(promql):
            quoted = _QUOTED.match(promql, end)
            if quoted:
                end = quoted.end()
                continue
            depth += {"{": 1, "}": -1}.get(promql[end], 0)
            end += 1
        selector_text = promql[match.start() : end]
        if depth == 0 and selector_text not in found:
            found.append(selector_text)
        at = end
    return found


@dataclass(frozen=True)
class Freshness:
    """What "fresh" means for one tick: how often the gateways are scraped, and how many canary targets
    (pods, processes) must be up."""

    scrape_interval_seconds: float
    expected_targets: int

    @property
    def max_age_seconds(self) -> float:
        return STALE_SCRAPES * self.scrape_interval_seconds


@dataclass(frozen=True)
class CheckSpec:
    name: str
    query: str
    min: float | None = None
    max: float | None = None
    judge: bool = False
    judge_histogram: str | None = None


def checks_from(cfg: RolloutConfig) -> list[CheckSpec]:
    """The built-in request volume, success-rate and p99 checks, then the stack's extra checks."""
    volume = [CheckSpec(REQUESTS_CHECK, REQUESTS, min=cfg.min_requests)] if cfg.min_requests else []
    specs = [
        *volume,
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
    """Pure: a value against its range, bounds included. None and non-finite values are no data, failed."""
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
    freshness: Freshness | None = None,
) -> Analysis:
    """Run every check at one instant (explicit time, so all queries see the same data). With `freshness`
    (the controller always gives it), checks over stale or vanished series are no data."""
    at = at or datetime.now(UTC)
    variables = target.variables()
    stale: dict[str, str] = {}
    results: list[CheckResult] = []
    if freshness is not None:
        targets, stale = await asyncio.gather(
            targets_check(provider, target, freshness, at),
            stale_series(provider, specs, target, freshness, at),
        )
        results.append(targets)
        if targets.outcome is not Outcome.PASS:  # every series of a missing target is suspect
            stale = {s.name: targets.detail for s in specs} | {"judge": targets.detail}

    async def one(spec: CheckSpec) -> CheckResult:
        if spec.name in stale:
            return CheckResult(spec.name, Outcome.FAIL, None, spec.min, spec.max, stale[spec.name])
        try:
            value = await provider.query(render(spec.query, variables), at)
        except MetricsError as exc:
            return CheckResult(spec.name, Outcome.FAIL, None, spec.min, spec.max, f"no data: {exc}")
        return assess(spec.name, value, spec.min, spec.max)

    results += await asyncio.gather(*(one(s) for s in specs))
    judged = [s for s in specs if s.judge]
    if judge is not None and judged:
        reason = stale.get("judge") or next((stale[s.name] for s in judged if s.name in stale), None)
        if reason is not None:
            results.append(CheckResult("judge", Outcome.FAIL, None, judge.pass_score, 100.0, reason))
        else:
            results.append(await judge_check(provider, judged, target, judge, at))
    return Analysis(at=time.time(), checks=tuple(results))


def up_selector(target: Target) -> str:
    """The canary's scrape targets: both the local platform's scrape config and the clusters' PodMonitor
    put `color` and `region` on the gateway targets (and so on `up`)."""
    return f'up{{job="{GATEWAY_JOB}", color="{_escape(target.color)}", region="{_escape(target.region)}"}}'


async def targets_check(
    provider: MetricsProvider, target: Target, freshness: Freshness, at: datetime
) -> CheckResult:
    """At least the expected number of the canary's targets answered their latest scrape."""
    expected = freshness.expected_targets
    name = TARGETS_CHECK
    try:
        up = await provider.query(f"count(({up_selector(target)}) == 1)", at)
    except MetricsError as exc:
        return CheckResult(name, Outcome.FAIL, None, expected, None, f"no data: {exc}")
    count = int(up or 0)
    if count < expected:
        detail = f"no data: {count} of {expected} {target.color} target(s) up in {target.region}"
        return CheckResult(name, Outcome.FAIL, float(count), expected, None, detail)
    return CheckResult(name, Outcome.PASS, float(count), expected, None, f"{count} up")


async def stale_series(
    provider: MetricsProvider,
    specs: Sequence[CheckSpec],
    target: Target,
    freshness: Freshness,
    at: datetime,
) -> dict[str, str]:
    """check name -> why its data is not fresh, for every check (and "judge") reading stale series.

    Per selector: `min(timestamp(sel))` is the oldest "newest sample" among its series (a series stops
    being returned once Prometheus marked it stale, e.g. its target vanished). A check is fresh when at
    least one of its selectors has series and none of them is older than the allowed age."""
    sides = {"canary": target, "stable": target.stable()}
    reads: dict[str, list[str]] = {}
    for spec in specs:
        templates = [spec.query] + ([spec.judge_histogram] if spec.judge_histogram else [])
        reads[spec.name] = [
            sel for t in templates for sel in series_selectors(render(t, sides["canary"].variables()))
        ]
    judged = [s for s in specs if s.judge]
    reads["judge"] = [
        sel
        for spec in judged
        for t in [spec.judge_histogram or spec.query]
        for side in sides.values()
        for sel in series_selectors(render(t, side.variables()))
    ]
    selectors = sorted({sel for sels in reads.values() for sel in sels})
    ages: dict[str, float | None] = {}

    async def age(sel: str) -> None:
        newest = await provider.query(f"min(timestamp({sel}))", at)
        ages[sel] = None if newest is None else at.timestamp() - newest

    try:
        await asyncio.gather(*(age(sel) for sel in selectors))
    except MetricsError as exc:
        return {name: f"no data: freshness unknown: {exc}" for name in reads}
    limit = freshness.max_age_seconds
    out: dict[str, str] = {}
    for name, sels in reads.items():
        if not sels:
            continue
        present = [(sel, ages[sel]) for sel in sels if ages[sel] is not None]
        old = [(sel, a) for sel, a in present if a is not None and a > limit]
        if not present:
            out[name] = f"no data: no current series for {_short(sels[0])}"
        elif old:
            sel, a = max(old, key=lambda p: p[1] or 0.0)
            out[name] = f"no data: newest sample of {_short(sel)} is {a:.0f}s old (max {limit:g}s)"
    return out


def _short(selector_text: str) -> str:
    return selector_text if len(selector_text) <= 80 else selector_text[:77] + "..."


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
