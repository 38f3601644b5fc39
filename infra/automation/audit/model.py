"""One audit entry: a command run against a stack, from its start to its outcome."""

from __future__ import annotations

import getpass
import os
import socket
import time
import uuid
from dataclasses import asdict, dataclass, field
from typing import Any, Literal

Outcome = Literal["running", "ok", "failed", "bad-input", "aborted"]
OUTCOMES: dict[int, Outcome] = {0: "ok", 1: "failed", 2: "bad-input", 3: "aborted"}
ACTOR_ENV = "STREAMGATE_ACTOR"


def actor_of(given: str | None) -> str:
    """`--actor`, else $STREAMGATE_ACTOR (CI and chat-ops set it), else the login name @ the host."""
    if given and given.strip():
        return given.strip()
    if env := os.environ.get(ACTOR_ENV, "").strip():
        return env
    try:
        user = getpass.getuser()
    except (KeyError, OSError):  # no login name (a container without a passwd entry)
        user = f"uid{os.getuid()}"
    return f"{user}@{socket.gethostname()}"


@dataclass
class AuditEntry:
    id: str
    stack: str
    command: str  # "rollout canary", "failover run", ...
    actor: str
    reason: str
    args: dict[str, Any]
    started_at: float
    host: str
    pid: int
    ended_at: float | None = None
    outcome: Outcome = "running"  # stays "running" if the process died before it could record the end
    exit_code: int | None = None
    detail: str = ""
    via: str = "cli"  # or "console"
    extra: dict[str, Any] = field(default_factory=dict)  # what the command learned (rollout id, backup id)

    @classmethod
    def begin(
        cls, stack: str, command: str, actor: str, reason: str | None, args: dict[str, Any], via: str = "cli"
    ) -> AuditEntry:
        now = time.time()
        return cls(
            id=f"{time.strftime('%Y%m%dT%H%M%S', time.gmtime(now))}-{uuid.uuid4().hex[:6]}",
            stack=stack,
            command=command,
            actor=actor,
            reason=reason or "",
            args=args,
            started_at=now,
            host=socket.gethostname(),
            pid=os.getpid(),
            via=via,
        )

    def end(self, exit_code: int, detail: str = "") -> None:
        self.ended_at = time.time()
        self.exit_code = exit_code
        self.outcome = OUTCOMES.get(exit_code, "failed")
        self.detail = detail[:500]

    @property
    def seconds(self) -> float | None:
        return None if self.ended_at is None else self.ended_at - self.started_at

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, doc: dict[str, Any]) -> AuditEntry:
        return cls(**{k: v for k, v in doc.items() if k in cls.__dataclass_fields__})
