"""What the CLI and the console do to a region's rollout: its spec from the stack and the command line,
the operator's requests to the running controller (pause, resume, promote, abort), and an abort when no
controller runs."""

from __future__ import annotations

import asyncio
import re
import time
from typing import TYPE_CHECKING

from infra.automation.adapters.pushgateway import Pushgateway
from infra.automation.adapters.state import StateStore
from infra.automation.errors import AutomationError, InvalidInputError
from infra.automation.rollout import wiring
from infra.automation.rollout.analysis import checks_from
from infra.automation.rollout.controller import Controller, Listener, RolloutSpec, control_key, state_key
from infra.automation.rollout.judge import JudgeSettings
from infra.automation.rollout.model import Control, Kind, RolloutState
from infra.automation.rollout.notifications import notifying
from infra.config import StackConfig, scrape_interval_seconds

if TYPE_CHECKING:
    from infra.automation.targets import Target

TAG = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.-]{0,62}")
# The requests an operator may make, as the control flags they set.
REQUESTS: dict[str, dict[str, bool]] = {
    "pause": {"paused": True},
    "resume": {"paused": False},
    "promote": {"promote": True, "promote_full": False},
    "full promotion": {"promote": True, "promote_full": True},
    "abort": {"abort": True},
}


def build_spec(
    cfg: StackConfig,
    kind: Kind,
    region: str,
    version: str,
    steps: list[int],
    interval: float | None,
    threshold: int | None,
    manual_promotion: bool | None,
    rollback_window: float | None = None,
    pushgateway: Pushgateway | None = None,
) -> RolloutSpec:
    if not TAG.fullmatch(version):
        raise InvalidInputError(f"--version {version!r}: not an image tag (letters, digits, _ . -; ≤ 63)")
    r = cfg.rollout
    return RolloutSpec(
        kind=kind,
        stack=cfg.stack,
        region=region,
        version=version,
        steps=tuple(steps),
        interval_seconds=interval if interval is not None else float(r.interval_seconds),
        failure_threshold=threshold if threshold is not None else r.failure_threshold,
        window_seconds=r.window_seconds,
        checks=tuple(checks_from(r)),
        judge=JudgeSettings.from_config(r.judge),
        webhooks=tuple(r.webhooks),
        confirm_promotion=r.confirm_promotion if manual_promotion is None else manual_promotion,
        rollback_window_seconds=float(
            r.rollback_window_seconds if rollback_window is None else rollback_window
        ),
        pushgateway=pushgateway,
        scrape_interval_seconds=scrape_interval_seconds(cfg),
    )


def active_state(store: StateStore, region: str) -> RolloutState:
    doc = store.load(state_key(region))
    state = RolloutState.from_dict(doc) if doc else None
    if state is None or not state.active:
        raise AutomationError(f"no rollout in progress in {region}")
    return state


def request(
    store: StateStore, region: str, what: str, actor: str, reason: str | None
) -> tuple[RolloutState, Control]:
    """Write an operator's request (a key of REQUESTS) for the region's running controller."""
    if what not in REQUESTS:
        raise InvalidInputError(f"{what!r} is not a request ({', '.join(REQUESTS)})")
    state = active_state(store, region)
    control = Control.from_dict(store.load(control_key(region)))
    for key, value in REQUESTS[what].items():
        setattr(control, key, value)
    control.updated_at, control.requested, control.actor, control.reason = (
        time.time(),
        what,
        actor,
        reason or "",
    )
    store.save(control_key(region), control.to_dict(), conditional=False)
    return state, control


def abort(
    target: Target, region: str, actor: str, reason: str | None, listeners: list[Listener]
) -> tuple[str, RolloutState | None, bool]:
    """Request the abort; when no controller runs, roll back here. (what happened, the state, rolled back
    here)."""
    cfg = target.cfg
    store = target.state_store()
    state, _ = request(store, region, "abort", actor, reason)
    holder = store.holder(state_key(region))
    if holder is not None:
        return f"abort requested; the running controller {holder.describe()} rolls back", state, False
    spec = build_spec(
        cfg,
        state.kind,
        region,
        state.version,
        state.steps,
        None,
        None,
        None,
        pushgateway=target.pushgateway(region, cfg.rollout.pushgateway_url),
    )
    controller = Controller(spec, wiring.adapters(target, region), listeners)
    with notifying(target, listeners, actor):
        final = asyncio.run(controller.abort_now())
    return f"rolled back: {final.reason if final else 'nothing to do'}", final, True
