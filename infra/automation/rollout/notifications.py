"""A rollout's notifications: its start, each step, its rollback and its promotion, from the records the
controller writes (a listener, as the terminal printer is)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING

from infra.automation.notify import wiring
from infra.automation.notify.dispatch import Dispatcher
from infra.automation.notify.model import Notification
from infra.automation.rollout.controller import Listener
from infra.automation.rollout.model import Record, RolloutState
from infra.config import NotificationEvent

if TYPE_CHECKING:
    from infra.automation.targets import Target

EVENTS: dict[str, NotificationEvent] = {
    "start": "rollout.started",
    "advance": "rollout.step",
    "promote": "rollout.step",  # a step to 100% (the last one, or --full)
    "switch": "rollout.step",  # blue-green: all traffic on the new color
    "rollback": "rollout.rolled-back",
    "abort": "rollout.rolled-back",  # stopped before traffic moved
    "succeeded": "rollout.promoted",
}


def title(state: RolloutState, record: Record, event: NotificationEvent) -> str:
    where = f"{state.kind} {state.version} in {state.stack}/{state.region}"
    return {
        "rollout.started": f"{where} started (stable {state.stable_version})",
        "rollout.step": f"{where}: {record.weight}% of traffic",
        "rollout.rolled-back": f"{where} {state.phase.value}",
        "rollout.promoted": f"{where} promoted",
    }.get(event, where)


def listener(dispatcher: Dispatcher, actor: str) -> Listener:
    def notify(state: RolloutState, record: Record) -> None:
        event = EVENTS.get(record.event)
        if event is None:
            return
        dispatcher.notify(
            Notification(
                event=event,
                stack=state.stack,
                region=state.region,
                title=title(state, record, event),
                summary=record.reason,
                actor=actor,
                at=record.at,
                data={
                    "rollout_id": state.id,
                    "kind": state.kind,
                    "version": state.version,
                    "stable_version": state.stable_version,
                    "phase": state.phase.value,
                    "weight": record.weight,
                    "step": record.step_index + 1,
                    "steps": state.steps,
                    "weights": state.weights,
                    "checks": {c["name"]: c.get("value") for c in record.checks},
                },
            )
        )

    return notify


@contextmanager
def notifying(target: Target, listeners: list[Listener], actor: str) -> Iterator[Dispatcher | None]:
    """Adds the stack's notifications to a controller's listeners; once the work is over, gives them
    notifications.drainSeconds to be delivered and names (on stderr) any that were not."""
    dispatcher = wiring.dispatcher(target)
    if dispatcher is not None:
        listeners.append(listener(dispatcher, actor))
    try:
        yield dispatcher
    finally:
        if dispatcher is not None:
            wiring.drain(dispatcher, target.cfg.notifications.drain_seconds)
