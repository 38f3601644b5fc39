"""SLO rules: error ratios over every burn-rate window, multi-window multi-burn-rate alerts, budget left.

As in the SRE workbook (ch. 5) and as Sloth and Pyrra generate them: an alert tier fires when the error
ratio over its long window AND over its short window (1/12 of the long one, so it resets quickly once the
problem is fixed) both exceed `factor x (1 - objective)`.

The workbook's factors are for a 30-day window. They are "spend X % of the budget within the long window":
2 % in 1h (14.4x), 5 % in 6h (6x), 10 % in 1d (3x), 10 % in 3d (1x). For another window length the same
budget shares give `factor = share x window / long window`, floored at 1x (below 1x the budget would
last past the window: nothing to alert on). Tiers whose long window exceeds the SLO window, or whose
threshold would need more than 100 % errors, are left out: they could never fire.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from infra.alerts.errors import AlertsError
from infra.alerts.model import AlertRule, Impact, RecordingRule, RuleGroup, Severity, ValueFormat
from infra.alerts.promql import Scope, by, duration, number, regex

REQUESTS = "streamgate_http_requests_total"
DURATION_BUCKET = "streamgate_http_request_duration_seconds_bucket"
DURATION_COUNT = "streamgate_http_request_duration_seconds_count"
SEGMENT_ROUTE = "/v1/content/{id}/segments/{n}"
# Media segments of the HLS scheme (.ts, .m4s, init.mp4) share one route template; the latency SLO
# covers both schemes' segments.
MEDIA_SEGMENT_ROUTE = "/v1/content/{id}/{rendition}/{segment}"
SEGMENT_ROUTES = "|".join(re.escape(r) for r in (SEGMENT_ROUTE, MEDIA_SEGMENT_ROUTE))
# The gateway's histogram buckets (metrics contract): the latency objective must be one of them.
LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.3, 0.5, 1, 2.5, 5, 10)
BUDGET_EXHAUSTED_ALERT = "StreamgateErrorBudgetExhausted"


@dataclass(frozen=True)
class BurnWindow:
    """One alert tier: the budget share it tolerates spending within `long_seconds`."""

    long_seconds: int
    short_seconds: int
    budget_share: float
    severity: Severity
    for_seconds: int

    def factor(self, window_days: int) -> float:
        return max(1.0, self.budget_share * window_days * 86400 / self.long_seconds)


WORKBOOK_WINDOWS = (
    BurnWindow(3600, 300, 0.02, Severity.PAGE, 120),
    BurnWindow(6 * 3600, 1800, 0.05, Severity.PAGE, 900),
    BurnWindow(86400, 2 * 3600, 0.10, Severity.TICKET, 3600),
    BurnWindow(3 * 86400, 6 * 3600, 0.10, Severity.TICKET, 3 * 3600),
)


@dataclass(frozen=True)
class BurnTier:
    window: BurnWindow
    factor: float
    threshold: float  # error ratio = factor x budget


@dataclass(frozen=True)
class Slo:
    """One SLO of the gateway. `kind` picks the SLI: availability (non-5xx) or latency (under objective)."""

    kind: str  # availability | latency
    objective: float
    window_days: int
    latency_seconds: float = 0.0

    @property
    def budget(self) -> float:
        return 1.0 - self.objective

    @property
    def title(self) -> str:
        return "Availability" if self.kind == "availability" else "Segment latency"

    @property
    def alert_name(self) -> str:
        return f"Streamgate{self.kind.capitalize()}ErrorBudgetBurn"

    def errors_record(self, window: str) -> str:
        return f"streamgate:slo_{self.kind}_errors:ratio_rate{window}"

    @property
    def budget_record(self) -> str:
        return f"streamgate:slo_{self.kind}_error_budget_remaining:ratio"

    @property
    def window(self) -> str:
        return f"{self.window_days}d"

    @property
    def failures(self) -> str:
        """What counts against the SLO, for annotations."""
        if self.kind == "availability":
            return "gateway requests failed with a 5xx"
        return f"segment requests took longer than {seconds_text(self.latency_seconds)}"

    def error_ratio(self, scope: Scope, window: str) -> str:
        by_region = by("region")
        if self.kind == "availability":
            total = f"sum {by_region} (rate({scope.labelled(REQUESTS)}[{window}]))"
            failed = f"sum {by_region} (rate({scope.labelled(REQUESTS, status_class='5xx')}[{window}]))"
            # `or 0 * total`: before the first 5xx there is no 5xx series; the ratio is then 0, not empty.
            return f"({failed} or 0 * {total})\n/\n{total}"
        le = bucket_label(self.latency_seconds)
        # Latency of the requests that did not fail: 5xx already spend the availability budget.
        ok = f'status_class!="5xx",{regex("route", SEGMENT_ROUTES)}'
        fast = f"rate({scope.labelled(DURATION_BUCKET, ok, le=le)}[{window}])"
        total = f"rate({scope.labelled(DURATION_COUNT, ok)}[{window}])"
        return f"1 - (\n  sum {by_region} ({fast})\n  /\n  sum {by_region} ({total})\n)"

    def tiers(self) -> list[BurnTier]:
        tiers = []
        for window in WORKBOOK_WINDOWS:
            factor = window.factor(self.window_days)
            threshold = factor * self.budget
            if window.long_seconds <= self.window_days * 86400 and threshold < 1:
                tiers.append(BurnTier(window, factor, threshold))
        return tiers


def bucket_label(seconds: float) -> str:
    """The `le` label value the Python client writes for a bucket bound (0.3 → "0.3", 1 → "1.0")."""
    if not any(abs(seconds - b) < 1e-9 for b in LATENCY_BUCKETS):
        raise AlertsError(
            f"slo.latencyObjectiveSeconds: {seconds} is not a bucket of the gateway's latency histogram "
            f"({', '.join(str(b) for b in LATENCY_BUCKETS)}); pick one of them"
        )
    return repr(float(seconds))


def seconds_text(seconds: float) -> str:
    return f"{seconds * 1000:g}ms" if seconds < 1 else f"{seconds:g}s"


def slos(scope: Scope) -> list[Slo]:
    slo = scope.cfg.slo
    return [
        Slo("availability", slo.availability_target, slo.window_days),
        Slo("latency", slo.latency_target, slo.window_days, slo.latency_objective_seconds),
    ]


def slo_group(scope: Scope, slo: Slo) -> RuleGroup:
    tiers = slo.tiers()
    windows = sorted({t.window.long_seconds for t in tiers} | {t.window.short_seconds for t in tiers})
    rules: list[RecordingRule | AlertRule] = [
        RecordingRule(slo.errors_record(duration(w)), slo.error_ratio(scope, duration(w))) for w in windows
    ]
    rules.append(RecordingRule(slo.errors_record(slo.window), slo.error_ratio(scope, slo.window)))
    rules.append(
        RecordingRule(slo.budget_record, f"1 - {slo.errors_record(slo.window)} / {number(slo.budget)}")
    )
    rules.extend(_burn_alert(slo, tier) for tier in tiers)
    rules.append(_exhausted_alert(slo))
    return RuleGroup(f"streamgate-slo-{slo.kind}", tuple(rules))


def _burn_alert(slo: Slo, tier: BurnTier) -> AlertRule:
    long, short = duration(tier.window.long_seconds), duration(tier.window.short_seconds)
    threshold = number(tier.threshold)
    factor = number(tier.factor)
    budget_pct = f"{slo.budget * 100:.4g}%"
    share_pct = f"{tier.window.budget_share * 100:g}%"
    return AlertRule(
        name=slo.alert_name,
        expr=(f"{slo.errors_record(long)} > {threshold}\nand\n{slo.errors_record(short)} > {threshold}"),
        severity=tier.window.severity,
        impact=Impact.SERVICE,
        summary=f"{slo.title} SLO of the gateway in {{region}} burns its error budget {factor}x too fast",
        description=(
            f"In {{region}}, {{value}} of {slo.failures} over the last {long}, and more than "
            f"{number(tier.threshold * 100)}% over the last {short}: {factor}x the rate that spends the whole "
            f"{slo.window_days}-day error budget ({budget_pct}), so {share_pct} of that budget goes every {long}. "
            "Gateway versions serving there: {versions}."
        ),
        output_labels=("region",),
        for_seconds=tier.window.for_seconds,
        value_format=ValueFormat.PERCENT,
        labels={"slo": slo.kind, "long_window": long, "short_window": short},
    )


def _exhausted_alert(slo: Slo) -> AlertRule:
    return AlertRule(
        name=BUDGET_EXHAUSTED_ALERT,
        expr=f"{slo.budget_record} <= 0",
        severity=Severity.TICKET,
        impact=Impact.SERVICE,
        summary=f"{slo.title} SLO of the gateway in {{region}} has spent its {slo.window_days}-day error budget",
        description=(
            f"In {{region}}, {{value}} of the {slo.window_days}-day error budget of the {slo.kind} SLO "
            f"({slo.objective * 100:.4g}%) is left: more {slo.failures} than the objective allows. "
            "Freeze risky releases until the budget recovers. Gateway versions serving there: {versions}."
        ),
        output_labels=("region",),
        for_seconds=900,
        value_format=ValueFormat.PERCENT,
        labels={"slo": slo.kind},
    )


def slo_groups(scope: Scope) -> list[RuleGroup]:
    return [slo_group(scope, slo) for slo in slos(scope)]
