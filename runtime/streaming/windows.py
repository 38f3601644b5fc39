"""Event-time windows over a mergeable aggregate: tumbling (fixed, non-overlapping, epoch-aligned) and
sliding (a window of `size` seconds advancing by `step`, kept as `step`-wide panes merged on read, so an
item is folded once however many windows it belongs to)."""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Generic, Protocol, TypeVar

E = TypeVar("E", contravariant=True)
A = TypeVar("A")
Item = TypeVar("Item")


class Aggregator(Protocol[E, A]):
    """A monoid of aggregates: `zero()` is empty, `add` folds an item in, `merge` folds another aggregate
    in. `add` and `merge` may mutate their first argument."""

    def zero(self) -> A: ...

    def add(self, acc: A, item: E) -> None: ...

    def merge(self, into: A, other: A) -> None: ...


@dataclass(frozen=True, slots=True)
class Window(Generic[A]):
    start: float
    end: float
    value: A


def _pane_start(ts: float, size: float) -> float:
    return math.floor(ts / size) * size


class TumblingWindows(Generic[Item, A]):
    """Windows [k*size, (k+1)*size). A window closes once the watermark passes its end plus
    `allowed_lateness`; items for a closed window are refused (counted by the caller)."""

    def __init__(
        self,
        size: float,
        aggregator: Aggregator[Item, A],
        *,
        keep: int = 6,
        allowed_lateness: float = 0.0,
        on_close: Callable[[Window[A]], None] | None = None,
    ) -> None:
        if size <= 0:
            raise ValueError("size must be > 0")
        self.size = size
        self._agg = aggregator
        self._keep = keep
        self._lateness = allowed_lateness
        self._on_close = on_close
        self._open: dict[float, A] = {}
        self._closed: list[Window[A]] = []
        self._watermark = -math.inf

    def add(self, ts: float, item: Item) -> bool:
        start = _pane_start(ts, self.size)
        if start + self.size + self._lateness <= self._watermark:
            return False
        acc = self._open.get(start)
        if acc is None:
            acc = self._open[start] = self._agg.zero()
        self._agg.add(acc, item)
        return True

    def advance(self, watermark: float) -> list[Window[A]]:
        """Move the watermark (monotonic); returns the windows this closed, oldest first."""
        self._watermark = max(self._watermark, watermark)
        done = sorted(s for s in self._open if s + self.size + self._lateness <= self._watermark)
        closed = [Window(s, s + self.size, self._open.pop(s)) for s in done]
        for window in closed:
            self._closed.append(window)
            if self._on_close is not None:
                self._on_close(window)
        del self._closed[: max(0, len(self._closed) - self._keep)]
        return closed

    @property
    def closed(self) -> list[Window[A]]:
        """The most recent closed windows, oldest first."""
        return list(self._closed)

    def current(self, now: float) -> Window[A]:
        """The (still open) window containing `now`."""
        start = _pane_start(now, self.size)
        return Window(start, start + self.size, self._open.get(start, self._agg.zero()))


class SlidingWindow(Generic[Item, A]):
    """The aggregate over [now - size, now), at `step` resolution."""

    def __init__(self, size: float, step: float, aggregator: Aggregator[Item, A]) -> None:
        if step <= 0 or size < step:
            raise ValueError("need 0 < step <= size")
        self.size = size
        self.step = step
        self._agg = aggregator
        self._panes: dict[float, A] = {}
        self._horizon = -math.inf  # panes starting before this are gone

    def add(self, ts: float, item: Item) -> bool:
        start = _pane_start(ts, self.step)
        if start < self._horizon:
            return False
        acc = self._panes.get(start)
        if acc is None:
            acc = self._panes[start] = self._agg.zero()
        self._agg.add(acc, item)
        return True

    def advance(self, now: float) -> None:
        """Drop panes wholly outside the window ending at `now`."""
        self._horizon = max(self._horizon, _pane_start(now - self.size, self.step) + self.step)
        for start in [s for s in self._panes if s < self._horizon]:
            del self._panes[start]

    def value(self, now: float) -> Window[A]:
        """The merged aggregate of the panes overlapping [now - size, now] (pane resolution)."""
        low = _pane_start(now - self.size, self.step) + self.step
        total = self._agg.zero()
        for start in sorted(self._panes):
            if low <= start <= now:
                self._agg.merge(total, self._panes[start])
        return Window(low, now, total)
