"""Small PromQL builders and the rendering scope (one region's Prometheus, or one for all regions).

Two deployments read the same definitions:
- per cluster (Kubernetes): each region's Prometheus sees only its own region. Gateway and batch-job
  series carry their own `region` label; exporter series (`up`, Redis, kube-state-metrics) do not, so the
  renderer stamps `region` on every rule, and selectors of self-labelled metrics match that region only.
- one Prometheus for all regions (the local platform): every series carries `region` (the gateway sets it,
  the scrape config adds it as a target label to exporters), and rules aggregate `by (region)`.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

from infra.alerts.errors import UnknownRegionError
from infra.config import StackConfig

_UNITS = (("d", 86400), ("h", 3600), ("m", 60), ("s", 1))


def duration(seconds: int) -> str:
    """A Prometheus duration, compound where needed: 3600 → 1h, 23400 → 6h30m, 90 → 1m30s."""
    if seconds <= 0:
        return "0s"
    parts = []
    for unit, size in _UNITS:
        count, seconds = divmod(seconds, size)
        if count:
            parts.append(f"{count}{unit}")
    return "".join(parts)


def number(value: float) -> str:
    """A threshold as PromQL reads it, without float noise (14.4 * 0.001 → 0.0144)."""
    text = f"{value:.10g}"
    return text if "e" not in text else repr(float(text))


def matchers(**equal: str) -> str:
    return ", ".join(f"{name}={json.dumps(value)}" for name, value in equal.items())


@dataclass(frozen=True)
class Scope:
    """Where rules are evaluated: `region` for one cluster's Prometheus, None for one that sees all."""

    cfg: StackConfig
    region: str | None = None

    def __post_init__(self) -> None:
        names = [r.name for r in self.cfg.regions]
        if self.region is not None and self.region not in names:
            raise UnknownRegionError(
                f"region {self.region!r} is not in stack {self.cfg.stack} (regions: {', '.join(names)})"
            )

    @property
    def regions(self) -> list[str]:
        """The regions whose series this Prometheus sees."""
        names = [r.name for r in self.cfg.regions]
        return names if self.region is None else [self.region]

    def labelled(self, metric: str, extra: str = "", **equal: str) -> str:
        """A selector of a metric that carries its own `region` label (gateway, pushed batch metrics)."""
        if self.region is not None:
            equal = {**equal, "region": self.region}
        return _selector(metric, extra, equal)

    def unlabelled(self, metric: str, extra: str = "", **equal: str) -> str:
        """A selector of an exporter metric; its region comes from the cluster (or the scrape config)."""
        return _selector(metric, extra, equal)

    def absent_per_region(self, metric: str, labelled: bool, **equal: str) -> str:
        """`absent()` for each region this Prometheus watches; each result carries that region's label.

        Per cluster an exporter's selector cannot name the region (its series lack it): the rule label adds it.
        """
        if self.region is not None:
            select = self.labelled if labelled else self.unlabelled
            return f"absent({select(metric, **equal)})"
        return " or ".join(
            f"absent({_selector(metric, '', {**equal, 'region': name})})" for name in self.regions
        )


def regex(label: str, pattern: str) -> str:
    """A regex matcher (`tier=~"l1|l2"`), for the `extra` argument of the selectors."""
    return f"{label}=~{json.dumps(pattern)}"


def _selector(metric: str, extra: str, equal: dict[str, str]) -> str:
    inner = ", ".join(part for part in (matchers(**equal), extra) if part)
    return f"{metric}{{{inner}}}" if inner else metric


def by(*labels: str) -> str:
    return f"by ({', '.join(labels)})"
