"""The rollout loop (Argo Rollouts' shape): read the real weights → measure → decide (pure) → write weights →
persist. One run holds the target's lock; state is persisted before every weight change (the intent) and
after it (the outcome), so a run killed at any point resumes where it was and heals the router to match.
"""

from __future__ import annotations

import asyncio
import os
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from infra.automation.adapters import Deployer, MetricsProvider, Router
from infra.automation.adapters.pushgateway import Pushgateway
from infra.automation.adapters.state import Lock, StateStore
from infra.automation.errors import (
    AutomationError,
    DeployError,
    InvalidInputError,
    RouterError,
)
from infra.automation.rollout import pushmetrics
from infra.automation.rollout.analysis import (
    TARGETS_CHECK,
    CheckSpec,
    Freshness,
    Target,
    analyze,
    render,
    validate,
)
from infra.automation.rollout.decide import Action, Decision, Progress, decide, decide_warm, start
from infra.automation.rollout.errors import WeightMismatchError
from infra.automation.rollout.gates import GateResult, run_hooks
from infra.automation.rollout.judge import JudgeSettings, warm_up
from infra.automation.rollout.model import (
    Analysis,
    CheckResult,
    Control,
    Kind,
    Outcome,
    Phase,
    Record,
    RolloutState,
)
from infra.config import WebhookConfig, WebhookType

Listener = Callable[[RolloutState, Record], None]
SET_ATTEMPTS = 3


def state_key(region: str) -> str:
    return f"rollouts/{region}"


def control_key(region: str) -> str:
    return f"rollouts/{region}.control"


@dataclass(frozen=True)
class RolloutSpec:
    """One rollout run's inputs (from the stack config and the command line)."""

    kind: Kind
    stack: str
    region: str
    version: str
    steps: tuple[int, ...]
    interval_seconds: float
    failure_threshold: int
    window_seconds: int
    checks: tuple[CheckSpec, ...]
    judge: JudgeSettings | None = None
    webhooks: tuple[WebhookConfig, ...] = ()
    confirm_promotion: bool = False
    rollback_window_seconds: float = 0.0
    pushgateway: Pushgateway | None = None
    health_timeout_seconds: float = 60.0
    scrape_interval_seconds: float = 15.0  # of the gateways: analysis needs samples newer than 2 of these


@dataclass
class Adapters:
    router: Router
    metrics: MetricsProvider
    deployer: Deployer
    store: StateStore


