"""The console's actions on rollouts (pause, resume, promote, abort), for operators who stepped up with
MFA in this console. Sessions live in this process only; each action is audited (via `console`) under the
operator the gateway's step-up token names, and goes through the same code as `streamgate rollout`."""

from __future__ import annotations

import asyncio
import secrets
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from infra.automation.audit.record import audited
from infra.automation.errors import InvalidInputError
from infra.automation.rollout import operate

if TYPE_CHECKING:
    from infra.automation.adapters.step_up import GatewayStepUp, Operator
    from infra.automation.targets import Target

ACTIONS = ("pause", "resume", "promote", "abort")


@dataclass(frozen=True)
class Session:
    id: str
    csrf: str  # sent back in a header with every action: a page of another origin cannot read it
    operator: Operator

    @property
    def valid(self) -> bool:
        return time.time() < self.operator.expires_at


class Actions:
    def __init__(self, target: Target, step_up: GatewayStepUp) -> None:
        self.target, self.step_up = target, step_up
        self.sessions: dict[str, Session] = {}

    async def open(self, admin_token: str, code: str) -> Session:
        """Step up through the gateway (StepUpRefused when it says no); a session until the token expires."""
        operator = await self.step_up.verify(admin_token, code)
        session = Session(secrets.token_urlsafe(32), secrets.token_urlsafe(32), operator)
        self.sessions = {k: s for k, s in self.sessions.items() if s.valid}
        self.sessions[session.id] = session
        return session

    def session(self, session_id: str | None, csrf: str | None) -> Session | None:
        session = self.sessions.get(session_id or "")
        if session is None or not session.valid:
            return None
        return session if csrf and secrets.compare_digest(csrf, session.csrf) else None

    async def act(self, session: Session, region: str, action: str, reason: str) -> dict[str, Any]:
        if action not in ACTIONS:
            raise InvalidInputError(f"{action!r} is not an action ({', '.join(ACTIONS)})")
        if region not in [r.name for r in self.target.cfg.regions]:
            raise InvalidInputError(f"{region!r} is not a region of {self.target.cfg.stack}")
        return await asyncio.to_thread(self._act, session, region, action, reason)

    def _act(self, session: Session, region: str, action: str, reason: str) -> dict[str, Any]:
        store = self.target.state_store()
        actor = session.operator.subject
        with audited(
            store,
            self.target.cfg.stack,
            actor,
            reason,
            command=f"rollout {action}",
            args={"region": region},
            via="console",
        ) as entry:
            if action == "abort":
                message, state, _ = operate.abort(self.target, region, actor, reason, [])
            else:
                state, _ = operate.request(store, region, action, actor, reason)
                message = f"{action} requested for the {state.kind} rollout of {state.version} in {region}"
            if state is not None:
                entry.extra["rollout_id"] = state.id
        return {"message": message, "actor": actor, "audit_id": entry.id}
