"""Benchmark of runtime.cache against its peers, measured in one run on the same machine.

- L1 hit: MultiLevelCache.get (an awaited L1 hit) and the bare L1 tier vs a plain dict get and
  cachetools.LRUCache.get. Floor: L1 hit <= 2x cachetools.
- L2 hit: MultiLevelCache.get with L1 disabled vs a raw redis.asyncio GET of the same value on the same
  kind of client. Floor: <= 1.3x the raw GET. Also 64 concurrent lookups (micro-batched into one MGET)
  vs 64 concurrent raw GETs.
- A read-mostly workload (95 % reads over Zipf-distributed keys, 5 % writes) through our cache and through
  cashews (memory + redis: its client-side-caching backend), and cashews' plain redis backend.

Rounds of each contender are interleaved and the median per-op time is reported, so noise from other work
on the machine hits every contender alike. Usage: bench_cache.py [--quick]. Last line: one JSON object.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import random
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

import cachetools
from cashews import Cache as CashewsCache
from cashews.backends.memory import Memory

from runtime.cache import CacheSettings, MultiLevelCache
from runtime.connections import redis_client
from tests.servers import redis_server

VALUE = b"x" * 1024  # a small manifest-sized value
L1_FLOOR = 2.0
L2_FLOOR = 1.3


async def _interleave(
    contenders: dict[str, Callable[[], Awaitable[float]]], rounds: int, *, percentile: float = 0.5
) -> dict[str, float]:
    """Run each contender's short chunk (returning ns/op) in turn, `rounds` times; a percentile per contender.

    Chunks are short and interleaved so that preemption by other processes on a shared machine hits every
    contender alike; CPU-bound contenders report a low percentile (the undisturbed cost, as timeit's min)."""
    samples: dict[str, list[float]] = {name: [] for name in contenders}
    for _ in range(rounds):
        for name, run in contenders.items():
            gc.disable()
            try:
                samples[name].append(await run())
            finally:
                gc.enable()
            await asyncio.sleep(0)  # let background tasks run, as a server's loop does between requests
    out = {}
    for name, values in samples.items():
        values.sort()
        out[name] = values[min(len(values) - 1, int(len(values) * percentile))]
    return out


async def bench_l1(url: str, quick: bool) -> dict[str, float]:
    n_keys, ops, rounds = 1000, 1000, (300 if quick else 1000)
    keys = [f"/vod/{i}/manifest.m3u8" for i in range(n_keys)]
    order = [keys[(i * 7919) % n_keys] for i in range(ops)]
    plain: dict[str, bytes] = dict.fromkeys(keys, VALUE)
    lru: cachetools.LRUCache[str, bytes] = cachetools.LRUCache(maxsize=n_keys * 2)
    for k in keys:
        lru[k] = VALUE
    client = redis_client(url)
    cache = MultiLevelCache(client, settings=CacheSettings(namespace="bench-l1", warm_top_n=0))
    await cache.start()
    for k in keys:
        await cache.set(k, VALUE)
    cashews = CashewsCache()
    cashews.setup("mem://?size=4000")
    for k in keys:
        await cashews.set(k, VALUE, expire=600)

    def sync_round(get: Callable[[str], object]) -> Callable[[], Awaitable[float]]:
        async def run() -> float:
            t0 = time.perf_counter_ns()
            for k in order:
                get(k)
            return (time.perf_counter_ns() - t0) / ops

        return run

    def async_round(get: Callable[[str], Awaitable[object]]) -> Callable[[], Awaitable[float]]:
        async def run() -> float:
            t0 = time.perf_counter_ns()
            for k in order:
                await get(k)
            return (time.perf_counter_ns() - t0) / ops

        return run

    assert await cache.get(keys[0]) == VALUE and (await cache.get_with_source(keys[1])).tier == "l1"
    result = await _interleave(
        {
            "dict_get_ns": sync_round(plain.get),
            "cachetools_get_ns": sync_round(lru.get),
            "l1_tier_get_ns": sync_round(cache.l1.get),
            "l1_hit_ns": async_round(cache.get),
            "cashews_mem_get_ns": async_round(cashews.get),
        },
        rounds,
        percentile=0.1,
    )
    assert cache.stats.l1_misses == 0, "the L1 benchmark must only hit L1"
    await cache.close()
    await client.aclose()
    await cashews.close()
    return result


async def bench_l2(url: str, quick: bool) -> dict[str, float]:
    n_keys, ops, rounds = 200, 20, (60 if quick else 400)
    keys = [f"/vod/{i}/manifest.m3u8" for i in range(n_keys)]
    order = [keys[i % n_keys] for i in range(ops)]
    ours_client, raw_client = redis_client(url), redis_client(url)
    settings = CacheSettings(namespace="bench-l2", l1_max_entries=0, warm_top_n=0, stats_enabled=False)
    cache = MultiLevelCache(ours_client, settings=settings)
    await cache.start()
    for k in keys:
        await cache.set(k, VALUE)
    raw_keys = {k: f"raw:{k}" for k in keys}
    for k in keys:
        await raw_client.set(raw_keys[k], VALUE)
    cashews = CashewsCache()
    cashews.setup(url, prefix="")
    for k in keys:
        await cashews.set(f"cw:{k}", VALUE, expire=600)

    async def ours() -> float:
        t0 = time.perf_counter_ns()
        for k in order:
            await cache.get(k)
        return (time.perf_counter_ns() - t0) / ops

    async def raw() -> float:
        t0 = time.perf_counter_ns()
        for k in order:
            await raw_client.get(raw_keys[k])
        return (time.perf_counter_ns() - t0) / ops

    async def cashews_redis() -> float:
        t0 = time.perf_counter_ns()
        for k in order:
            await cashews.get(f"cw:{k}")
        return (time.perf_counter_ns() - t0) / ops

    width = 64
    batches = [keys[i : i + width] for i in range(0, n_keys - width + 1, width)]

    async def ours_concurrent() -> float:
        t0 = time.perf_counter_ns()
        for _ in range(ops // (width * len(batches)) + 1):
            for batch in batches:
                await asyncio.gather(*(cache.get(k) for k in batch))
        done = (ops // (width * len(batches)) + 1) * width * len(batches)
        return (time.perf_counter_ns() - t0) / done

    async def raw_concurrent() -> float:
        t0 = time.perf_counter_ns()
        for _ in range(ops // (width * len(batches)) + 1):
            for batch in batches:
                await asyncio.gather(*(raw_client.get(raw_keys[k]) for k in batch))
        done = (ops // (width * len(batches)) + 1) * width * len(batches)
        return (time.perf_counter_ns() - t0) / done

    got = await cache.get_with_source(keys[0])
    assert got.value == VALUE and got.tier == "l2", got
    result = await _interleave(
        {
            "raw_get_ns": raw,
            "l2_hit_ns": ours,
            "cashews_redis_get_ns": cashews_redis,
            "raw_concurrent64_ns_per_get": raw_concurrent,
            "l2_concurrent64_ns_per_get": ours_concurrent,
        },
        rounds,
    )
    assert cache.stats.l2_misses == 0, "the L2 benchmark must only hit L2"
    await cache.close()
    await ours_client.aclose()
    await raw_client.aclose()
    await cashews.close()
    return result


async def bench_workload(url: str, quick: bool) -> dict[str, float]:
    """95 % reads / 5 % writes over 2000 keys with Zipf(1.1) popularity; ns/op and our L1 hit ratio.

    Both caches get the same memory budget (500 entries) and replay the same operations, window by window."""
    n_keys, window, rounds = 2000, 1000, (15 if quick else 100)
    rng = random.Random(7)
    weights = [1 / (i + 1) ** 1.1 for i in range(n_keys)]
    keys = [f"/vod/{i}/seg.ts" for i in range(n_keys)]
    total = window * rounds
    picks = rng.choices(keys, weights=weights, k=total)
    writes = [rng.random() < 0.05 for _ in range(total)]
    client = redis_client(url)
    cache = MultiLevelCache(client, settings=CacheSettings(namespace="bench-wl", l1_max_entries=500))
    await cache.start()
    cashews = CashewsCache()
    cashews.setup(f"{url}?client_side=true", local_cache=Memory(size=500))
    for k in keys:
        await cache.set(k, VALUE)
        await cashews.set(k, VALUE, expire=600)
    position = {"ours": 0, "cashews": 0}

    def next_window(who: str) -> list[tuple[str, bool]]:
        start = position[who]
        position[who] = (start + window) % total
        return list(zip(picks[start : start + window], writes[start : start + window], strict=True))

    async def ours() -> float:
        ops = next_window("ours")
        t0 = time.perf_counter_ns()
        for k, w in ops:
            if w:
                await cache.set(k, VALUE)
            else:
                await cache.get(k)
        return (time.perf_counter_ns() - t0) / window

    async def theirs() -> float:
        ops = next_window("cashews")
        t0 = time.perf_counter_ns()
        for k, w in ops:
            if w:
                await cashews.set(k, VALUE, expire=600)
            else:
                await cashews.get(k)
        return (time.perf_counter_ns() - t0) / window

    before = (cache.stats.lookups, cache.stats.l1_misses)
    result = await _interleave(
        {"ours_workload_ns_per_op": ours, "cashews_workload_ns_per_op": theirs}, rounds
    )
    lookups, l1_misses = cache.stats.lookups - before[0], cache.stats.l1_misses - before[1]
    result["ours_workload_l1_hit_ratio"] = 1 - l1_misses / max(1, lookups)
    await cache.close()
    await client.aclose()
    await cashews.close()
    return result


async def main(quick: bool) -> dict[str, Any]:
    with tempfile.TemporaryDirectory() as tmp, redis_server(Path(tmp) / "redis") as server:
        l1 = await bench_l1(server.url, quick)
        l2 = await bench_l2(server.url, quick)
        workload = await bench_workload(server.url, quick)
    figures: dict[str, Any] = {**l1, **l2, **workload}
    figures["l1_vs_cachetools"] = l1["l1_hit_ns"] / l1["cachetools_get_ns"]
    figures["l1_vs_dict"] = l1["l1_hit_ns"] / l1["dict_get_ns"]
    figures["l1_floor"] = L1_FLOOR
    figures["l1_floor_met"] = figures["l1_vs_cachetools"] <= L1_FLOOR
    figures["l2_vs_raw_get"] = l2["l2_hit_ns"] / l2["raw_get_ns"]
    figures["l2_floor"] = L2_FLOOR
    figures["l2_floor_met"] = figures["l2_vs_raw_get"] <= L2_FLOOR
    figures["l2_concurrent64_speedup_vs_raw"] = (
        l2["raw_concurrent64_ns_per_get"] / l2["l2_concurrent64_ns_per_get"]
    )
    figures["workload_speedup_vs_cashews"] = (
        workload["cashews_workload_ns_per_op"] / workload["ours_workload_ns_per_op"]
    )
    figures["quick"] = quick
    return figures


def table(f: dict[str, Any]) -> str:
    rows = [
        ("L1 hit: plain dict.get", f["dict_get_ns"], ""),
        ("L1 hit: cachetools.LRUCache.get", f["cachetools_get_ns"], "baseline"),
        ("L1 hit: cashews mem:// get (async)", f["cashews_mem_get_ns"], ""),
        ("L1 hit: our L1 tier .get (sync)", f["l1_tier_get_ns"], ""),
        (
            "L1 hit: await MultiLevelCache.get",
            f["l1_hit_ns"],
            f"{f['l1_vs_cachetools']:.2f}x cachetools (floor {L1_FLOOR}x: {'met' if f['l1_floor_met'] else 'MISSED'})",
        ),
        ("L2 hit: raw redis.asyncio GET", f["raw_get_ns"], "baseline"),
        ("L2 hit: cashews redis:// get", f["cashews_redis_get_ns"], ""),
        (
            "L2 hit: await MultiLevelCache.get (L1 off)",
            f["l2_hit_ns"],
            f"{f['l2_vs_raw_get']:.2f}x raw GET (floor {L2_FLOOR}x: {'met' if f['l2_floor_met'] else 'MISSED'})",
        ),
        ("L2: 64 concurrent raw GETs, per get", f["raw_concurrent64_ns_per_get"], ""),
        (
            "L2: 64 concurrent cache gets (1 MGET), per get",
            f["l2_concurrent64_ns_per_get"],
            f"{f['l2_concurrent64_speedup_vs_raw']:.1f}x faster than raw",
        ),
        ("workload 95/5 Zipf: cashews client-side", f["cashews_workload_ns_per_op"], ""),
        (
            "workload 95/5 Zipf: MultiLevelCache",
            f["ours_workload_ns_per_op"],
            f"{f['workload_speedup_vs_cashews']:.2f}x cashews' throughput; L1 hit ratio "
            f"{f['ours_workload_l1_hit_ratio']:.2f}",
        ),
    ]
    lines = [f"{'measurement':<48} {'per op':>12}  note", "-" * 110]
    for name, ns, note in rows:
        shown = f"{ns:,.0f} ns" if ns < 10_000 else f"{ns / 1000:,.1f} µs"
        lines.append(f"{name:<48} {shown:>12}  {note}")
    return "\n".join(lines)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer operations (CI); still every contender")
    args = parser.parse_args()
    started = time.perf_counter()
    result = asyncio.run(main(args.quick))
    result["wall_seconds"] = round(time.perf_counter() - started, 1)
    print(table(result))
    print(json.dumps({k: round(v, 3) if isinstance(v, float) else v for k, v in result.items()}))