@dataclass
class Controller:
    spec: RolloutSpec
    adapters: Adapters
    listeners: list[Listener] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.key = state_key(self.spec.region)
        self.control_key = control_key(self.spec.region)
        self._lock: Lock | None = None

    # -- entry points ---------------------------------------------------------------------------
    async def run(self) -> RolloutState:
        """Run (or resume) the rollout to a terminal phase; the caller maps the phase to an exit code."""
        store = self.adapters.store
        owner = f"rollout {self.spec.kind} {self.spec.version}"
        self._lock = await asyncio.to_thread(store.lock, self.key, owner)
        try:
            if self.spec.judge is not None:
                await asyncio.to_thread(warm_up)
            state = await self._begin()
            if state.active:
                if state.kind == "canary":
                    await self._canary(state)
                else:
                    await self._bluegreen(state)
            return state
        finally:
            await asyncio.to_thread(self._lock.release)
            self._lock = None

    async def plan(self) -> dict[str, Any]:
        """What a run would do, read-only (for --dry-run): current weights, sides, rendered checks."""
        weights = await self.adapters.router.get_weights()
        existing = await self._load()
        stable, canary = (
            _sides(weights, self.adapters.router.name)
            if existing is None or not existing.active
            else (existing.stable_color, existing.canary_color)
        )
        stable_version = await self.adapters.deployer.running_version(stable) or "unknown"
        target = self._target_of(stable_version, stable, canary)
        return {
            "kind": self.spec.kind,
            "stack": self.spec.stack,
            "region": self.spec.region,
            "router": self.adapters.router.name,
            "weights": weights,
            "stable": {"color": stable, "version": stable_version},
            "candidate": {"color": canary, "version": self.spec.version},
            "resumes": existing.to_dict() if existing is not None and existing.active else None,
            "steps": list(self.spec.steps),
            "interval_seconds": self.spec.interval_seconds,
            "failure_threshold": self.spec.failure_threshold,
            "checks": {c.name: render(c.query, target.variables()) for c in self.spec.checks},
            "judge": [c.name for c in self.spec.checks if c.judge] if self.spec.judge else [],
            "webhooks": [f"{h.type}:{h.name}" for h in self.spec.webhooks],
            "confirm_promotion": self.spec.confirm_promotion,
        }

    async def abort_now(self) -> RolloutState | None:
        """`rollout abort` when no controller runs: take the lock and roll back here."""
        self._lock = await asyncio.to_thread(self.adapters.store.lock, self.key, "rollout abort")
        try:
            state = await self._load()
            if state is None or not state.active:
                return state
            await self._rollback(state, Phase.ABORTED, "aborted by operator (no controller was running)")
            return state
        finally:
            await asyncio.to_thread(self._lock.release)
            self._lock = None

    # -- state ----------------------------------------------------------------------------------
    async def _load(self) -> RolloutState | None:
        doc = await asyncio.to_thread(self.adapters.store.load, self.key)
        return RolloutState.from_dict(doc) if doc else None

    async def _control(self) -> Control:
        return Control.from_dict(await asyncio.to_thread(self.adapters.store.load, self.control_key))

    async def _persist(self, state: RolloutState) -> None:
        state.updated_at = time.time()
        await asyncio.to_thread(self.adapters.store.save, self.key, state.to_dict())

    async def _note(
        self, state: RolloutState, event: str, reason: str = "", analysis: Analysis | None = None
    ) -> None:
        """Record an event, persist, push metrics, tell listeners: after every step."""
        record = state.record(event, reason, analysis)
        await self._persist(state)
        await pushmetrics.push(self.spec.pushgateway, state)
        for listener in self.listeners:
            listener(state, record)

    async def _begin(self) -> RolloutState:
        existing = await self._load()
        if existing is not None and existing.active:
            if existing.version != self.spec.version or existing.kind != self.spec.kind:
                raise InvalidInputError(
                    f"a {existing.kind} rollout of {existing.version} is in progress in {existing.region} "
                    f"(phase {existing.phase.value}, {existing.weight}%): re-run it with --version "
                    f"{existing.version}, or `streamgate rollout abort --stack {existing.stack}` first"
                )
            await self._note(
                existing,
                "resume",
                f"resumed by pid {os.getpid()} at step {existing.step_index} ({existing.weight}%), "
                f"phase {existing.phase.value}",
            )
            return existing
        weights = await self.adapters.router.get_weights()
        stable, canary = _sides(weights, self.adapters.router.name)
        stable_version = await self.adapters.deployer.running_version(stable) or "unknown"
        state = RolloutState(
            id=uuid.uuid4().hex[:12],
            kind=self.spec.kind,
            stack=self.spec.stack,
            region=self.spec.region,
            version=self.spec.version,
            stable_version=stable_version,
            stable_color=stable,
            canary_color=canary,
            steps=list(self.spec.steps),
            interval_seconds=self.spec.interval_seconds,
            failure_threshold=self.spec.failure_threshold,
        )
        validate(self.spec.checks, self._target(state))
        if stable_version == self.spec.version:
            state.phase = Phase.SUCCEEDED
            state.reason = f"{self.spec.version} is already live on {stable}: nothing to do"
            return state  # not persisted: the previous rollout's record stays
        await asyncio.to_thread(self.adapters.store.delete, self.control_key)  # stale operator requests
        await self._note(
            state, "start", f"{stable} runs {stable_version} at 100%; {canary} will run {self.spec.version}"
        )
        return state

    def _target(self, state: RolloutState) -> Target:
        return Target(
            stack=state.stack,
            region=state.region,
            version=state.version,
            color=state.canary_color,
            stable_version=state.stable_version,
            stable_color=state.stable_color,
            window_seconds=self.spec.window_seconds,
        )

    def _target_of(self, stable_version: str, stable: str, canary: str) -> Target:
        return Target(
            self.spec.stack,
            self.spec.region,
            self.spec.version,
            canary,
            stable_version,
            stable,
            self.spec.window_seconds,
        )

    def _payload(self, state: RolloutState) -> dict[str, Any]:
        return {
            "rollout_id": state.id,
            "kind": state.kind,
            "stack": state.stack,
            "region": state.region,
            "version": state.version,
            "color": state.canary_color,
            "stable_version": state.stable_version,
            "stable_color": state.stable_color,
            "phase": state.phase.value,
            "weight": state.weight,
        }

    # -- router ---------------------------------------------------------------------------------
    async def _apply_weights(self, state: RolloutState) -> None:
        """Write the state's weights and read them back; retried, since a router may blip."""
        target = state.weights
        problem = ""
        for attempt in range(SET_ATTEMPTS):
            try:
                await self.adapters.router.set_weights(target)
                if await self.adapters.router.verify(target):
                    return
                problem = f"read back {await self.adapters.router.get_weights()}"
            except RouterError as exc:
                problem = str(exc)
            await asyncio.sleep(0.5 * (attempt + 1))
        raise WeightMismatchError(
            f"{self.adapters.router.name}: could not apply {target} ({problem}); state kept, re-run to resume"
        )

    async def _reconcile(self, state: RolloutState) -> None:
        """Flagger's rule: before acting, make the router show what the state says (heals crashes)."""
        actual = await self.adapters.router.get_weights()
        if actual != state.weights:
            await self._apply_weights(state)
            await self._note(
                state, "heal", f"{self.adapters.router.name} showed {actual}; restored {state.weights}"
            )

    # -- gates ----------------------------------------------------------------------------------
    async def _hooks(self, state: RolloutState, kind: WebhookType) -> list[GateResult]:
        results = await run_hooks(self.spec.webhooks, kind, self._payload(state))
        if results:
            summary = "; ".join(f"{r.name}: {'ok' if r.ok else 'FAILED'} ({r.detail})" for r in results)
            await self._note(state, kind, summary)
        return results

    async def _gate_open(self, state: RolloutState, control: Control) -> bool:
        if state.gate_passed:
            return True
        if self.spec.confirm_promotion and not (control.promote or control.promote_full):
            return False
        results = await self._hooks(state, "confirm-promotion")
        if all(r.ok for r in results):
            state.gate_passed = True
        return state.gate_passed

    async def _tick(self, state: RolloutState, deadline: float) -> tuple[Control, float]:
        """Every tick's start: wait for it, keep the lock, heal the router from the persisted state.
        Returns the operator's requests and the next tick's deadline."""
        control = await self._wait(deadline)
        next_deadline = max(deadline + self.spec.interval_seconds, time.monotonic())
        if self._lock is not None:
            await asyncio.to_thread(self._lock.refresh)
        await self._reconcile(state)
        return control, next_deadline

    async def _wait(self, deadline: float) -> Control:
        """Sleep until the next tick, watching for operator requests (an abort acts at once)."""
        poll = min(1.0, self.spec.interval_seconds / 4)
        while True:
            control = await self._control()
            remaining = deadline - time.monotonic()
            if control.abort or remaining <= 0:
                return control
            await asyncio.sleep(min(remaining, poll))

    # -- analysis -------------------------------------------------------------------------------
    async def _analyze(self, state: RolloutState, judge: JudgeSettings | None) -> Analysis:
        target = self._target(state)
        try:
            expected = await self.adapters.deployer.expected_targets(target.color)
        except DeployError as exc:  # without the count no data can be trusted: this tick fails
            failed = CheckResult(TARGETS_CHECK, Outcome.FAIL, None, detail=f"no data: {exc}")
            analysis = Analysis(time.time(), (failed,))
        else:
            freshness = Freshness(self.spec.scrape_interval_seconds, expected)
            analysis = await analyze(
                self.adapters.metrics, self.spec.checks, target, judge, freshness=freshness
            )
        hooks = await run_hooks(self.spec.webhooks, "rollout", self._payload(state))
        extra = tuple(
            CheckResult(
                f"webhook:{r.name}",
                Outcome.PASS if r.ok else Outcome.FAIL,
                1.0 if r.ok else 0.0,
                detail=r.detail,
            )
            for r in hooks
        )
        return Analysis(analysis.at, analysis.checks + extra)

    # -- phases ---------------------------------------------------------------------------------
    async def _prepare(self, state: RolloutState) -> bool:
        """Bring the candidate color up with the version, wait healthy, run pre-rollout gates."""
        deployer, color = self.adapters.deployer, state.canary_color
        state.phase = Phase.DEPLOYING
        await self._persist(state)
        if await deployer.running_version(color) != state.version or not await deployer.healthy(
            color, state.version
        ):
            await deployer.deploy(color, state.version)
        deadline = time.monotonic() + self.spec.health_timeout_seconds
        while not await deployer.healthy(color, state.version):
            if time.monotonic() > deadline:
                await self._finish_without_traffic(
                    state,
                    f"{color} did not become healthy with {state.version} in {self.spec.health_timeout_seconds:.0f}s",
                )
                return False
            await asyncio.sleep(0.25)
        await self._note(state, "deployed", f"{color} runs {state.version} and is healthy")
        results = await self._hooks(state, "pre-rollout")
        if not all(r.ok for r in results):
            failed = ", ".join(r.name for r in results if not r.ok)
            await self._finish_without_traffic(state, f"pre-rollout gate failed: {failed}")
            return False
        state.phase = Phase.PROGRESSING
        await self._persist(state)
        return True

    async def _finish_without_traffic(self, state: RolloutState, reason: str) -> None:
        """Stop before any traffic moved: make sure the router shows the stable color only."""
        state.weight = 0
        await self._reconcile(state)
        state.phase, state.reason = Phase.ABORTED, reason
        await self._note(state, "abort", reason)
        await self._hooks(state, "rollback")

    async def _rollback(
        self, state: RolloutState, final: Phase, reason: str, analysis: Analysis | None = None
    ) -> None:
        state.phase, state.reason, state.weight = Phase.ROLLING_BACK, reason, 0
        await self._persist(state)  # intent first: a crash here resumes the rollback
        await self._apply_weights(state)
        state.phase = final
        await self._note(state, "rollback", reason, analysis)
        await self._hooks(state, "rollback")

    async def _promoted(self, state: RolloutState) -> None:
        await self._hooks(state, "post-rollout")
        state.phase, state.reason = Phase.SUCCEEDED, f"{state.version} serves 100% on {state.canary_color}"
        await self._note(state, "succeeded", state.reason)

    async def _apply(self, state: RolloutState, decision: Decision, analysis: Analysis | None) -> None:
        state.failed_checks, state.inconclusive_checks = decision.failed, decision.inconclusive
        if decision.action is Action.ROLLBACK:
            await self._rollback(state, decision.phase, decision.reason, analysis)
        elif decision.action in (Action.ADVANCE, Action.PROMOTE):
            state.step_index, state.weight = decision.step_index, decision.weight
            state.phase, state.reason = Phase.PROGRESSING, decision.reason
            state.step_started_at = time.time()
            await self._persist(state)  # intent first
            await self._apply_weights(state)
            await self._note(state, decision.action.value, decision.reason, analysis)
            if state.weight == 100:
                await self._promoted(state)
        elif decision.action is Action.COMPLETE:
            await self._promoted(state)
        else:
            state.phase, state.reason = decision.phase, decision.reason
            await self._note(state, "hold", decision.reason, analysis)

    async def _canary(self, state: RolloutState) -> None:
        if state.phase in (Phase.PENDING, Phase.DEPLOYING) and not await self._prepare(state):
            return
        if state.phase is Phase.ROLLING_BACK:
            await self._rollback(state, Phase.ROLLED_BACK, state.reason or "resumed rollback")
            return
        if state.step_index < 0:
            progress = Progress(tuple(state.steps), -1)
            first = start(
                progress,
                gate_open=len(state.steps) > 1 or await self._gate_open(state, await self._control()),
            )
            await self._apply(state, first, None)
        else:
            await self._reconcile(state)
        interval = self.spec.interval_seconds
        next_tick = time.monotonic() + interval
        while state.active:
            control, next_tick = await self._tick(state, next_tick)
            progress = Progress(
                tuple(state.steps), state.step_index, state.failed_checks, state.inconclusive_checks
            )
            if control.abort:
                await self._apply(
                    state, decide(progress, Outcome.FAIL, control, self.spec.failure_threshold, False), None
                )
                break
            if state.step_index < 0:  # a single-step rollout waiting at its gate: nothing to analyze yet
                await self._apply(state, start(progress, await self._gate_open(state, control)), None)
                continue
            analysis = await self._analyze(state, self.spec.judge)
            verdict = analysis.outcome
            gate_open = False
            at_gate = state.step_index + 1 < len(state.steps) and state.steps[state.step_index + 1] == 100
            if verdict is Outcome.PASS and at_gate and not control.paused:
                gate_open = await self._gate_open(state, control)
            reason = "; ".join(analysis.failing())
            decision = decide(progress, verdict, control, self.spec.failure_threshold, gate_open, reason)
            await self._apply(state, decision, analysis)

    async def _bluegreen(self, state: RolloutState) -> None:
        if state.phase in (Phase.PENDING, Phase.DEPLOYING) and not await self._prepare(state):
            return
        if state.phase is Phase.ROLLING_BACK:
            await self._rollback(state, Phase.ROLLED_BACK, state.reason or "resumed rollback")
            return
        interval = self.spec.interval_seconds
        if state.switched_at == 0:
            await self._reconcile(state)
            while not await self._gate_open(state, control := await self._control()):
                if control.abort:
                    await self._rollback(state, Phase.ABORTED, "aborted by operator")
                    return
                if state.phase is not Phase.AWAITING_PROMOTION:
                    state.phase, state.reason = Phase.AWAITING_PROMOTION, "waiting for promotion gate"
                    await self._note(state, "hold", state.reason)
                await self._wait(time.monotonic() + interval)
            state.step_index, state.weight, state.phase = 0, 100, Phase.PROGRESSING
            await self._persist(state)  # intent first
            await self._apply_weights(state)
            state.switched_at, state.phase = time.time(), Phase.WARM
            await self._note(state, "switch", f"100% on {state.canary_color}; {state.stable_color} kept warm")
        else:
            await self._reconcile(state)
        next_tick = time.monotonic() + interval
        while state.active:
            control, next_tick = await self._tick(state, next_tick)
            analysis = None if control.abort else await self._analyze(state, None)  # no baseline traffic
            verdict = analysis.outcome if analysis else Outcome.FAIL
            reason = "; ".join(analysis.failing()) if analysis else ""
            decision = decide_warm(
                verdict,
                state.failed_checks,
                control,
                self.spec.failure_threshold,
                time.time() - state.switched_at,
                self.spec.rollback_window_seconds,
                reason,
            )
            state.failed_checks = decision.failed
            if decision.action is Action.ROLLBACK:
                await self._rollback(state, decision.phase, decision.reason, analysis)
            elif decision.action is Action.COMPLETE:
                await self._hooks(state, "post-rollout")
                await self.adapters.deployer.retire(state.stable_color)
                state.phase, state.reason = (
                    Phase.SUCCEEDED,
                    f"{state.version} live on {state.canary_color}; {state.stable_color} retired",
                )
                await self._note(state, "succeeded", state.reason, analysis)
            else:
                state.phase, state.reason = decision.phase, decision.reason
                await self._note(state, "hold", decision.reason, analysis)


def _sides(weights: dict[str, int], router: str) -> tuple[str, str]:
    """(stable, candidate) from steady-state weights: one backend at 100, the other at 0."""
    full = [name for name, weight in weights.items() if weight == 100]
    if len(weights) != 2 or len(full) != 1:
        raise AutomationError(
            f"{router} splits traffic {weights} but no rollout is in progress: put one color back at 100 "
            "(e.g. `streamgate rollout abort`) before starting another"
        )
    stable = full[0]
    return stable, next(name for name in weights if name != stable)


def outcome_exit_code(state: RolloutState) -> int:
    """0 succeeded, 3 rolled back or aborted, 1 anything else that ended a run."""
    if state.phase is Phase.SUCCEEDED:
        return 0
    if state.phase in (Phase.ROLLED_BACK, Phase.ABORTED):
        return 3
    return 1
