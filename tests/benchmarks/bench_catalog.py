"""Benchmark of the content catalog at 1,000,000 segment rows, on a real PostgreSQL 15 started for it.

- Server time of each hot query (`EXPLAIN (ANALYZE, TIMING OFF)` execution time, so per-node timing does
  not inflate it): p50 and p99. Floor: p99 <= 1 ms.
- Drivers on our queries, round trip per query from one client: a raw asyncpg connection (prepared,
  cached statement: the baseline), our pool (`runtime.catalog.Database`: acquire, route, release,
  metrics), an asyncpg pool, and psycopg 3's AsyncConnectionPool (prepared after 5 uses, its default).
  Floor: a title page through our pool <= 1.3x the raw connection's round trip.
- A cached title page (`CatalogService.cached_titles`: the route's first step, by the raw query string before
  it is parsed; an L1 hit) vs the L1 hit of the cache benchmark
  (`await MultiLevelCache.get`), in the same run. Floor: <= 1.2x.

Rounds of each contender are interleaved (the machine is shared: noise hits all alike); round trips
report the median chunk, CPU-bound hits the 10th percentile chunk, as bench_cache does.
Usage: bench_catalog.py [--quick]. Last line: one JSON object.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import re
import sys
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

import asyncpg
import psycopg_pool

from infra.catalog import migrate
from infra.catalog.seed import SeedSize, seed
from runtime.cache import CacheSettings, MultiLevelCache
from runtime.catalog import CatalogSettings, plans, queries
from runtime.catalog.database import Database
from runtime.catalog.service import CatalogService
from runtime.connections import redis_client
from tests.benchmarks.bench_cache import _interleave
from tests.servers import PostgresServer, postgres_server, redis_server

SERVER_P99_FLOOR_MS = 1.0
POOL_FLOOR = 1.3
CACHED_FLOOR = 1.2
PAGE = ("local-a", "Lantern", "m0012345", 51)


def _psycopg(query: str) -> str:
    """asyncpg's `$n` placeholders as psycopg's named ones (the same statement, the same plan)."""
    return re.sub(r"\$(\d+)", r"%(p\1)s", query)


def _named(args: tuple[object, ...]) -> dict[str, object]:
    return {f"p{i}": a for i, a in enumerate(args, 1)}


async def bench_server_time(pg: PostgresServer, runs: int) -> dict[str, float]:
    """Execution time as the server reports it; the queries take turns (noise hits all alike), after a
    warm-up that brings their pages into shared buffers."""
    conn = await asyncpg.connect(pg.url, password=pg.credentials.app)
    times: dict[str, list[float]] = {name: [] for name in queries.HOT}
    try:
        for i in range(runs + 50):
            for name, query in queries.HOT.items():
                text = await conn.fetchval(
                    "EXPLAIN (ANALYZE, TIMING OFF, FORMAT JSON) " + query, *plans.EXAMPLES[name]
                )
                if i >= 50:
                    times[name].append(float(json.loads(text)[0]["Execution Time"]))
    finally:
        await conn.close()
    out: dict[str, float] = {}
    for name, values in times.items():
        values.sort()
        out[f"{name}_server_p50_ms"] = values[len(values) // 2]
        out[f"{name}_server_p95_ms"] = values[int(len(values) * 0.95)]
        out[f"{name}_server_p99_ms"] = values[min(len(values) - 1, int(len(values) * 0.99))]
    return out


async def bench_drivers(pg: PostgresServer, rounds: int, ops: int) -> dict[str, float]:
    password = pg.credentials.app
    raw = await asyncpg.connect(pg.url, password=password)
    apool = await asyncpg.create_pool(pg.url, password=password, min_size=4, max_size=4)
    ppool = psycopg_pool.AsyncConnectionPool(pg.conninfo, min_size=4, max_size=4, open=False)
    await ppool.open(wait=True)
    ours = Database(CatalogSettings(enabled=True, primary_url=pg.url, password=password, pool_max_size=4))
    await ours.start()
    detail = ("m0012345", "local-a")

    def timed(call: Callable[[], Awaitable[object]]) -> Callable[[], Awaitable[float]]:
        async def run() -> float:
            t0 = time.perf_counter_ns()
            for _ in range(ops):
                await call()
            return (time.perf_counter_ns() - t0) / ops

        return run

    async def psycopg_fetch(query: str, args: tuple[object, ...]) -> list[Any]:
        async with ppool.connection() as conn:
            cur = await conn.execute(_psycopg(query), _named(args))
            return await cur.fetchall()

    try:
        contenders: dict[str, Callable[[], Awaitable[float]]] = {}
        for label, query, args in (
            ("page", queries.LIST_TITLES, PAGE),
            ("detail", queries.TITLE_DETAIL, detail),
        ):
            contenders[f"raw_asyncpg_{label}_ns"] = timed(lambda q=query, a=args: raw.fetch(q, *a))
            contenders[f"ours_{label}_ns"] = timed(lambda q=query, a=args: ours.fetch(q, *a))
            contenders[f"asyncpg_pool_{label}_ns"] = timed(lambda q=query, a=args: apool.fetch(q, *a))
            contenders[f"psycopg_pool_{label}_ns"] = timed(lambda q=query, a=args: psycopg_fetch(q, a))
        for run in contenders.values():  # warm: statements prepared everywhere (psycopg after 5 uses)
            await run()
        assert len(await psycopg_fetch(queries.LIST_TITLES, PAGE)) == len(
            await raw.fetch(queries.LIST_TITLES, *PAGE)
        )
        return await _interleave(contenders, rounds)
    finally:
        await ours.close()
        await ppool.close()
        await apool.close()
        await raw.close()


async def bench_cached(pg: PostgresServer, redis_url: str, rounds: int) -> dict[str, float]:
    client = redis_client(redis_url)
    cache = MultiLevelCache(client, settings=CacheSettings(namespace="bench-catalog", warm_top_n=0))
    await cache.start()
    settings = CatalogSettings(enabled=True, primary_url=pg.url, password=pg.credentials.app)
    db = Database(settings)
    await db.start()
    catalog = CatalogService(db, cache, client, settings, "local-a")
    ops = 1000
    keys = [f"/vod/{i}/manifest.m3u8" for i in range(200)]
    for key in keys:
        await cache.set(key, b"x" * 1024)
    # The raw query strings of the first two pages, as the route hands them over before parsing them.
    first = b"limit=50"
    body, _ = await catalog.titles(q=None, after=None, limit=50, query=first)
    cursor = json.loads(body)["next"]
    second = urlencode({"after": cursor, "limit": 50}).encode()
    await catalog.titles(q=None, after=cursor, limit=50, query=second)
    queries_before = db.queries

    async def l1_hit() -> float:
        t0 = time.perf_counter_ns()
        for i in range(ops):
            await cache.get(keys[i % 200])
        return (time.perf_counter_ns() - t0) / ops

    async def cached_page() -> float:
        t0 = time.perf_counter_ns()
        for i in range(ops):
            catalog.cached_titles(second if i & 1 else first)
        return (time.perf_counter_ns() - t0) / ops

    try:
        result = await _interleave(
            {"l1_hit_ns": l1_hit, "cached_page_ns": cached_page}, rounds, percentile=0.1
        )
        assert db.queries == queries_before, "the cached page benchmark must not reach the database"
        return result
    finally:
        await db.close()
        await cache.close()
        await client.aclose()


async def main(quick: bool) -> dict[str, Any]:
    started = time.perf_counter()
    with postgres_server() as pg, redis_server(Path(pg.root) / "redis") as redis:
        migrate.upgrade(pg.url, password=pg.credentials.app)
        seeded = seed(pg.conninfo, ["local-a", "local-b"], SeedSize())
        build_seconds = time.perf_counter() - started
        figures: dict[str, Any] = {"segment_rows": seeded.segments, "build_seconds": build_seconds}
        figures.update(await bench_server_time(pg, 300 if quick else 3000))
        figures.update(await bench_drivers(pg, 15 if quick else 60, 50 if quick else 200))
        figures.update(await bench_cached(pg, redis.url, 60 if quick else 300))
    p99s = [figures[f"{name}_server_p99_ms"] for name in queries.HOT]
    figures["server_p99_max_ms"] = max(p99s)
    figures["server_floor_met"] = figures["server_p99_max_ms"] <= SERVER_P99_FLOOR_MS
    figures["pool_vs_raw_page"] = figures["ours_page_ns"] / figures["raw_asyncpg_page_ns"]
    figures["pool_floor_met"] = figures["pool_vs_raw_page"] <= POOL_FLOOR
    figures["psycopg_vs_asyncpg_pool_page"] = (
        figures["psycopg_pool_page_ns"] / figures["asyncpg_pool_page_ns"]
    )
    figures["psycopg_vs_asyncpg_pool_detail"] = (
        figures["psycopg_pool_detail_ns"] / figures["asyncpg_pool_detail_ns"]
    )
    figures["cached_vs_l1"] = figures["cached_page_ns"] / figures["l1_hit_ns"]
    figures["cached_floor_met"] = figures["cached_vs_l1"] <= CACHED_FLOOR
    figures["quick"] = quick
    return figures


def table(f: dict[str, Any]) -> str:
    def us(ns: float) -> str:
        return f"{ns / 1000:,.1f} µs" if ns >= 10_000 else f"{ns:,.0f} ns"

    lines = [f"{'measurement':<52} {'value':>14}  note", "-" * 112]
    for name in queries.HOT:
        p50, p99 = f[f"{name}_server_p50_ms"], f[f"{name}_server_p99_ms"]
        p95 = f[f"{name}_server_p95_ms"]
        note = (
            f"p50 {p50 * 1000:.0f} µs, p95 {p95 * 1000:.0f} µs; floor p99 <= {SERVER_P99_FLOOR_MS} ms: "
            + ("met" if p99 <= SERVER_P99_FLOOR_MS else "MISSED")
        )
        lines.append(f"{'server time p99: ' + name:<52} {p99 * 1000:>11.0f} µs  {note}")
    rows = [
        ("title page: raw asyncpg connection", f["raw_asyncpg_page_ns"], "baseline"),
        ("title page: our pool (runtime.catalog.Database)", f["ours_page_ns"],
         f"{f['pool_vs_raw_page']:.2f}x raw (floor {POOL_FLOOR}x: {'met' if f['pool_floor_met'] else 'MISSED'})"),
        ("title page: asyncpg pool", f["asyncpg_pool_page_ns"], ""),
        ("title page: psycopg 3 AsyncConnectionPool", f["psycopg_pool_page_ns"],
         f"{f['psycopg_vs_asyncpg_pool_page']:.2f}x asyncpg pool"),
        ("title detail: raw asyncpg connection", f["raw_asyncpg_detail_ns"], "baseline"),
        ("title detail: our pool", f["ours_detail_ns"], ""),
        ("title detail: asyncpg pool", f["asyncpg_pool_detail_ns"], ""),
        ("title detail: psycopg 3 AsyncConnectionPool", f["psycopg_pool_detail_ns"],
         f"{f['psycopg_vs_asyncpg_pool_detail']:.2f}x asyncpg pool"),
        ("L1 hit: await MultiLevelCache.get", f["l1_hit_ns"], "baseline (bench_cache's L1 hit)"),
        ("cached title page: CatalogService.cached_titles", f["cached_page_ns"],
         f"{f['cached_vs_l1']:.2f}x L1 hit (floor {CACHED_FLOOR}x: {'met' if f['cached_floor_met'] else 'MISSED'})"),
    ]  # fmt: skip
    for name, ns, note in rows:
        lines.append(f"{name:<52} {us(ns):>14}  {note}")
    return "\n".join(lines)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer runs (CI); still every contender")
    args = parser.parse_args()
    started = time.perf_counter()
    result = asyncio.run(main(args.quick))
    result["wall_seconds"] = round(time.perf_counter() - started, 1)
    print(table(result))
    print(json.dumps({k: round(v, 4) if isinstance(v, float) else v for k, v in result.items()}))
