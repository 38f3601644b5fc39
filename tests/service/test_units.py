"""Pure parts: range and conditional rules, tokens, frames, windows, the shedding queue, exposition."""

from __future__ import annotations

import asyncio
import time

import pytest
from prometheus_client import CollectorRegistry, Counter

from runtime.analytics import RealtimeAnalytics
from runtime.analytics.events import PlaybackEvent
from runtime.observability import LabelledRegistry, render_metrics
from runtime.service import frames
from runtime.service.errors import TokenError
from runtime.service.ranges import ByteRange, Unsatisfiable, if_range_allows, none_match, parse_range
from runtime.service.tokens import Scope, TokenSigner
from runtime.streaming import BoundedQueue, SlidingWindow, StreamProcessor, TumblingWindows


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        ("bytes=0-9", ByteRange(0, 9)),
        ("bytes=5-", ByteRange(5, 99)),
        ("bytes=-10", ByteRange(90, 99)),
        ("bytes=-500", ByteRange(0, 99)),
        ("bytes=90-1000", ByteRange(90, 99)),
        ("bytes= 3 - 4", ByteRange(3, 4)),
        ("bytes=0-1,5-6", None),  # multi-range: whole representation
        ("items=0-1", None),
        ("bytes=9-3", None),  # invalid: ignored
        ("bytes=a-b", None),
        ("bytes=-", None),
        ("garbage", None),
    ],
)
def test_parse_range(header: str, expected: ByteRange | None) -> None:
    assert parse_range(header, 100) == expected


@pytest.mark.parametrize("header", ["bytes=100-", "bytes=100-200", "bytes=-0"])
def test_unsatisfiable_ranges(header: str) -> None:
    with pytest.raises(Unsatisfiable):
        parse_range(header, 100)


def test_conditionals() -> None:
    assert none_match('"a", "b"', '"b"')
    assert none_match('W/"b"', '"b"')  # If-None-Match compares weakly
    assert none_match("*", '"b"')
    assert not none_match('"c"', '"b"')
    assert if_range_allows(None, '"b"')
    assert if_range_allows('"b"', '"b"')
    assert not if_range_allows('W/"b"', '"b"')  # If-Range needs a strong match


def test_tokens_sign_expire_scope_and_rotate() -> None:
    old = TokenSigner(b"k" * 32)
    signer = TokenSigner(b"n" * 32, [b"k" * 32])
    token = signer.issue("alice", Scope.VIEWER, 60, now=1000)
    claims = signer.verify(token, now=1030)
    assert (claims.sub, claims.scope, claims.exp, claims.mfa) == ("alice", Scope.VIEWER, 1060, None)
    assert signer.verify(old.issue("bob", Scope.ADMIN, 60), now=time.time()).sub == "bob"  # previous key
    with pytest.raises(TokenError, match="expired"):
        signer.verify(token, now=1060)
    with pytest.raises(TokenError, match="signature"):
        old.verify(token, now=1030)  # the old key alone does not accept the new key's tokens
    tampered = token.split(".")
    tampered[1] = tampered[1][:-2] + ("AA" if tampered[1][-2:] != "AA" else "BB")
    with pytest.raises(TokenError):
        signer.verify(".".join(tampered), now=1030)
    with pytest.raises(TokenError):
        signer.verify("not-a-token")
    assert Scope.ADMIN.allows(Scope.VIEWER) and not Scope.VIEWER.allows(Scope.ADMIN)
    step_up = signer.issue("alice", Scope.ADMIN, 60, mfa_at=1000, now=1000)
    assert signer.verify(step_up, now=1010).stepped_up(1010, 300)
    assert not signer.verify(step_up, now=1010).stepped_up(1400, 300)
    with pytest.raises(TokenError):
        TokenSigner(b"short")


def test_frames_and_decoded_memo() -> None:
    body = b"x" * 1000
    frame = frames.encode(body, "video/mp2t")
    obj = frames.decode(frame)
    assert (obj.body, obj.content_type, obj.size) == (body, "video/mp2t", 1000)
    assert obj.etag == frames.decode(frames.encode(body, "text/plain")).etag  # the tag is the body's
    assert obj.etag != frames.decode(frames.encode(b"y" * 1000, "video/mp2t")).etag
    memo = frames.DecodedFrames(max_bytes=5000)
    first = memo.decode("k", frame)
    assert memo.decode("k", frame) is first  # same frame object: served from the memo
    replaced = frames.encode(b"z" * 1000, "video/mp2t")
    assert memo.decode("k", replaced).body == b"z" * 1000  # another frame under the key: decoded afresh
    for i in range(5):
        memo.decode(f"other{i}", frames.encode(bytes(1000), "a/b"))
    assert memo._bytes <= 5000
    with pytest.raises(frames.ContentError):
        frames.decode(b"nope")


