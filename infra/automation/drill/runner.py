"""Failover drills on the local platform, under a steady bounded load, measuring RTO and RPO.

- unplanned: kill -9 the primary region's Redis and gateways (through supervisord, so it does not restart
  them: SIGSTOP, mark stopping, SIGKILL), run the unplanned failover at once (detection time is not part
  of the figure), and measure from the kill:
    RTO = until writes are accepted again and the edge answers from the surviving region without a failure
          after that point (the later of the two);
    RPO = acknowledged writes missing from the new primary (reported with the time span they cover);
          writes acknowledged by `WAIT 1` (replicated) must all survive: a lost one fails the drill.
- planned: the same load through a planned switchover: nothing acknowledged may be lost.

Afterwards the killed programs are started again and the failover re-run demotes the returning old
primary (it comes back believing it is a primary); with `failback` a planned switchover returns the
platform to its first region, as the drill found it.

The load: one writer (SET drill:<run>:<n>; WAIT 1 100 after every 5th) through the surviving region's Redis endpoint
(nginx's stream proxy, which follows the primary), and one reader (GET <edge><smoke path>), each bounded in
rate and stopped whatever happens.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import os
import signal
import threading
import time
import uuid
from dataclasses import asdict, dataclass, field
from typing import Any, Literal

import redis
from redis.exceptions import RedisError

from infra import http
from infra.automation.adapters.local_region import served_by
from infra.automation.drill.errors import DrillError
from infra.automation.errors import InvalidInputError
from infra.automation.failover.runner import FailoverReport, FailoverRunner
from infra.config import StackConfig
from infra.local.layout import COLORS, LOOPBACK, gateway_program
from infra.local.platform import LocalPlatform
from infra.local.supervisor import pid_alive

Kind = Literal["planned", "unplanned"]
PLANNED_RTO_FLOOR = 5.0
UNPLANNED_RTO_FLOOR = 10.0


@dataclass
class Read:
    at: float
    ok: bool
    region: str | None


class Load:
    """A bounded writer and reader, each in its own thread."""

    def __init__(
        self,
        redis_port: int,
        edge_url: str,
        *,
        writes_per_second: float = 200,
        reads_per_second: float = 50,
        wait_every: int = 5,
    ) -> None:
        self.run = uuid.uuid4().hex[:8]
        self.redis_port = redis_port
        self.edge_url = edge_url
        self.write_period = 1 / writes_per_second
        # WAIT 1 after every `wait_every` acknowledged writes: it confirms all of them (one connection), so
        # up to that many acknowledged writes are unconfirmed at any moment, as with a batching client.
        self.wait_every = wait_every
        self.read_period = 1 / reads_per_second
        self.acked: list[tuple[int, float]] = []  # (n, when acknowledged)
        self.sent: dict[int, float] = {}  # n → when its (last) attempt was sent
        self.replicated: set[int] = set()
        self.write_errors = 0
        self.reads: list[Read] = []
        self._stop = threading.Event()
        self._threads = [
            threading.Thread(target=self._write, daemon=True),
            threading.Thread(target=self._read, daemon=True),
        ]

    def key(self, n: int) -> str:
        return f"drill:{self.run}:{n}"

    def _write(self) -> None:
        n, conn = 0, None
        pending: list[int] = []
        while not self._stop.is_set():
            started = time.monotonic()
            try:
                if conn is None:
                    pending = []  # a new connection: WAIT would not cover the old one's writes
                    conn = redis.Redis(
                        host=LOOPBACK, port=self.redis_port, socket_timeout=1, socket_connect_timeout=1
                    )
                self.sent[n] = time.monotonic()
                if conn.set(self.key(n), n):
                    self.acked.append((n, time.monotonic()))
                    pending.append(n)
                    n += 1
                    if len(pending) >= self.wait_every:
                        if int(conn.execute_command("WAIT", 1, 100)) >= 1:
                            self.replicated.update(pending)
                        pending = []
            except (RedisError, OSError):
                self.write_errors += 1
                if conn is not None:
                    with contextlib.suppress(Exception):
                        conn.close()
                conn = None
            self._stop.wait(max(0.0, self.write_period - (time.monotonic() - started)))
        if conn is not None:
            conn.close()

    def _read(self) -> None:
        while not self._stop.is_set():
            started = time.monotonic()
            status, headers, body, _ = http.get(self.edge_url, 2.0)
            self.reads.append(
                Read(started, status == 200, served_by(headers, body) if status == 200 else None)
            )
            self._stop.wait(max(0.0, self.read_period - (time.monotonic() - started)))

    def __enter__(self) -> Load:
        for t in self._threads:
            t.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        for t in self._threads:
            t.join(10)

    def wait_for_writes(self, count: int, timeout: float = 15.0) -> None:
        deadline = time.monotonic() + timeout
        while len(self.acked) < count:
            if time.monotonic() > deadline:
                raise DrillError(
                    f"the load got {len(self.acked)} writes acknowledged in {timeout:.0f}s (wanted {count})"
                )
            time.sleep(0.02)


@dataclass
class DrillReport:
    kind: Kind
    stack: str
    source: str
    target: str
    rto_seconds: float | None
    write_recovery_seconds: float | None
    edge_recovery_seconds: float | None
    failover_seconds: float | None  # the failover run itself
    writes_acknowledged: int
    writes_replicated: int  # acknowledged by WAIT 1
    lost_acknowledged: int
    lost_replicated: int
    rpo_seconds: float  # the span of acknowledged writes lost (0 when none)
    max_write_gap_seconds: float
    reads: int
    failed_reads: int
    rto_floor_seconds: float
    failover: dict[str, Any] = field(default_factory=dict)
    recovered: list[str] = field(default_factory=list)

    @property
    def passed(self) -> bool:
        rto_ok = self.rto_seconds is not None and self.rto_seconds < self.rto_floor_seconds
        loss_ok = self.lost_replicated == 0 and (self.kind == "unplanned" or self.lost_acknowledged == 0)
        return rto_ok and loss_ok

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "passed": self.passed}


def kill_region(platform: LocalPlatform, region: str) -> list[str]:
    """kill -9 the region's Redis node and gateways so that supervisord does not restart them: freeze
    (SIGSTOP), mark them stopping in supervisord, then SIGKILL their process groups."""
    names = [f"redis-{region}", *(gateway_program(region, c) for c in COLORS)]
    processes = platform.supervisor.processes()
    pids = {n: processes[n].pid for n in names if n in processes and processes[n].pid}
    for pid in pids.values():
        with contextlib.suppress(ProcessLookupError):
            os.killpg(pid, signal.SIGSTOP)
    for name in pids:
        platform.supervisor.stop_process(name, wait=False)
    for pid in pids.values():
        with contextlib.suppress(ProcessLookupError):
            os.killpg(pid, signal.SIGKILL)
    deadline = time.monotonic() + 10
    while any(pid_alive(p) for p in pids.values()):
        if time.monotonic() > deadline:
            raise DrillError(f"{region}: processes still alive after SIGKILL")
        time.sleep(0.01)
    return list(pids)


def start_programs(platform: LocalPlatform, names: list[str], timeout: float = 30.0) -> None:
    for name in names:
        platform.supervisor.start_process(name, wait=False)
    deadline = time.monotonic() + timeout
    while True:
        processes = platform.supervisor.processes()
        if all(processes[n].state == "RUNNING" for n in names):
            return
        if time.monotonic() > deadline:
            raise DrillError(f"{', '.join(names)} did not come back within {timeout:.0f}s")
        time.sleep(0.1)


def measure(
    load: Load, start: float, target: str, outage: float | None = None
) -> tuple[float | None, float | None, float]:
    """(write recovery, edge recovery, longest gap between acknowledged writes), seconds from `start`.

    Writes recover with the first acknowledged write *sent* after `outage` (when the killed processes were
    gone; default `start`): a reply to a write sent earlier may still arrive from the dying primary."""
    acks = [t for _, t in load.acked]
    since = start if outage is None else outage
    first_write = next((t for n, t in load.acked if load.sent.get(n, 0.0) >= since), None)
    reads_after = [r for r in load.reads if r.at >= start]
    bad = [r.at for r in reads_after if not (r.ok and r.region == target)]
    good_after_bad = [
        r.at for r in reads_after if r.ok and r.region == target and (not bad or r.at > bad[-1])
    ]
    edge = good_after_bad[0] - start if good_after_bad else None
    gaps = [b - a for a, b in itertools.pairwise(acks) if b >= start]
    return (
        first_write - start if first_write is not None else None,
        edge,
        max(gaps, default=0.0),
    )


def drill_platform(cfg: StackConfig) -> LocalPlatform:
    """The platform a drill may kill processes of: its target's, if it has one."""
    if not cfg.kind.drills:
        raise InvalidInputError(
            f"stack {cfg.stack}: drills kill processes, so they run on the local platform only"
        )
    return LocalPlatform(cfg)


