"""The generic micro-batcher: coalescing, no added latency for a lone call, limits, errors, cancellation."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Sequence

import pytest

from runtime.streaming import BatchError, MicroBatcher


class Recorder:
    def __init__(self, delay: float = 0.0) -> None:
        self.calls: list[list[int]] = []
        self.delay = delay

    async def __call__(self, items: Sequence[int]) -> list[int]:
        self.calls.append(list(items))
        if self.delay:
            await asyncio.sleep(self.delay)
        return [i * 10 for i in items]


async def test_concurrent_submits_in_one_tick_are_one_batch() -> None:
    flush = Recorder()
    batcher = MicroBatcher(flush)
    results = await asyncio.gather(*(batcher.submit(i) for i in range(50)))
    assert results == [i * 10 for i in range(50)]
    assert flush.calls == [list(range(50))]


async def test_lone_submit_is_not_delayed() -> None:
    flush = Recorder()
    batcher = MicroBatcher(flush)
    started = time.perf_counter()
    for i in range(200):
        assert await batcher.submit(i) == i * 10
    per_call = (time.perf_counter() - started) / 200
    assert len(flush.calls) == 200  # sequential callers never wait for company
    assert per_call < 0.002  # one loop hop, not a timer


async def test_an_eager_lone_caller_flushes_in_its_first_step() -> None:
    for eager, calls_after_one_step in ((True, [[7]]), (False, [])):
        flush = Recorder()
        task = asyncio.ensure_future(MicroBatcher(flush, eager=eager).submit(7))
        await asyncio.sleep(0)  # the task runs one step
        assert flush.calls == calls_after_one_step, eager
        assert await task == 70


async def test_eager_callers_gather_while_a_flush_is_in_flight() -> None:
    flush = Recorder(delay=0.01)
    batcher = MicroBatcher(flush, eager=True)
    assert await asyncio.gather(*(batcher.submit(i) for i in range(5))) == [0, 10, 20, 30, 40]
    assert flush.calls == [[0], [1, 2, 3, 4]]  # the first went at once, the rest waited together
    assert await batcher.submit(5) == 50  # idle again: alone at once
    assert flush.calls[-1] == [5]


async def test_max_items_splits_batches() -> None:
    flush = Recorder()
    batcher = MicroBatcher(flush, max_items=8)
    await asyncio.gather(*(batcher.submit(i) for i in range(20)))
    assert [len(c) for c in flush.calls] == [8, 8, 4]
    assert sorted(i for c in flush.calls for i in c) == list(range(20))


async def test_max_delay_collects_callers_from_later_ticks() -> None:
    flush = Recorder()
    batcher = MicroBatcher(flush, max_delay=0.05)

    async def late(i: int) -> int:
        await asyncio.sleep(0.01)
        return await batcher.submit(i)

    results = await asyncio.gather(batcher.submit(0), late(1), late(2))
    assert results == [0, 10, 20]
    assert flush.calls == [[0, 1, 2]]


async def test_full_batch_flushes_before_max_delay() -> None:
    flush = Recorder()
    batcher = MicroBatcher(flush, max_items=4, max_delay=5.0)
    started = time.perf_counter()
    await asyncio.gather(*(batcher.submit(i) for i in range(4)))
    assert time.perf_counter() - started < 1.0
    assert flush.calls == [[0, 1, 2, 3]]


async def test_error_reaches_every_caller_of_the_batch() -> None:
    async def broken(items: Sequence[int]) -> list[int]:
        raise ConnectionError("down")

    batcher = MicroBatcher(broken)
    results = await asyncio.gather(*(batcher.submit(i) for i in range(3)), return_exceptions=True)
    assert all(isinstance(r, ConnectionError) for r in results)


@pytest.mark.parametrize("eager", [False, True])
async def test_wrong_result_count_is_an_error(eager: bool) -> None:
    async def wrong(items: Sequence[int]) -> list[int]:
        return [1] * (len(items) + 1)

    batcher = MicroBatcher(wrong, eager=eager)
    results = await asyncio.gather(batcher.submit(1), batcher.submit(2), return_exceptions=True)
    assert all(isinstance(r, BatchError) for r in results)
    assert batcher.in_flight == 0  # a failed flush is no longer in flight: the next caller goes at once


async def test_cancelled_caller_does_not_break_the_batch() -> None:
    flush = Recorder(delay=0.05)
    batcher = MicroBatcher(flush)
    doomed = asyncio.create_task(batcher.submit(1))
    survivor = asyncio.create_task(batcher.submit(2))
    await asyncio.sleep(0.01)
    doomed.cancel()
    assert await survivor == 20
    with pytest.raises(asyncio.CancelledError):
        await doomed
    await batcher.aclose()
    assert flush.calls == [[1, 2]]


def test_rejects_bad_limits() -> None:
    with pytest.raises(ValueError):
        MicroBatcher(Recorder(), max_items=0)
    with pytest.raises(ValueError):
        MicroBatcher(Recorder(), max_delay=-1)


async def test_leader_cancelled_before_the_flush_still_serves_the_others() -> None:
    flush = Recorder()
    batcher = MicroBatcher(flush)
    leader = asyncio.create_task(batcher.submit(1))
    follower = asyncio.create_task(batcher.submit(2))
    await asyncio.sleep(0)  # both are queued; the leader is yielding for company
    leader.cancel()
    assert await follower == 20
    with pytest.raises(asyncio.CancelledError):
        await leader
    assert flush.calls == [[1, 2]]


async def test_lone_cancelled_caller_leaves_no_batch_behind() -> None:
    flush = Recorder()
    batcher = MicroBatcher(flush)
    lone = asyncio.create_task(batcher.submit(1))
    await asyncio.sleep(0)
    lone.cancel()
    with pytest.raises(asyncio.CancelledError):
        await lone
    assert await batcher.submit(2) == 20
    assert flush.calls == [[2]]
