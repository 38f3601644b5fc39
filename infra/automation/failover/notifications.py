"""A failover's notifications: when it begins (confirmed, before the first step), and how it ended."""

from __future__ import annotations

from infra.automation.failover.model import FailoverPlan, FailoverRecord
from infra.automation.failover.runner import Progress
from infra.automation.notify.dispatch import Dispatcher
from infra.automation.notify.model import Notification
from infra.config import NotificationEvent


class Notifying(Progress):
    def __init__(self, dispatcher: Dispatcher, actor: str) -> None:
        self.dispatcher, self.actor = dispatcher, actor

    def _send(
        self, record: FailoverRecord, event: NotificationEvent, title: str, summary: str, **data: object
    ) -> None:
        self.dispatcher.notify(
            Notification(
                event=event,
                stack=record.stack,
                region=record.target,
                title=title,
                summary=summary,
                actor=self.actor,
                data={
                    "failover_id": record.id,
                    "mode": record.mode,
                    "source": record.source,
                    "target": record.target,
                    "attempt": record.attempts,
                    **data,
                },
            )
        )

    def began(self, plan: FailoverPlan, record: FailoverRecord) -> None:
        steps = ", ".join(a.id.value for a in plan.actions)
        self._send(
            record,
            "failover.began",
            f"{plan.mode} failover of {record.stack}: {plan.source or '?'} → {plan.target}",
            f"steps: {steps}; expected data loss: {plan.expected_loss}",
            weights_after=plan.weights_after,
        )

    def ended(self, record: FailoverRecord) -> None:
        where = f"{record.mode} failover of {record.stack} to {record.target}"
        if record.outcome == "succeeded":
            rto = record.measured.get("rto_seconds")
            self._send(
                record,
                "failover.ended",
                f"{where} succeeded",
                f"RTO {rto} s, RPO {record.measured.get('rpo_bytes')} bytes",
                measured=record.measured,
            )
        else:
            failed = next((s.id for s in reversed(record.steps) if s.status == "failed"), None)
            self._send(
                record,
                "failover.failed",
                f"{where} FAILED" + (f" at {failed}" if failed else ""),
                record.error or "",
                steps_done=[s.id for s in record.steps if s.status == "done"],
            )