async def run_drill(
    cfg: StackConfig,
    runner: FailoverRunner,
    kind: Kind,
    *,
    target: str | None = None,
    failback: bool = True,
    warmup_writes: int = 100,
    settle_seconds: float = 1.0,
) -> DrillReport:
    platform = drill_platform(cfg)
    if not platform.running():
        raise DrillError("the local platform is not running: `streamgate local up` first")
    replication = await runner.ports.datastore.replication()
    source = replication.primary
    if source is None:
        raise DrillError(f"no single primary to drill against: {replication.primaries or 'none answers'}")
    target = target or next(r.name for r in cfg.regions if r.name != source)
    ready = await runner.plan(target, "planned")
    if not ready.safe:
        raise DrillError("not ready to drill: " + "; ".join(f"{c.name}: {c.detail}" for c in ready.blockers))

    layout = platform.layout
    load = Load(layout.region(target).redis_endpoint, f"{layout.edge_url}{cfg.failover.smoke_path}")
    killed: list[str] = []
    with load:
        load.wait_for_writes(warmup_writes)
        start = time.monotonic()
        outage: float | None = None
        if kind == "unplanned":
            killed = await asyncio.to_thread(kill_region, platform, source)
            outage = time.monotonic()
            report = await runner.run(target, "unplanned", allow_data_loss=True)
        else:
            report = await runner.run(target, "planned")
        done = time.monotonic()
        count = len(load.acked)
        load.wait_for_writes(count + 20)
        await asyncio.sleep(settle_seconds)
    write_rec, edge_rec, gap = measure(load, start, target, outage)
    if kind == "planned":
        write_rec = gap  # writes were never down, only paused: the longest pause is their outage
    lost = await asyncio.to_thread(_lost, load, layout.region(target).redis_endpoint)
    lost_times = [t for n, t in load.acked if n in lost]
    recovered: list[str] = []
    if killed:
        await asyncio.to_thread(start_programs, platform, killed)
        recovered.append(f"restarted {', '.join(killed)}")
        await _converge(runner, target)
        recovered.append(f"old primary {source} demoted to a replica of {target}")
    if failback:
        await _converge(runner, source)
        recovered.append(f"failed back to {source} (planned)")
    rto = max(write_rec, edge_rec) if write_rec is not None and edge_rec is not None else None
    return DrillReport(
        kind=kind,
        stack=cfg.stack,
        source=source,
        target=target,
        rto_seconds=_round(rto),
        write_recovery_seconds=_round(write_rec),
        edge_recovery_seconds=_round(edge_rec),
        failover_seconds=round(done - start, 3),
        writes_acknowledged=len(load.acked),
        writes_replicated=len(load.replicated),
        lost_acknowledged=len(lost),
        lost_replicated=len(lost & load.replicated),
        rpo_seconds=round(max(lost_times) - min(lost_times), 3) if len(lost_times) > 1 else 0.0,
        max_write_gap_seconds=round(gap, 3),
        reads=len(load.reads),
        failed_reads=sum(1 for r in load.reads if not r.ok),
        rto_floor_seconds=PLANNED_RTO_FLOOR if kind == "planned" else UNPLANNED_RTO_FLOOR,
        failover=_summary(report),
        recovered=recovered,
    )


