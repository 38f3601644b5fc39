"""Delivery of one-time codes (email, SMS) behind a Protocol, and a local outbox for development and tests.
Production senders (SES, SNS, a provider's API) implement `OneTimeCodeSender` in their own module."""

from __future__ import annotations

import json
import threading
from collections import deque
from dataclasses import asdict, dataclass
from enum import StrEnum
from pathlib import Path
from typing import Protocol, runtime_checkable


class Channel(StrEnum):
    EMAIL = "email"
    SMS = "sms"


@dataclass(frozen=True, slots=True)
class OneTimeCodeMessage:
    channel: Channel
    destination: str
    code: str
    purpose: str
    expires_at: float  # Unix time

    def text(self) -> str:
        return f"Your StreamGate {self.purpose} code is {self.code}. It expires in a few minutes."


@runtime_checkable
class OneTimeCodeSender(Protocol):
    async def send(self, message: OneTimeCodeMessage) -> None:
        """Deliver the message or raise; must not log the code."""
        ...


class LocalOutbox:
    """Keeps the last `max_messages` messages in memory and, when `path` is set, appends them to a JSON-lines
    file a developer can tail. It stores codes in clear on purpose: never configure it in production."""

    def __init__(self, *, max_messages: int = 1000, path: Path | None = None) -> None:
        self._messages: deque[OneTimeCodeMessage] = deque(maxlen=max_messages)
        self._path = path
        self._lock = threading.Lock()

    async def send(self, message: OneTimeCodeMessage) -> None:
        with self._lock:
            self._messages.append(message)
            if self._path is not None:
                with self._path.open("a", encoding="utf-8") as out:
                    out.write(json.dumps(asdict(message)) + "\n")

    def messages(self, destination: str | None = None) -> list[OneTimeCodeMessage]:
        with self._lock:
            return [m for m in self._messages if destination is None or m.destination == destination]

    def latest(self, destination: str) -> OneTimeCodeMessage | None:
        found = self.messages(destination)
        return found[-1] if found else None
