"""Delivery in the background: one worker thread per channel keeps that channel's notifications in
order; each is retried with exponential backoff on a transport error, a 5xx, 408 or 429 (another 4xx is the
receiver saying no: not retried). `notify` never blocks; `close` gives the last ones a bounded time once
the operation is over, and names what could not be delivered."""

from __future__ import annotations

import queue
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from infra import http
from infra.automation.notify.channels import Channel
from infra.automation.notify.model import Notification

MAX_BACKOFF_SECONDS = 30.0
RETRIED_STATUSES = frozenset({408, 429})


@dataclass(frozen=True)
class Delivery:
    channel: str
    event: str
    attempts: int
    ok: bool
    detail: str  # "HTTP 200", or what failed last


@dataclass
class Policy:
    attempts: int = 5
    backoff_seconds: float = 1.0
    timeout_seconds: float = 5.0


def retried(answer: http.Answer) -> bool:
    return answer.status == 0 or answer.status >= 500 or answer.status in RETRIED_STATUSES


@dataclass
class _Courier:
    """One channel's queue and worker."""

    channel: Channel
    policy: Policy
    record: Callable[[Delivery], None]
    queue: queue.Queue[tuple[Notification, int] | None] = field(default_factory=queue.Queue)
    thread: threading.Thread | None = None

    def put(self, n: Notification, sequence: int) -> None:
        if self.thread is None:
            self.thread = threading.Thread(target=self._run, name=f"notify-{self.channel.name}", daemon=True)
            self.thread.start()
        self.queue.put((n, sequence))

    def _run(self) -> None:
        while (item := self.queue.get()) is not None:
            self.record(self._deliver(*item))

    def _deliver(self, n: Notification, sequence: int) -> Delivery:
        body = self.channel.payload(n, sequence)
        answer = http.Answer(0, {}, b"", "not sent")
        for attempt in range(1, self.policy.attempts + 1):
            answer = http.send(
                "POST",
                self.channel.url,
                json_body=body,
                headers={"User-Agent": "streamgate-notify"},
                timeout=self.policy.timeout_seconds,
            )
            if answer.ok or not retried(answer) or attempt == self.policy.attempts:
                break
            time.sleep(min(MAX_BACKOFF_SECONDS, self.policy.backoff_seconds * 2 ** (attempt - 1)))
        # Never the URL in what is said: it is a secret.
        detail = answer.describe().replace(self.channel.url, f"<{self.channel.name} URL>")
        return Delivery(self.channel.name, n.event, attempt, answer.ok, detail)


class Dispatcher:
    def __init__(self, channels: list[Channel], policy: Policy) -> None:
        self._lock = threading.Lock()
        self.deliveries: list[Delivery] = []
        self._couriers = [_Courier(c, policy, self._recorded) for c in channels]
        self._sequence = 0

    def _recorded(self, delivery: Delivery) -> None:
        with self._lock:
            self.deliveries.append(delivery)

    def notify(self, n: Notification) -> None:
        """Queue `n` for every channel that hears its event; returns at once."""
        self._sequence += 1
        for courier in self._couriers:
            events = courier.channel.events
            if events is None or n.event in events:
                courier.put(n, self._sequence)

    def close(self, timeout: float) -> list[str]:
        """Wait at most `timeout` seconds for what is queued; what failed or is still pending, one line each."""
        deadline = time.monotonic() + timeout
        for courier in self._couriers:
            courier.queue.put(None)
        for courier in self._couriers:
            if courier.thread is not None:
                courier.thread.join(max(0.0, deadline - time.monotonic()))
        problems = [
            f"{d.event} not delivered to {d.channel} after {d.attempts} attempt(s): {d.detail}"
            for d in self.deliveries
            if not d.ok
        ]
        for courier in self._couriers:
            if courier.thread is not None and courier.thread.is_alive():
                # Still waiting: the queued ones and the closing marker, i.e. the one in flight included.
                left = courier.queue.qsize()
                problems.append(
                    f"{courier.channel.name}: {left} notification(s) not delivered within {timeout:g}s"
                )
        return problems
