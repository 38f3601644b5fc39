"""Run a regional failover: observe → plan → (dry-run report | act step by step) → verify → report RTO/RPO.

Every step is idempotent and re-derived from the live system: a re-run after a crash plans only what is
left, so finished steps are skipped because the system shows them done, not because a file says so. The
run record (`failover/<stack>` in the automation state store, under its lock) keeps the attempts, step
timings and the instant service was first disturbed, so the RTO of a resumed run spans its attempts.

A step that raises leaves the record `failed` after the steps that finished; the next run resumes from
there (tests inject such a fault through a port: tests/automation/test_failover_local.py).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from infra.automation.adapters.failover_ports import FailoverPorts
from infra.automation.adapters.state import StateStore
from infra.automation.errors import AutomationError, InvalidInputError, RouterError
from infra.automation.failover.errors import DeclinedError, FailoverError, UnsafeFailoverError
from infra.automation.failover.model import (
    DISRUPTIVE,
    UNOBSERVABLE,
    Action,
    Capacity,
    FailoverPlan,
    FailoverRecord,
    Mode,
    Observation,
    RegionHealth,
    StepId,
    StepRecord,
)
from infra.automation.failover.plan import plan_failover, routable
from infra.config import FailoverConfig
from infra.errors import AbortedError


def state_key(stack: str) -> str:
    return f"failover/{stack}"


@dataclass
class FailoverReport:
    plan: FailoverPlan
    dry_run: bool
    record: FailoverRecord | None = None
    previously_done: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return (
            self.dry_run or self.plan.noop or (self.record is not None and self.record.outcome == "succeeded")
        )

    def to_dict(self) -> dict[str, Any]:
        return {
            "ok": self.ok,
            "dry_run": self.dry_run,
            "plan": self.plan.to_dict(),
            "record": self.record.to_dict() if self.record else None,
            "previously_done": self.previously_done,
            "measured": self.record.measured if self.record else {},
        }


class Progress:
    """What a run tells its caller while it works (the CLI draws it with rich)."""

    def started(self, action: Action) -> None: ...

    def finished(self, action: Action, record: StepRecord) -> None: ...


class FailoverRunner:
    def __init__(
        self,
        stack: str,
        regions: list[str],
        settings: FailoverConfig,
        ports: FailoverPorts,
        store: StateStore,
        *,
        progress: Progress | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.stack = stack
        self.regions = regions
        self.settings = settings
        self.ports = ports
        self.store = store
        self.progress = progress or Progress()
        self.clock = clock

    # -- observe and plan ---------------------------------------------------------------------
    async def observe(self) -> Observation:
        ports = self.ports
        replication, health, weights, capacities = await asyncio.gather(
            ports.datastore.replication(),
            ports.health.health(self.regions),
            ports.traffic[0].get_weights(),
            asyncio.gather(*(ports.capacity.capacity(r) for r in self.regions), return_exceptions=True),
        )
        capacity: dict[str, Capacity] = {
            r: c for r, c in zip(self.regions, capacities, strict=True) if isinstance(c, Capacity)
        }
        return Observation(self.stack, tuple(self.regions), replication, health, weights, capacity)

    async def plan(self, target: str, mode: Mode, *, allow_data_loss: bool = False) -> FailoverPlan:
        if target not in self.regions:
            raise InvalidInputError(
                f"--to {target}: not a region of stack {self.stack} ({', '.join(self.regions)})"
            )
        return plan_failover(
            await self.observe(), target, mode, self.settings, allow_data_loss=allow_data_loss
        )

    # -- run ----------------------------------------------------------------------------------
    async def run(
        self,
        target: str,
        mode: Mode = "planned",
        *,
        allow_data_loss: bool = False,
        dry_run: bool = False,
        abandon_previous: bool = False,
        confirm: Callable[[FailoverPlan], bool] | None = None,
    ) -> FailoverReport:
        if dry_run:
            return FailoverReport(await self.plan(target, mode, allow_data_loss=allow_data_loss), True)
        key = state_key(self.stack)
        lock = self.store.lock(key, f"failover to {target}")
        try:
            # Planned under the lock: what another run changed meanwhile is seen.
            plan = await self.plan(target, mode, allow_data_loss=allow_data_loss)
            if not plan.safe:
                raise UnsafeFailoverError(
                    "not safe to fail over: " + "; ".join(f"{c.name}: {c.detail}" for c in plan.blockers)
                )
            record, previously = self._record(plan, abandon_previous)
            if plan.noop:
                if record is not None and record.outcome != "succeeded":
                    record.outcome, record.finished_at = "succeeded", self.clock()
                    self.store.save(key, record.to_dict())
                return FailoverReport(plan, False, record, previously)
            if confirm is not None and not confirm(plan):
                raise DeclinedError("failover declined: nothing was changed")
            assert record is not None
            self.store.save(key, record.to_dict())
            try:
                for action in plan.actions:
                    lock.refresh()
                    await self._step(plan, record, action)
                    self.store.save(key, record.to_dict())
            except Exception as exc:
                record.outcome, record.error = "failed", str(exc)
                self.store.save(key, record.to_dict())
                if isinstance(exc, AutomationError | AbortedError):
                    raise
                raise FailoverError(f"step failed: {exc}") from exc
            self._measure(record)
            record.outcome, record.finished_at, record.error = "succeeded", self.clock(), None
            self.store.save(key, record.to_dict())
        finally:
            lock.release()
        return FailoverReport(plan, False, record, previously)

    def _record(self, plan: FailoverPlan, abandon: bool) -> tuple[FailoverRecord | None, list[str]]:
        """The unfinished record to resume, or a new one (None for a no-op with nothing to resume)."""
        doc = self.store.load(state_key(self.stack))
        previous = FailoverRecord.from_dict(doc) if doc else None
        if previous is not None and previous.outcome != "succeeded" and not abandon:
            if previous.target != plan.target:
                raise InvalidInputError(
                    f"an unfinished failover to {previous.target} ({previous.id}, {previous.outcome}) "
                    f"is recorded in {self.store.describe(state_key(self.stack))}: finish it with "
                    f"`--to {previous.target}` or pass --abandon-previous"
                )
            previous.attempts += 1
            previous.mode = plan.mode
            done = [s.id for s in previous.steps if s.status == "done"]
            return previous, done
        if plan.noop:
            return None, []
        return FailoverRecord.new(self.stack, plan.mode, plan.source, plan.target), []

    async def _step(self, plan: FailoverPlan, record: FailoverRecord, action: Action) -> None:
        started = self.clock()
        if action.id in DISRUPTIVE and record.disrupted_at is None:
            record.disrupted_at = started
        self.progress.started(action)
        try:
            detail = await self._do(plan, record, action)
        except Exception as exc:
            step = StepRecord(action.id.value, "failed", started, self.clock(), str(exc))
            record.steps.append(step)
            self.progress.finished(action, step)
            raise
        step = StepRecord(action.id.value, "done", started, self.clock(), detail)
        record.steps.append(step)
        self.progress.finished(action, step)

    async def _do(self, plan: FailoverPlan, record: FailoverRecord, action: Action) -> str:
        store, s = self.ports.datastore, self.settings
        target, source = plan.target, plan.source
        match action.id:
            case StepId.RAISE_CAPACITY:
                cap = await self.ports.capacity.raise_floor(target, plan.capacity_floor)
                return cap.detail
            case StepId.FENCE:
                assert source is not None
                await store.fence(source, s.fence_timeout_seconds)
                record.measured["fenced_at"] = self.clock()
                return f"writes paused on {source} for at most {s.fence_timeout_seconds:g}s"
            case StepId.CATCH_UP:
                assert source is not None
                caught = await store.catch_up(source, target, s.catch_up_timeout_seconds)
                record.measured["lag_bytes_at_fence"] = caught.lag_bytes_at_start
                record.measured["rpo_bytes"] = caught.lag_bytes_at_end
                behind = caught.lag_bytes_at_start
                return f"caught up {behind if behind is not None else '(service-managed)'} bytes in {caught.seconds * 1000:.0f} ms"
            case StepId.PROMOTE:
                if plan.mode == "unplanned":
                    replication = await store.replication()
                    lag = replication.lag_bytes(target, source) if source else None
                    record.measured["rpo_bytes"] = lag  # None: the old primary is gone, loss unknown here
                await store.promote(target, planned=plan.mode == "planned")
                record.measured["promoted_at"] = self.clock()
                return f"{target} is the primary"
            case StepId.REPOINT:
                done = await store.repoint(target)
                record.measured["pending_demotion"] = done.unreachable
                parts = [f"replicas of {target}: {', '.join(done.replicas) or 'none'}"]
                if done.endpoint_moved:
                    parts.append("write endpoint moved")
                if done.unreachable:
                    parts.append(
                        f"unreachable (demote when back: re-run this failover): {', '.join(done.unreachable)}"
                    )
                return "; ".join(parts)
            case StepId.UNFENCE:
                assert source is not None
                await store.unfence(source)
                if "fenced_at" in record.measured:
                    record.measured["write_pause_seconds"] = self.clock() - record.measured["fenced_at"]
                return f"writes resumed (on {target})"
            case StepId.SHIFT_TRAFFIC:
                return await self._shift(plan)
            case StepId.VERIFY:
                return await self._verify(target)
        raise FailoverError(f"unknown step {action.id}")  # pragma: no cover

    async def _shift(self, plan: FailoverPlan) -> str:
        health: dict[str, RegionHealth] = await self.ports.health.health(self.regions)
        if not routable(plan.weights_after, health):
            raise FailoverError(
                f"refusing to route {plan.weights_after}: {plan.target} is not healthy now "
                f"({health.get(plan.target)}); no healthy region would be routed"
            )
        for router in self.ports.traffic:
            await router.set_weights(plan.weights_after)
            if not await router.verify(plan.weights_after):
                raise RouterError(f"{router.name}: does not apply {plan.weights_after} after the change")
        return f"{', '.join(r.name for r in self.ports.traffic)}: {plan.weights_after}"

    async def _verify(self, target: str) -> str:
        deadline = time.monotonic() + self.settings.smoke_timeout_seconds
        while True:
            ok, seen = await self.ports.smoke.check(target)
            if ok:
                return seen
            if time.monotonic() > deadline:
                raise FailoverError(f"smoke request not answered by {target}: {seen}")
            await asyncio.sleep(0.05)

    def _measure(self, record: FailoverRecord) -> None:
        verify = next((s for s in reversed(record.steps) if s.id == StepId.VERIFY.value), None)
        start = record.disrupted_at if record.disrupted_at is not None else record.started_at
        if verify is not None:
            record.measured["rto_seconds"] = round(verify.finished_at - start, 3)
        record.measured["rto_objective_seconds"] = self.settings.rto_objective_seconds
        record.measured["rpo_objective_seconds"] = self.settings.rpo_objective_seconds


def redo_note(previously: list[str], plan: FailoverPlan) -> list[str]:
    """Which steps a previous attempt finished that this run redoes (the live system shows them undone, or
    they cannot be observed) and which it skips."""
    planned = {a.id.value for a in plan.actions}
    notes = []
    for step in dict.fromkeys(previously):
        if step in planned:
            why = "cannot be observed" if StepId(step) in UNOBSERVABLE else "the system shows it undone"
            notes.append(f"{step}: redone ({why})")
        else:
            notes.append(f"{step}: skipped (done)")
    return notes
