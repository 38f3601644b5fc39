"""A region's rollout as `rollout status`, its watch view and the console show it: the persisted state,
the operator's requests, who runs it and the weights the router serves now."""

from __future__ import annotations

import asyncio
from typing import Any

from infra.automation.adapters import Router
from infra.automation.adapters.state import StateStore
from infra.automation.rollout.controller import control_key, index_key, state_key
from infra.automation.rollout.model import Control, RolloutState

RECENT = 8  # history records a status carries


def read_status(store: StateStore, router: Router, region: str) -> dict[str, Any]:
    doc = store.load(state_key(region))
    state = RolloutState.from_dict(doc) if doc else None
    control = Control.from_dict(store.load(control_key(region)))
    holder = store.holder(state_key(region))
    live: dict[str, int] | str
    try:
        live = asyncio.run(router.get_weights())
    except Exception as exc:  # status must answer even when the router does not
        live = f"unavailable: {exc}"
    rollout = None
    if state is not None:
        rollout = {k: v for k, v in state.to_dict().items() if k != "history"}
        rollout["weights"] = state.weights
        rollout["active"] = state.active
        rollout["recent"] = [r.__dict__ for r in state.history[-RECENT:]]
        analyses = [r for r in state.history if r.checks]
        rollout["last_analysis"] = analyses[-1].__dict__ if analyses else None
    return {
        "region": region,
        "rollout": rollout,
        "last_event": state.history[-1].__dict__ if state and state.history else None,
        "control": control.to_dict(),
        "controller": holder.describe() if holder else None,
        "live_weights": live,
        "past": len((store.load(index_key(region)) or {"rollouts": []})["rollouts"]),
    }


def finished(status: dict[str, Any]) -> bool:
    """Nothing more will happen to it: no rollout, or one in a terminal phase."""
    return status["rollout"] is None or not status["rollout"]["active"]
