"""How each kind of receiver wants a notification: one adapter per kind, chosen by the stack's
`notifications:` section (a channel's URL is a stack secret)."""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any, Protocol

from infra.automation.notify.model import Notification


class Channel(Protocol):
    @property
    def name(self) -> str: ...

    @property
    def url(self) -> str: ...

    @property
    def events(self) -> frozenset[str] | None:
        """The events this channel hears; None: every event."""

    def payload(self, n: Notification, sequence: int) -> dict[str, Any]:
        """The JSON body to POST; `sequence` counts this run's notifications (1, 2, ...)."""


def _iso(at: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(at))


@dataclass(frozen=True)
class SlackChannel:
    """Slack's incoming webhooks (and Mattermost's, Rocket.Chat's): `text`, with Block Kit for Slack."""

    url: str
    events: frozenset[str] | None = None
    name: str = "slack"

    def payload(self, n: Notification, sequence: int) -> dict[str, Any]:
        mark = ":rotating_light:" if n.severity == "error" else ":large_blue_circle:"
        text = f"{mark} *{n.title}*" + (f"\n{n.summary}" if n.summary else "")
        context = [f"`{n.event}`", f"stack {n.stack}"]
        if n.region:
            context.append(f"region {n.region}")
        if n.actor:
            context.append(f"by {n.actor}")
        context.append(_iso(n.at))
        return {
            "text": text,
            "blocks": [
                {"type": "section", "text": {"type": "mrkdwn", "text": text}},
                {"type": "context", "elements": [{"type": "mrkdwn", "text": " · ".join(context)}]},
            ],
        }


@dataclass(frozen=True)
class WebhookChannel:
    """Any HTTP endpoint: the whole notification as one JSON object."""

    url: str
    events: frozenset[str] | None = None
    name: str = "webhook"

    def payload(self, n: Notification, sequence: int) -> dict[str, Any]:
        return {
            "id": n.id,
            "sequence": sequence,
            "event": n.event,
            "severity": n.severity,
            "stack": n.stack,
            "region": n.region,
            "actor": n.actor,
            "title": n.title,
            "summary": n.summary,
            "at": _iso(n.at),
            "data": dict(n.data),
        }
