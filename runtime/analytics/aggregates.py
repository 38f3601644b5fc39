"""Real-time playback aggregates per content: concurrent viewers, mean bitrate, rebuffer ratio, errors and
event counts, over a sliding window (the "now" view) and tumbling windows (closed reporting periods).

Label cardinality is bounded: at most `max_contents` contents are tracked by name per window, the rest
are folded into `other`."""

from __future__ import annotations

import threading
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from runtime.analytics.events import EventType, PlaybackEvent
from runtime.streaming.windows import SlidingWindow, TumblingWindows, Window

OTHER = "other"


@dataclass(slots=True)
class ContentStats:
    events: int = 0
    errors: int = 0
    bitrate_kbps_sum: float = 0.0
    bitrate_samples: int = 0
    played_seconds: float = 0.0
    buffering_seconds: float = 0.0
    # session -> (time of its latest event, still playing after it)
    sessions: dict[str, tuple[float, bool]] = field(default_factory=dict)

    def merge(self, other: ContentStats) -> None:
        self.events += other.events
        self.errors += other.errors
        self.bitrate_kbps_sum += other.bitrate_kbps_sum
        self.bitrate_samples += other.bitrate_samples
        self.played_seconds += other.played_seconds
        self.buffering_seconds += other.buffering_seconds
        for session, seen in other.sessions.items():
            mine = self.sessions.get(session)
            if mine is None or seen[0] >= mine[0]:
                self.sessions[session] = seen

    @property
    def concurrent_viewers(self) -> int:
        return sum(1 for _, playing in self.sessions.values() if playing)

    @property
    def bitrate_bps(self) -> float:
        return self.bitrate_kbps_sum * 1000 / self.bitrate_samples if self.bitrate_samples else 0.0

    @property
    def rebuffer_ratio(self) -> float:
        total = self.played_seconds + self.buffering_seconds
        return self.buffering_seconds / total if total > 0 else 0.0

    def summary(self) -> dict[str, Any]:
        return {
            "concurrent_viewers": self.concurrent_viewers,
            "bitrate_bps": round(self.bitrate_bps, 3),
            "rebuffer_ratio": round(self.rebuffer_ratio, 6),
            "errors": self.errors,
            "events": self.events,
        }


Stats = dict[str, ContentStats]


class PlaybackAggregator:
    """The window aggregate: stats per content, capped at `max_contents` names (then `other`)."""

    def __init__(self, max_contents: int) -> None:
        self.max_contents = max_contents

    def zero(self) -> Stats:
        return {}

    def _slot(self, acc: Stats, content: str) -> ContentStats:
        stats = acc.get(content)
        if stats is None:
            if len(acc) >= self.max_contents and content != OTHER:
                return self._slot(acc, OTHER)
            stats = acc[content] = ContentStats()
        return stats

    def add(self, acc: Stats, item: PlaybackEvent) -> None:
        stats = self._slot(acc, item.content_id)
        stats.events += 1
        if item.type is EventType.ERROR:
            stats.errors += 1
        if item.bitrate_kbps is not None:
            stats.bitrate_kbps_sum += item.bitrate_kbps
            stats.bitrate_samples += 1
        stats.played_seconds += item.played_seconds
        stats.buffering_seconds += item.buffering_seconds
        seen = stats.sessions.get(item.session_id)
        if seen is None or item.ts >= seen[0]:
            stats.sessions[item.session_id] = (item.ts, item.type is not EventType.STOP)

    def merge(self, into: Stats, other: Stats) -> None:
        for content, stats in other.items():
            self._slot(into, content).merge(stats)


class RealtimeAnalytics:
    """Folds events into a sliding and a tumbling window; `snapshot()` is what /v1/analytics/realtime
    returns and what the metrics collector exports. Safe to read from the scrape thread."""

    def __init__(
        self,
        *,
        tumbling_seconds: float,
        sliding_seconds: float,
        sliding_step_seconds: float,
        max_contents: int,
        keep_closed: int = 6,
    ) -> None:
        agg = PlaybackAggregator(max_contents)
        self.sliding: SlidingWindow[PlaybackEvent, Stats] = SlidingWindow(
            sliding_seconds, sliding_step_seconds, agg
        )
        self.tumbling: TumblingWindows[PlaybackEvent, Stats] = TumblingWindows(
            tumbling_seconds, agg, keep=keep_closed
        )
        self.late_events = 0
        self._lock = threading.Lock()
        self._now = 0.0
        self._sliding_view: Window[Stats] = Window(0.0, 0.0, {})

    def ingest(self, events: Sequence[PlaybackEvent]) -> int:
        """Fold `events` in; returns how many were too late for every window (dropped)."""
        late = 0
        with self._lock:
            for event in events:
                in_sliding = self.sliding.add(event.ts, event)
                in_tumbling = self.tumbling.add(event.ts, event)
                if not (in_sliding or in_tumbling):
                    late += 1
            self.late_events += late
        return late

    def tick(self, now: float) -> None:
        """Advance both windows to `now` and refresh the sliding view read by scrapes and the API."""
        with self._lock:
            self._now = now
            self.sliding.advance(now)
            self.tumbling.advance(now)
            self._sliding_view = self.sliding.value(now)

    def sliding_view(self) -> Window[Stats]:
        return self._sliding_view

    def last_closed(self) -> Window[Stats] | None:
        with self._lock:
            closed = self.tumbling.closed
        return closed[-1] if closed else None

    def snapshot(self) -> dict[str, Any]:
        view = self._sliding_view
        last = self.last_closed()
        return {
            "as_of": self._now,
            "sliding": {
                "window_seconds": self.sliding.size,
                "start": view.start,
                "end": view.end,
                "contents": {c: s.summary() for c, s in sorted(view.value.items())},
            },
            "tumbling": {
                "window_seconds": self.tumbling.size,
                "last_closed": None
                if last is None
                else {
                    "start": last.start,
                    "end": last.end,
                    "contents": {c: s.summary() for c, s in sorted(last.value.items())},
                },
            },
            "late_events": self.late_events,
        }
