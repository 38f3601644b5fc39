"""/metrics exposition: every sample of the default registry, with the instance's version, color and
region added. A sample that already has one of those labels (e.g. `python_info{version=...}`) keeps its
value as `exported_<name>`, Prometheus' own convention for clashing target labels."""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from prometheus_client import REGISTRY, generate_latest
from prometheus_client.metrics_core import Metric
from prometheus_client.registry import Collector, CollectorRegistry
from prometheus_client.samples import Sample


class LabelledRegistry(Collector):
    """A read-only view of `registry` whose samples all carry `labels` (e.g. version, color, region)."""

    def __init__(self, labels: Mapping[str, str], registry: CollectorRegistry = REGISTRY) -> None:
        self._labels = dict(labels)
        self._registry = registry

    def collect(self) -> Iterable[Metric]:
        for metric in self._registry.collect():
            out = Metric(metric.name, metric.documentation, metric.type, metric.unit)
            out.samples = [
                Sample(s.name, self._merge(s.labels), s.value, s.timestamp, s.exemplar, s.native_histogram)
                for s in metric.samples
            ]
            yield out

    def _merge(self, labels: dict[str, str]) -> dict[str, str]:
        if not labels:
            return self._labels
        merged = {(f"exported_{k}" if k in self._labels else k): v for k, v in labels.items()}
        merged.update(self._labels)
        return merged


def render_metrics(view: LabelledRegistry) -> bytes:
    """Prometheus text format 0.0.4 (`prometheus_client.CONTENT_TYPE_LATEST`)."""
    return generate_latest(view)
