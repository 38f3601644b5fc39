"""How a rollout looks on a terminal: its status (drawn once, or redrawn in place by `--watch`)."""

from __future__ import annotations

import time
from typing import Any

from rich.console import Group, RenderableType
from rich.markup import escape
from rich.table import Table
from rich.text import Text

PHASE_COLORS = {
    "succeeded": "green",
    "rolled-back": "red",
    "aborted": "red",
    "failed": "red",
    "rolling-back": "red",
    "paused": "yellow",
    "awaiting-promotion": "yellow",
}


def fmt_value(value: float | None, name: str) -> str:
    if value is None:
        return "no data"
    if name == "latency-p99":
        return f"{value * 1000:.0f}ms"
    if name == "success-rate":
        return f"{value:.2%}"
    return f"{value:.3g}"


def weights_text(weights: dict[str, int] | str) -> str:
    """`blue 80% · green 20%`, never a raw dict."""
    if isinstance(weights, str):
        return weights
    return " · ".join(f"{color} {weight}%" for color, weight in weights.items())


def bar(weight: int, width: int = 20) -> str:
    filled = round(weight * width / 100)
    return "█" * filled + "░" * (width - filled)


def steps_text(steps: list[int], index: int) -> Text:
    """5% ✓ → 10% ✓ → [25%] → 50% → 100%: done, current and to come."""
    text = Text()
    for i, step in enumerate(steps):
        if i:
            text.append(" → ", style="dim")
        if i < index:
            text.append(f"{step}% ✓", style="green")
        elif i == index:
            text.append(f"[{step}%]", style="bold")
        else:
            text.append(f"{step}%", style="dim")
    return text


def status_view(stack: str, status: dict[str, Any]) -> RenderableType:
    region, rollout = status["region"], status["rollout"]
    live = status["live_weights"]
    if rollout is None:
        return Text(f"no rollout recorded in {stack}/{region}; live weights: {weights_text(live)}")
    phase = rollout["phase"]
    color = PHASE_COLORS.get(phase, "cyan")
    head = Table.grid(padding=(0, 2))
    head.add_column(style="bold")
    head.add_column()
    head.add_row("phase", f"[{color}]{phase}[/] — {escape(rollout['reason'])}")
    head.add_row("steps", steps_text(rollout["steps"], rollout["step_index"]))
    head.add_row("canary", f"{bar(rollout['weight'])} {rollout['weight']}% on {rollout['canary_color']}")
    head.add_row("weights", f"state {weights_text(rollout['weights'])}; router {weights_text(live)}")
    head.add_row("failed checks", f"{rollout['failed_checks']}/{rollout['failure_threshold']}")
    head.add_row("controller", status["controller"] or "none running")
    requests = [k for k, v in status["control"].items() if v is True]
    if requests:
        head.add_row("requests", f"{', '.join(requests)} ({escape(status['control'].get('actor') or '?')})")
    parts: list[RenderableType] = [
        Text(
            f"{rollout['kind']} {rollout['version']} in {stack}/{region} (stable {rollout['stable_version']})",
            style="bold",
        ),
        head,
    ]
    analysis = rollout.get("last_analysis")
    if analysis:
        checks = Table("check", "value", "outcome", title="last analysis", title_justify="left")
        for c in analysis["checks"]:
            mark = "[green]pass[/green]" if c["outcome"] == "pass" else f"[red]{c['outcome']}[/red]"
            checks.add_row(c["name"], fmt_value(c.get("value"), c["name"]), mark)
        parts.append(checks)
    recent = Table("time", "event", "weight", "detail", title="recent", title_justify="left")
    for r in rollout["recent"]:
        recent.add_row(
            time.strftime("%H:%M:%S", time.localtime(r["at"])),
            r["event"],
            f"{r['weight']}%",
            escape(r["reason"]),
        )
    parts.append(recent)
    return Group(*parts)
