"""Observability of the gateway: Prometheus metrics with version/color/region on every series,
OpenTelemetry tracing with W3C trace context, and an on-demand CPU profiler."""

from runtime.observability.exposition import LabelledRegistry, render_metrics
from runtime.observability.profiling import CpuProfiler, ProfileBusyError, ProfileFormat
from runtime.observability.tracing import Tracing

__all__ = [
    "CpuProfiler",
    "LabelledRegistry",
    "ProfileBusyError",
    "ProfileFormat",
    "Tracing",
    "render_metrics",
]