class _Sum:
    def zero(self) -> list[int]:
        return [0]

    def add(self, acc: list[int], item: int) -> None:
        acc[0] += item

    def merge(self, into: list[int], other: list[int]) -> None:
        into[0] += other[0]


def test_tumbling_windows_close_on_watermark_and_refuse_late_items() -> None:
    closed: list[tuple[float, int]] = []
    windows: TumblingWindows[int, list[int]] = TumblingWindows(
        10, _Sum(), keep=2, on_close=lambda w: closed.append((w.start, w.value[0]))
    )
    assert windows.add(1, 1) and windows.add(9.9, 2) and windows.add(10, 5)
    assert windows.advance(10) == [windows.closed[0]]
    assert closed == [(0, 3)]
    assert not windows.add(5, 100)  # its window is closed
    assert windows.current(12).value == [5]
    windows.advance(40)
    assert [w.start for w in windows.closed] == [0, 10]  # keep=2


def test_sliding_window_merges_panes_and_forgets_old_ones() -> None:
    window: SlidingWindow[int, list[int]] = SlidingWindow(60, 5, _Sum())
    for t, v in ((0, 1), (30, 2), (59, 4)):
        window.add(t, v)
    assert window.value(59).value == [7]
    window.advance(64)  # the pane [0, 5) leaves the window
    assert window.value(64).value == [6]
    assert not window.add(2, 100)  # older than the window: refused
    with pytest.raises(ValueError):
        SlidingWindow(5, 10, _Sum())


def test_realtime_analytics_concurrency_and_late_events() -> None:
    analytics = RealtimeAnalytics(
        tumbling_seconds=10, sliding_seconds=60, sliding_step_seconds=5, max_contents=2
    )

    def ev(kind: str, session: str, content: str, ts: float) -> PlaybackEvent:
        return PlaybackEvent.model_validate(
            {"type": kind, "session_id": session, "content_id": content, "ts": ts}
        )

    now = 1_000_000.0
    late = analytics.ingest(
        [
            ev("start", "a", "c1", now - 20),
            ev("heartbeat", "a", "c1", now - 10),
            ev("start", "b", "c1", now - 5),
            ev("stop", "b", "c1", now - 1),
            ev("start", "c", "c2", now - 1),
            ev("start", "d", "c3", now - 1),  # a third content: folded into `other`
        ]
    )
    assert late == 0
    analytics.tick(now)
    snap = analytics.snapshot()["sliding"]["contents"]
    assert snap["c1"]["concurrent_viewers"] == 1 and snap["c1"]["events"] == 4
    assert set(snap) == {"c1", "c2", "other"}
    assert analytics.ingest([ev("heartbeat", "z", "c1", now - 3600)]) == 1


async def test_bounded_queue_is_all_or_nothing_and_processor_drains() -> None:
    queue: BoundedQueue[int] = BoundedQueue(5)
    assert queue.offer([1, 2, 3])
    assert not queue.offer([4, 5, 6])  # would exceed: nothing enqueued
    assert len(queue) == 3
    seen: list[int] = []
    ticks: list[float] = []
    processor = StreamProcessor(queue, seen.extend, tick=ticks.append, tick_interval=0.05)
    processor.start()
    assert queue.offer([4, 5])
    await asyncio.sleep(0.15)
    assert seen == [1, 2, 3, 4, 5] and ticks
    assert queue.oldest_age() == 0.0
    queue.offer([6])
    await processor.stop(drain=True)
    assert seen[-1] == 6


def test_labelled_registry_adds_labels_and_renames_clashes() -> None:
    registry = CollectorRegistry()
    Counter("demo_total", "d", ["version"], registry=registry).labels("py").inc()
    Counter("plain_total", "p", registry=registry).inc(2)
    text = render_metrics(
        LabelledRegistry({"version": "1.0", "color": "blue", "region": "r1"}, registry)
    ).decode()
    assert 'demo_total{color="blue",exported_version="py",region="r1",version="1.0"} 1.0' in text
    assert 'plain_total{color="blue",region="r1",version="1.0"} 2.0' in text
