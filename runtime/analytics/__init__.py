"""Playback analytics: event validation, real-time aggregates over tumbling and sliding windows, and their
export as Prometheus metrics."""

from runtime.analytics.aggregates import ContentStats, PlaybackAggregator, RealtimeAnalytics
from runtime.analytics.events import EventError, PlaybackEvent, validate_batch

__all__ = [
    "ContentStats",
    "EventError",
    "PlaybackAggregator",
    "PlaybackEvent",
    "RealtimeAnalytics",
    "validate_batch",
]
