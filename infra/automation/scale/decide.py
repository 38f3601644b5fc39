"""What a region's capacity floor should be now (pure): the plan's floor while the forecast has proved
itself over the last 24 h, the configured minimum otherwise (reactive scaling alone), never a scale-in
forced on a forecast: a floor someone else raised (failover, `pulumi up`) is left alone, and where no
reactive autoscaler runs (the local platform) the floor never drops below what the load needs now."""

from __future__ import annotations

from infra.automation.scale.model import Action, Decision, KnobState


def predictive_ok(recent_mape: float | None, bound: float) -> tuple[bool, str]:
    if recent_mape is None:
        return False, "no forecast error could be measured over the last 24 h (no data or no demand)"
    if recent_mape > bound:
        return False, (
            f"last 24 h forecast error {recent_mape:.1%} exceeds scale.maxRecentMape {bound:.1%}: "
            "back to reactive scaling"
        )
    return True, f"last 24 h forecast error {recent_mape:.1%} (bound {bound:.1%})"


def decide(
    region: str,
    planned: int,
    minimum: int,
    maximum: int,
    state: KnobState,
    *,
    recent_mape: float | None,
    max_recent_mape: float,
    reactive: bool,
    needed_now: int | None = None,
) -> Decision:
    """`planned`: the plan's floor now; `needed_now`: pods today's load needs (used where `reactive` is
    False: there, lowering the floor is a scale-in)."""
    predictive, why = predictive_ok(recent_mape, max_recent_mape)
    wanted = planned if predictive else minimum
    if not reactive and needed_now is not None and needed_now > wanted:
        wanted = needed_now
        why += f"; the load now needs {needed_now}"
    wanted = min(max(wanted, minimum), maximum)
    current = state.floor
    if wanted > current:
        return Decision(region, current, wanted, Action.RAISE, predictive, why)
    if wanted < current:
        if not state.owned:
            return Decision(
                region,
                current,
                current,
                Action.HOLD,
                predictive,
                f"{why}; the floor of {current} was not set by predictive scaling ({state.detail}): left as is",
            )
        return Decision(region, current, wanted, Action.LOWER, predictive, why)
    return Decision(region, current, current, Action.HOLD, predictive, why)
