"""Metrics of event ingestion and the real-time aggregates, defined once on the default registry.

Aggregates are read at scrape time by a collector from the attached `RealtimeAnalytics` sources; the
`content` label is bounded to the `top` contents by concurrent viewers, the rest summed as `other`."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass

from prometheus_client import REGISTRY, Counter
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.metrics_core import Metric
from prometheus_client.registry import Collector

from runtime.analytics.aggregates import OTHER, ContentStats, RealtimeAnalytics

EVENTS_RECEIVED = Counter(
    "streamgate_events_received_total", "Playback events received, by validation result", ["result"]
)  # accepted | rejected
EVENTS_SHED = Counter(
    "streamgate_events_shed_total", "Valid events refused with 503 because the event queue was full"
)
EVENTS_LATE = Counter("streamgate_events_late_total", "Events too late for any open window")


@dataclass
class _Source:
    analytics: RealtimeAnalytics
    queue_depth: Callable[[], int]
    oldest_age: Callable[[], float]
    top: int


def _top(stats: dict[str, ContentStats], top: int) -> dict[str, ContentStats]:
    ranked = sorted(stats.items(), key=lambda kv: (-kv[1].concurrent_viewers, -kv[1].events, kv[0]))
    out = {name: s for name, s in ranked[:top] if name != OTHER}
    rest = [s for name, s in ranked if name not in out]
    if rest:
        other = ContentStats()
        for s in rest:
            other.merge(s)
        out[OTHER] = other
    return out


class AnalyticsCollector(Collector):
    def __init__(self) -> None:
        self._sources: list[_Source] = []
        self._lock = threading.Lock()

    def attach(
        self,
        analytics: RealtimeAnalytics,
        *,
        queue_depth: Callable[[], int],
        oldest_age: Callable[[], float],
        top: int,
    ) -> None:
        with self._lock:
            self._sources.append(_Source(analytics, queue_depth, oldest_age, top))

    def detach(self, analytics: RealtimeAnalytics) -> None:
        with self._lock:
            self._sources = [s for s in self._sources if s.analytics is not analytics]

    def collect(self) -> Iterator[Metric]:
        with self._lock:
            sources = list(self._sources)
        depth = GaugeMetricFamily("streamgate_events_queue_depth", "Events waiting for the stream processor")
        lag = GaugeMetricFamily(
            "streamgate_events_processing_lag_seconds", "Age of the oldest unprocessed event"
        )
        depth.add_metric([], float(sum(s.queue_depth() for s in sources)))
        lag.add_metric([], max((s.oldest_age() for s in sources), default=0.0))
        yield depth
        yield lag
        families = {
            "viewers": GaugeMetricFamily(
                "streamgate_analytics_concurrent_viewers",
                "Sessions playing (latest event not a stop) in the window",
                labels=["content", "window"],
            ),
            "bitrate": GaugeMetricFamily(
                "streamgate_analytics_bitrate_bits_per_second",
                "Mean reported bitrate in the window",
                labels=["content", "window"],
            ),
            "rebuffer": GaugeMetricFamily(
                "streamgate_analytics_rebuffer_ratio",
                "Buffering time / (buffering + playing time) in the window",
                labels=["content", "window"],
            ),
            "errors": GaugeMetricFamily(
                "streamgate_analytics_errors", "Playback errors in the window", labels=["content", "window"]
            ),
            "events": GaugeMetricFamily(
                "streamgate_analytics_events", "Playback events in the window", labels=["content", "window"]
            ),
        }
        for source in sources:
            windows = [("sliding", source.analytics.sliding_view().value)]
            last = source.analytics.last_closed()
            if last is not None:
                windows.append(("tumbling", last.value))
            for window, stats in windows:
                for content, s in _top(stats, source.top).items():
                    labels = [content, window]
                    families["viewers"].add_metric(labels, s.concurrent_viewers)
                    families["bitrate"].add_metric(labels, s.bitrate_bps)
                    families["rebuffer"].add_metric(labels, s.rebuffer_ratio)
                    families["errors"].add_metric(labels, s.errors)
                    families["events"].add_metric(labels, s.events)
        yield from families.values()


COLLECTOR = AnalyticsCollector()
REGISTRY.register(COLLECTOR)
