"""Failover benchmark: the drills on a fresh local platform, and our Redis switchover against Redis's own
`FAILOVER TO` on the same pair of redis-servers, in one run.

1. Drills (`infra.automation.drill.runner.run_drill`) on a local platform brought up for this run: planned
   switchover and unplanned failover (kill -9 of local-a's Redis and gateways), each under a write load
   (WAIT-acknowledged) and a read load through the edge, each followed by a failback. Floors: planned RTO
   < 5 s with nothing lost; unplanned RTO < 10 s with no WAIT-acknowledged write lost.
2. Data store only: a writer through a movable endpoint on two redis-servers; the longest gap between
   acknowledged writes and the writes lost during (a) our RedisDataStore switchover (fence, catch-up,
   promote, repoint, unfence) and (b) `FAILOVER TO <replica> TIMEOUT 5000` (Redis 7, then the endpoint
   follows the new primary), alternating so machine noise hits both alike.

Usage: bench_failover.py [--quick]. The last line is one JSON object with every figure and floor.
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import json
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

import os

import redis
from redis.exceptions import RedisError

from infra.automation.adapters.redis_store import RedisDataStore, RedisNode
from infra.automation.drill.runner import PLANNED_RTO_FLOOR, UNPLANNED_RTO_FLOOR, DrillReport, Kind, run_drill
from infra.automation.failover import wiring as failover_wiring
from infra.automation.targets import for_stack
from infra.config import load_stack
from tests.local_platform import local_platform
from tests.servers import LOOPBACK, RedisServer, redis_server, wait_until


def drills(rounds: int) -> dict[str, list[DrillReport]]:
    out: dict[str, list[DrillReport]] = {"planned": [], "unplanned": []}
    with local_platform() as lp:
        os.environ["STREAMGATE_LOCAL_STATE_DIR"] = str(lp.platform.paths.root)
        cfg = load_stack("local")
        for _ in range(rounds):
            kinds: tuple[Kind, ...] = ("planned", "unplanned")
            for kind in kinds:
                runner = failover_wiring.runner(for_stack(cfg))
                out[kind].append(asyncio.run(run_drill(cfg, runner, kind)))
    return out


class Writer:
    """SET through whatever node `self.port` names; reconnects on errors (as a client behind an endpoint)."""

    def __init__(self, port: int) -> None:
        self.port = port
        self.acked: list[tuple[int, float]] = []
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self.run, daemon=True)

    def run(self) -> None:
        n, conn, port = 0, None, None
        while not self.stop.is_set():
            try:
                if conn is None or port != self.port:
                    port = self.port
                    conn = redis.Redis(host=LOOPBACK, port=port, socket_timeout=2)
                if conn.set(f"k{n}", n):
                    self.acked.append((n, time.monotonic()))
                    n += 1
            except RedisError:
                conn = None
                time.sleep(0.001)
            time.sleep(0.001)

    def gap_since(self, start: float) -> float:
        times = [t for _, t in self.acked if t >= start - 0.05]
        return max((b - a for a, b in itertools.pairwise(times)), default=0.0)


async def ours(store: RedisDataStore, endpoint: Any, old: str, new: str) -> None:
    await store.fence(old, 5)
    await store.catch_up(old, new, 5)
    await store.promote(new, planned=True)
    await store.repoint(new)
    await store.unfence(old)


def redis_failover(servers: dict[str, RedisServer], old: str, new: str) -> None:
    primary = redis.Redis(host=LOOPBACK, port=servers[old].port)
    primary.execute_command("FAILOVER", "TO", LOOPBACK, servers[new].port, "TIMEOUT", 5000)
    target = redis.Redis(host=LOOPBACK, port=servers[new].port)
    wait_until(lambda: target.info("replication")["role"] == "master", 10, "FAILOVER to finish")
    wait_until(
        lambda: primary.info("replication").get("master_failover_state") == "no-failover", 10, "old primary"
    )


def datastore(rounds: int) -> dict[str, dict[str, float]]:
    results: dict[str, list[tuple[float, int]]] = {"ours": [], "redis FAILOVER TO": []}
    with (
        tempfile.TemporaryDirectory() as tmp,
        redis_server(Path(tmp) / "a") as a,
        redis_server(Path(tmp) / "b") as b,
    ):
        servers = {"a": a, "b": b}
        for s in (a, b):
            redis.Redis(host=LOOPBACK, port=s.port).config_set("repl-diskless-sync-delay", 0)
        redis.Redis(host=LOOPBACK, port=b.port).execute_command("REPLICAOF", LOOPBACK, a.port)
        wait_until(
            lambda: redis.Redis(port=b.port).info("replication")["master_link_status"] == "up", 10, "link"
        )

        class Endpoint:
            region = "a"

            async def current(self) -> str:
                return self.region

            async def point_to(self, region: str) -> None:
                self.region = region
                writer.port = servers[region].port

        endpoint = Endpoint()
        store = RedisDataStore({r: RedisNode(LOOPBACK, s.port) for r, s in servers.items()}, endpoint)
        writer = Writer(a.port)
        writer.thread.start()
        try:
            primary = "a"
            for i in range(rounds * 2):
                name = "ours" if i % 2 == 0 else "redis FAILOVER TO"
                new = "b" if primary == "a" else "a"
                wait_until(lambda: len(writer.acked) > 50, 10, "writes")
                time.sleep(0.3)
                start = time.monotonic()
                if name == "ours":
                    asyncio.run(ours(store, endpoint, primary, new))
                else:
                    redis_failover(servers, primary, new)
                    asyncio.run(endpoint.point_to(new))
                time.sleep(0.3)
                gap = writer.gap_since(start)
                node = redis.Redis(host=LOOPBACK, port=servers[new].port)
                numbers = [n for n, _ in writer.acked]
                values = node.mget([f"k{n}" for n in numbers]) if numbers else []
                lost = sum(1 for v in values if v is None)
                results[name].append((gap, lost))
                primary = new
                follower = redis.Redis(host=LOOPBACK, port=servers["b" if primary == "a" else "a"].port)

                def following(f: redis.Redis = follower) -> bool:
                    return bool(f.info("replication").get("master_link_status") == "up")

                wait_until(following, 10, "old primary following")
        finally:
            writer.stop.set()
            writer.thread.join(5)
    return {
        name: {
            "median_write_gap_seconds": round(statistics.median(g for g, _ in runs), 4),
            "max_write_gap_seconds": round(max(g for g, _ in runs), 4),
            "lost_writes": sum(lost for _, lost in runs),
        }
        for name, runs in results.items()
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--quick", action="store_true", help="one round of each (under 60 s)")
    args = parser.parse_args()
    rounds = 1 if args.quick else 3
    started = time.monotonic()
    ds = datastore(rounds)
    reports = drills(rounds)
    figures: dict[str, Any] = {}
    print(
        f"{'drill':<10} {'round':>5} {'RTO s':>8} {'writes s':>9} {'edge s':>7} {'acked':>6} {'lost':>5} {'lost WAIT':>9}"
    )
    for kind, runs in reports.items():
        for i, r in enumerate(runs):
            print(
                f"{kind:<10} {i + 1:>5} {r.rto_seconds:>8} {r.write_recovery_seconds:>9} {r.edge_recovery_seconds:>7} "
                f"{r.writes_acknowledged:>6} {r.lost_acknowledged:>5} {r.lost_replicated:>9}"
            )
        rtos = [r.rto_seconds for r in runs if r.rto_seconds is not None]
        figures[kind] = {
            "rto_seconds_median": round(statistics.median(rtos), 3) if rtos else None,
            "rto_seconds_max": max(rtos) if rtos else None,
            "write_recovery_seconds_max": max(r.write_recovery_seconds or 0 for r in runs),
            "edge_recovery_seconds_max": max(r.edge_recovery_seconds or 0 for r in runs),
            "lost_acknowledged": sum(r.lost_acknowledged for r in runs),
            "lost_replicated": sum(r.lost_replicated for r in runs),
            "rpo_seconds_max": max(r.rpo_seconds for r in runs),
            "rounds": len(runs),
        }
    print()
    print(f"{'data store switchover':<22} {'median gap s':>12} {'max gap s':>10} {'lost':>5}")
    for name, row in ds.items():
        print(
            f"{name:<22} {row['median_write_gap_seconds']:>12} {row['max_write_gap_seconds']:>10} {row['lost_writes']:>5}"
        )
    ratio = ds["ours"]["median_write_gap_seconds"] / max(
        ds["redis FAILOVER TO"]["median_write_gap_seconds"], 1e-6
    )
    planned, unplanned = figures["planned"], figures["unplanned"]
    summary = {
        "drills": figures,
        "datastore_switchover": ds,
        "ours_vs_redis_failover_gap_ratio": round(ratio, 3),
        "planned_rto_floor_seconds": PLANNED_RTO_FLOOR,
        "unplanned_rto_floor_seconds": UNPLANNED_RTO_FLOOR,
        "planned_floor_met": bool(
            planned["rto_seconds_max"] is not None
            and planned["rto_seconds_max"] < PLANNED_RTO_FLOOR
            and planned["lost_acknowledged"] == 0
        ),
        "unplanned_floor_met": bool(
            unplanned["rto_seconds_max"] is not None
            and unplanned["rto_seconds_max"] < UNPLANNED_RTO_FLOOR
            and unplanned["lost_replicated"] == 0
        ),
        "seconds": round(time.monotonic() - started, 1),
    }
    print(json.dumps(summary))


if __name__ == "__main__":
    main()
