"""The pure decision rules of canary and blue-green rollouts."""

from __future__ import annotations

import pytest

from infra.automation.rollout.decide import Action, Progress, decide, decide_warm, start
from infra.automation.rollout.model import Control, Outcome, Phase

STEPS = (5, 10, 50, 100)


def test_start_takes_the_first_step_without_analysis() -> None:
    d = start(Progress(STEPS, -1), gate_open=False)
    assert (d.action, d.step_index, d.weight) == (Action.ADVANCE, 0, 5)


def test_single_step_waits_at_the_gate_then_switches() -> None:
    assert start(Progress((100,), -1), gate_open=False).phase is Phase.AWAITING_PROMOTION
    d = start(Progress((100,), -1), gate_open=True)
    assert (d.action, d.weight) == (Action.PROMOTE, 100)
    with pytest.raises(ValueError):
        start(Progress((100,), 0), gate_open=True)


def test_pass_advances_one_step_and_resets_counts() -> None:
    d = decide(Progress(STEPS, 0, failed=2, inconclusive=1), Outcome.PASS, Control(), 3, gate_open=False)
    assert (d.action, d.step_index, d.weight, d.failed, d.inconclusive) == (Action.ADVANCE, 1, 10, 0, 0)


def test_failures_hold_then_roll_back_at_the_threshold() -> None:
    p = Progress(STEPS, 1)
    first = decide(p, Outcome.FAIL, Control(), 3, True, "success-rate: no data")
    assert (first.action, first.weight, first.failed) == (Action.HOLD, 10, 1)
    second = decide(Progress(STEPS, 1, failed=1), Outcome.FAIL, Control(), 3, True)
    assert second.action is Action.HOLD and second.failed == 2
    third = decide(Progress(STEPS, 1, failed=2), Outcome.FAIL, Control(), 3, True, "x")
    assert (third.action, third.weight, third.phase) == (Action.ROLLBACK, 0, Phase.ROLLED_BACK)
    assert "3 consecutive failed" in third.reason


def test_inconclusive_holds_and_counts_separately() -> None:
    d = decide(Progress(STEPS, 1, failed=1), Outcome.INCONCLUSIVE, Control(), 2, True)
    assert (d.action, d.failed, d.inconclusive) == (Action.HOLD, 1, 1)
    d = decide(Progress(STEPS, 1, inconclusive=1), Outcome.INCONCLUSIVE, Control(), 2, True)
    assert d.action is Action.ROLLBACK


def test_closed_gate_waits_before_the_last_step_and_open_gate_promotes() -> None:
    p = Progress(STEPS, 2)
    wait = decide(p, Outcome.PASS, Control(), 3, gate_open=False)
    assert (wait.action, wait.weight, wait.phase) == (Action.HOLD, 50, Phase.AWAITING_PROMOTION)
    go = decide(p, Outcome.PASS, Control(), 3, gate_open=True)
    assert (go.action, go.step_index, go.weight) == (Action.PROMOTE, 3, 100)


def test_operator_controls() -> None:
    p = Progress(STEPS, 1)
    assert decide(p, Outcome.PASS, Control(abort=True), 3, True).phase is Phase.ABORTED
    assert decide(p, Outcome.PASS, Control(abort=True), 3, True).weight == 0
    paused = decide(p, Outcome.PASS, Control(paused=True), 3, True)
    assert (paused.action, paused.weight, paused.phase) == (Action.HOLD, 10, Phase.PAUSED)
    # A pause never shields a failing canary from rollback.
    assert (
        decide(Progress(STEPS, 1, failed=2), Outcome.FAIL, Control(paused=True), 3, True).action
        is Action.ROLLBACK
    )
    full = decide(p, Outcome.PASS, Control(promote_full=True), 3, False)
    assert (full.action, full.weight) == (Action.PROMOTE, 100)


def test_blue_green_warm_window() -> None:
    hold = decide_warm(Outcome.PASS, 0, Control(), 2, elapsed_seconds=1, window_seconds=10)
    assert (hold.action, hold.phase, hold.weight) == (Action.HOLD, Phase.WARM, 100)
    done = decide_warm(Outcome.PASS, 0, Control(), 2, elapsed_seconds=10, window_seconds=10)
    assert done.action is Action.COMPLETE
    once = decide_warm(Outcome.FAIL, 0, Control(), 2, 1, 10)
    assert (once.action, once.failed) == (Action.HOLD, 1)
    back = decide_warm(Outcome.FAIL, 1, Control(), 2, 1, 10)
    assert (back.action, back.weight, back.phase) == (Action.ROLLBACK, 0, Phase.ROLLED_BACK)
    assert decide_warm(Outcome.PASS, 0, Control(abort=True), 2, 1, 10).phase is Phase.ABORTED
