"""HTTP metrics of the gateway (names and labels per the StreamGate metrics contract), on the default
registry. version/color/region are added at exposition time by `LabelledRegistry`.

Request count, latency and in-flight sit on the hottest path, where prometheus_client's children (a lock
per `inc`/`observe`, several checks) cost more than the cache lookup. They are plain ints and floats in
`HttpStats`, updated on the event-loop thread and exported by a collector with the same names a
Counter/Histogram/Gauge would have."""

from __future__ import annotations

import bisect
import threading
from collections.abc import Iterator

from prometheus_client import REGISTRY, Counter, Gauge
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, HistogramMetricFamily
from prometheus_client.metrics_core import Metric
from prometheus_client.registry import Collector

# 0.3 s is the default latency objective of the SLO rules.
LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.3, 0.5, 1.0, 2.5, 5.0, 10.0)
METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "DELETE", "PATCH", "OPTIONS"})
STATUS_CLASSES = ("2xx", "3xx", "4xx", "5xx")
_MAX_SERIES = 4096  # route templates x methods x status classes stay far below this

BUILD_INFO = Gauge("streamgate_build_info", "Always 1; version/color/region are its labels")
FAULTS_INJECTED = Counter(
    "streamgate_faults_injected_total", "Faults injected for drills", ["kind"]
)  # error | latency


def status_class(status: int) -> str:
    return f"{status // 100}xx" if 100 <= status < 600 else "5xx"


class _Series:
    __slots__ = ("buckets", "count", "sum")

    def __init__(self) -> None:
        self.count = 0
        self.sum = 0.0
        self.buckets = [0] * (len(LATENCY_BUCKETS) + 1)  # the last one is +Inf


class HttpStats(Collector):
    """streamgate_http_requests_total, streamgate_http_request_duration_seconds (histogram) and
    streamgate_http_requests_in_flight."""

    def __init__(self) -> None:
        self.in_flight = 0
        self._series: dict[tuple[str, str, int], _Series] = {}
        self._lock = threading.Lock()  # only taken when a new series appears and while collecting

    def observe(self, route: str, method: str, status: int, seconds: float) -> None:
        key = (route, method, status)
        series = self._series.get(key)
        if series is None:
            if len(self._series) >= _MAX_SERIES:
                return
            with self._lock:
                series = self._series.setdefault(key, _Series())
        series.count += 1
        series.sum += seconds
        series.buckets[bisect.bisect_left(LATENCY_BUCKETS, seconds)] += 1

    def collect(self) -> Iterator[Metric]:
        labels = ["route", "method", "status_class"]
        requests = CounterMetricFamily(
            "streamgate_http_requests",
            "HTTP requests by route template, method and status class",
            labels=labels,
        )
        duration = HistogramMetricFamily(
            "streamgate_http_request_duration_seconds",
            "HTTP request duration until the last body byte was handed to the server",
            labels=labels,
        )
        # Several statuses share a class: sum them per (route, method, class).
        merged: dict[tuple[str, str, str], tuple[int, float, list[int]]] = {}
        with self._lock:
            items = list(self._series.items())
        for (route, method, status), s in items:
            key = (route, method if method in METHODS else "other", status_class(status))
            count, total, buckets = merged.get(key, (0, 0.0, [0] * len(s.buckets)))
            merged[key] = (
                count + s.count,
                total + s.sum,
                [a + b for a, b in zip(buckets, s.buckets, strict=True)],
            )
        # Every status class of every (route, method) is exported, at 0 until it happens: a series that
        # appears only with its first 5xx has no rate() over its first window, so a ratio over that window
        # would read a failing canary as 100% successful. `other` (requests failed before routing) is
        # exported from the start for the same reason.
        empty = (0, 0.0, [0] * (len(LATENCY_BUCKETS) + 1))
        for route, method in {(r, m) for r, m, _ in merged} | {("other", "GET")}:
            for cls in STATUS_CLASSES:
                merged.setdefault((route, method, cls), empty)
        for key, (count, total, buckets) in sorted(merged.items()):
            requests.add_metric(list(key), count)
            cumulative, running = [], 0
            for bound, n in zip((*LATENCY_BUCKETS, float("inf")), buckets, strict=True):
                running += n
                cumulative.append((_bound(bound), running))
            duration.add_metric(list(key), cumulative, total)
        in_flight = GaugeMetricFamily("streamgate_http_requests_in_flight", "HTTP requests being handled")
        in_flight.add_metric([], self.in_flight)
        yield requests
        yield duration
        yield in_flight


class IntCounter:
    """One child of an `IntCounters` family: `child.value += n` on the event-loop thread."""

    __slots__ = ("value",)

    def __init__(self) -> None:
        self.value = 0


class IntCounters(Collector):
    """A labelled counter whose children are plain ints, for per-request counts (see the module doc):
    `c = FAMILY.labels("allowed", "none")` once, then `c.value += 1` per request."""

    def __init__(self, name: str, documentation: str, labelnames: tuple[str, ...] = ()) -> None:
        self.name = name.removesuffix("_total")
        self.documentation = documentation
        self.labelnames = labelnames
        self._children: dict[tuple[str, ...], IntCounter] = {}
        self._lock = threading.Lock()

    def labels(self, *values: str) -> IntCounter:
        if len(values) != len(self.labelnames):
            raise ValueError(f"{self.name} takes labels {self.labelnames}, got {values}")
        child = self._children.get(values)
        if child is None:
            with self._lock:
                child = self._children.setdefault(values, IntCounter())
        return child

    def describe(self) -> Iterator[Metric]:
        yield CounterMetricFamily(self.name, self.documentation, labels=self.labelnames)

    def collect(self) -> Iterator[Metric]:
        family = CounterMetricFamily(self.name, self.documentation, labels=self.labelnames)
        with self._lock:
            children = list(self._children.items())
        for values, child in children:
            family.add_metric(list(values), child.value)
        yield family


def int_counters(name: str, documentation: str, labelnames: tuple[str, ...] = ()) -> IntCounters:
    """An `IntCounters` family registered on the default registry (a name can be registered once)."""
    family = IntCounters(name, documentation, labelnames)
    REGISTRY.register(family)
    return family


def _bound(value: float) -> str:
    return "+Inf" if value == float("inf") else repr(value)


HTTP_STATS = HttpStats()
REGISTRY.register(HTTP_STATS)