async def _converge(runner: FailoverRunner, region: str, within: float = 30.0) -> None:
    """Planned failover to `region` until it is a no-op. Every node must answer first: a restarted old
    primary that is not up yet would otherwise be left a stale primary (and it needs its resync before a
    switchover back is safe)."""
    deadline = time.monotonic() + within
    while not all(n.reachable for n in (await runner.ports.datastore.replication()).nodes.values()):
        if time.monotonic() > deadline:
            raise DrillError("a data store node did not come back")
        await asyncio.sleep(0.1)
    while True:
        plan = await runner.plan(region, "planned")
        if plan.noop:
            return
        if plan.safe:
            await runner.run(region, "planned")
            continue
        if time.monotonic() > deadline:
            raise DrillError(f"cannot return to {region}: " + "; ".join(c.detail for c in plan.blockers))
        await asyncio.sleep(0.2)


def _lost(load: Load, port: int) -> set[int]:
    conn = redis.Redis(host=LOOPBACK, port=port, socket_timeout=5)
    try:
        numbers = [n for n, _ in load.acked]
        present: set[int] = set()
        for i in range(0, len(numbers), 1000):
            chunk = numbers[i : i + 1000]
            values = conn.mget([load.key(n) for n in chunk])
            present |= {n for n, v in zip(chunk, values, strict=True) if v is not None}
        return set(numbers) - present
    finally:
        conn.close()


def _round(value: float | None) -> float | None:
    return round(value, 3) if value is not None else None


def _summary(report: FailoverReport) -> dict[str, Any]:
    record = report.record
    return {
        "id": record.id if record else None,
        "steps": [{"id": s.id, "ms": round(s.seconds * 1000, 1), "detail": s.detail} for s in record.steps]
        if record
        else [],
        "measured": record.measured if record else {},
    }


async def restore_platform(cfg: StackConfig, runner: FailoverRunner, region: str | None = None) -> None:
    """Bring a drilled platform back as `local up` left it: every stopped program started again, the data
    store's primary and the traffic in `region` (default: the stack's first region)."""
    platform = drill_platform(cfg)
    stopped = [n for n, p in platform.supervisor.processes().items() if p.state != "RUNNING"]
    if stopped:
        await asyncio.to_thread(start_programs, platform, stopped)
    await _converge(runner, region or cfg.regions[0].name)
