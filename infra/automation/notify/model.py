"""One notification: an event of an operation, said once for every channel."""

from __future__ import annotations

import time
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from infra.config import NotificationEvent

# Events that mean something went wrong: channels mark them (a red attachment, `"severity": "error"`).
BAD = frozenset({"rollout.rolled-back", "failover.failed"})


@dataclass(frozen=True)
class Notification:
    event: NotificationEvent
    stack: str
    title: str  # one line: "canary 0.2.0 in prod/us-east-1 rolled back"
    summary: str = ""  # why, in a sentence
    region: str | None = None
    actor: str | None = None
    data: Mapping[str, Any] = field(default_factory=dict)  # the operation's figures (weights, RTO, ...)
    at: float = field(default_factory=time.time)
    id: str = field(default_factory=lambda: uuid.uuid4().hex)  # receivers may drop a retried duplicate

    @property
    def severity(self) -> str:
        return "error" if self.event in BAD else "info"
