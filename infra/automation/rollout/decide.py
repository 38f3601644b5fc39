"""Pure decisions: from the current progress, this tick's analysis verdict and operator requests, what next.

No I/O and no clock: the controller passes everything in, so every rule is unit-testable.

Canary rules, in order (Flagger's, with Argo's operator controls):
1. abort → roll back.
2. a failed analysis (no data included) adds a failure; `threshold` consecutive failures → roll back,
   fewer → hold. An inconclusive (marginal judge) tick adds an inconclusive count the same way.
3. a pass resets both counts; then: paused → hold; promote-full → promote; the next step is 100 and the
   confirm-promotion gate is closed → wait at the gate; the next step is 100 → promote; else advance.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from infra.automation.rollout.model import Control, Outcome, Phase


class Action(StrEnum):
    ADVANCE = "advance"
    HOLD = "hold"
    PROMOTE = "promote"
    ROLLBACK = "rollback"
    COMPLETE = "complete"


@dataclass(frozen=True)
class Progress:
    """What decide needs from the persisted state."""

    steps: tuple[int, ...]
    step_index: int  # -1: not started
    failed: int = 0
    inconclusive: int = 0

    @property
    def weight(self) -> int:
        return 0 if self.step_index < 0 else self.steps[self.step_index]


@dataclass(frozen=True)
class Decision:
    action: Action
    step_index: int
    weight: int
    phase: Phase
    failed: int
    inconclusive: int
    reason: str


def start(progress: Progress, gate_open: bool) -> Decision:
    """The first step, taken without analysis (there is no canary traffic to analyze yet)."""
    if progress.step_index >= 0:
        raise ValueError("the rollout has started already")
    first = progress.steps[0]
    if first == 100:  # a single-step rollout is a switch; it still passes the promotion gate
        if not gate_open:
            return Decision(Action.HOLD, -1, 0, Phase.AWAITING_PROMOTION, 0, 0, "waiting for promotion gate")
        return Decision(Action.PROMOTE, 0, 100, Phase.PROGRESSING, 0, 0, "switch to 100%")
    return Decision(Action.ADVANCE, 0, first, Phase.PROGRESSING, 0, 0, f"first step {first}%")


def decide(
    progress: Progress,
    verdict: Outcome,
    control: Control,
    threshold: int,
    gate_open: bool,
    reason: str = "",
) -> Decision:
    """One analysis tick of a canary (see the module docstring for the rules)."""
    index, weight = progress.step_index, progress.weight
    if control.abort:
        return Decision(
            Action.ROLLBACK,
            index,
            0,
            Phase.ABORTED,
            progress.failed,
            progress.inconclusive,
            "aborted by operator",
        )
    if verdict is Outcome.FAIL:
        failed = progress.failed + 1
        if failed >= threshold:
            why = f"{failed} consecutive failed analyses (threshold {threshold}): {reason}"
            return Decision(Action.ROLLBACK, index, 0, Phase.ROLLED_BACK, failed, progress.inconclusive, why)
        why = f"analysis failed ({failed}/{threshold}): {reason}"
        return Decision(Action.HOLD, index, weight, Phase.PROGRESSING, failed, progress.inconclusive, why)
    if verdict is Outcome.INCONCLUSIVE:
        inconclusive = progress.inconclusive + 1
        if inconclusive >= threshold:
            why = f"{inconclusive} consecutive inconclusive analyses (threshold {threshold}): {reason}"
            return Decision(Action.ROLLBACK, index, 0, Phase.ROLLED_BACK, progress.failed, inconclusive, why)
        why = f"analysis inconclusive ({inconclusive}/{threshold}): {reason}"
        return Decision(Action.HOLD, index, weight, Phase.PROGRESSING, progress.failed, inconclusive, why)
    if control.paused:
        return Decision(Action.HOLD, index, weight, Phase.PAUSED, 0, 0, "paused by operator")
    last = len(progress.steps) - 1
    if control.promote_full:
        return Decision(Action.PROMOTE, last, 100, Phase.PROGRESSING, 0, 0, "full promotion requested")
    if index >= last:  # already at 100: nothing left but to finish
        return Decision(Action.COMPLETE, index, weight, Phase.SUCCEEDED, 0, 0, "promoted")
    next_weight = progress.steps[index + 1]
    if next_weight == 100:
        if not gate_open:
            return Decision(
                Action.HOLD, index, weight, Phase.AWAITING_PROMOTION, 0, 0, "waiting for promotion gate"
            )
        return Decision(Action.PROMOTE, index + 1, 100, Phase.PROGRESSING, 0, 0, "analysis passed: promote")
    return Decision(
        Action.ADVANCE, index + 1, next_weight, Phase.PROGRESSING, 0, 0, f"analysis passed: {next_weight}%"
    )


def decide_warm(
    verdict: Outcome,
    failed: int,
    control: Control,
    threshold: int,
    elapsed_seconds: float,
    window_seconds: float,
    reason: str = "",
) -> Decision:
    """Blue-green after the switch: the old color stays warm; failures within the window switch back,
    a quiet window retires it. Weight here is the new color's (100 = switched)."""
    if control.abort:
        return Decision(Action.ROLLBACK, 0, 0, Phase.ABORTED, failed, 0, "aborted by operator")
    if verdict is not Outcome.PASS:
        failed += 1
        if failed >= threshold:
            why = f"{failed} consecutive failed analyses after the switch (threshold {threshold}): {reason}"
            return Decision(Action.ROLLBACK, 0, 0, Phase.ROLLED_BACK, failed, 0, why)
        return Decision(
            Action.HOLD, 0, 100, Phase.WARM, failed, 0, f"analysis failed ({failed}/{threshold}): {reason}"
        )
    if elapsed_seconds >= window_seconds or control.promote_full:
        return Decision(
            Action.COMPLETE, 0, 100, Phase.SUCCEEDED, 0, 0, "rollback window passed: retire old color"
        )
    left = window_seconds - elapsed_seconds
    return Decision(Action.HOLD, 0, 100, Phase.WARM, 0, 0, f"keeping the old color warm ({left:.0f}s left)")
